"""q20_generative_models: the functions a student writes and the mistakes its checks can name."""
import math

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("reparameterize", "kl_standard_normal", "vae_loss", "discriminator_loss",
               "generator_loss", "gan_step", "linear_beta_schedule", "alphas_cumprod", "q_sample",
               "ddpm_loss", "cfg_noise", "frechet_distance"),
    catalogue={
        # -- VAE --------------------------------------------------------------------------------
        "std-is-exp-logvar": (
            "exp(logvar) was used as the standard deviation, but logvar is the log of the "
            "variance: that is the variance, the square of the standard deviation.",
            "Use std = torch.exp(0.5 * logvar), the square root of exp(logvar)."),
        "eps-ignored": (
            "the given noise eps was not used (mu returned alone, or fresh noise drawn), so the "
            "sample is not mu + std * eps for the eps the caller passed.",
            "Return mu + torch.exp(0.5 * logvar) * eps with the eps argument; draw no noise "
            "yourself."),
        "kl-sign-flipped": (
            "the KL divergence has the wrong sign: it comes out negative, but a KL divergence is "
            "never below zero.",
            "KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar)) over the latent dimensions; mind "
            "the leading minus."),
        "kl-averaged-over-latent": (
            "the KL was averaged over the latent dimensions instead of summed, so it shrinks as "
            "the latent space grows and is too weak against the reconstruction term.",
            "Sum over dim=1 (the latent dimensions): one KL value per example, shape (B,)."),
        "recon-averaged-over-features": (
            "the reconstruction loss was averaged over pixels/features instead of summed, which "
            "makes it hundreds of times weaker than the KL term, so the VAE learns blurry or "
            "constant outputs.",
            "Use binary_cross_entropy_with_logits(..., reduction='none'), sum over every "
            "non-batch dimension, then average over the batch."),
        "missing-kl": (
            "the loss has no KL term, so nothing pulls the posterior towards the prior: it is a "
            "plain autoencoder and sampling from N(0, I) gives garbage.",
            "Add beta * kl_standard_normal(mu, logvar) to each example's reconstruction loss "
            "before averaging over the batch."),
        # -- GAN --------------------------------------------------------------------------------
        "labels-swapped": (
            "the discriminator was trained with real examples labelled 0 and fakes labelled 1, "
            "the opposite of what the generator's loss assumes.",
            "Real logits get target 1 (torch.ones_like), fake logits get target 0 "
            "(torch.zeros_like)."),
        "saturating-generator-loss": (
            "the generator minimises log(1 - D(G(z))), the original minimax loss. When the "
            "discriminator confidently rejects the fakes (early in training) its gradient "
            "vanishes.",
            "Use the non-saturating loss: binary_cross_entropy_with_logits(fake_logits, "
            "torch.ones_like(fake_logits)), i.e. maximise log D(G(z))."),
        "fake-not-detached": (
            "the discriminator's loss was back-propagated into the generator, because the fake "
            "batch was not detached. It wastes a backward pass and leaves the discriminator's "
            "gradient in the generator's .grad.",
            "Feed generator(z).detach() to the discriminator in its step (or compute the fakes "
            "under torch.no_grad())."),
        "d-updated-in-g-step": (
            "the discriminator's parameters changed during the generator's step, so the "
            "discriminator was also trained to help the generator fool it.",
            "In the generator step call only opt_g.step(); the generator loss's gradients on the "
            "discriminator are simply left unused."),
        "missing-zero-grad": (
            "gradients were not zeroed before a backward, so .grad still held earlier gradients "
            "and the step used their sum.",
            "Call opt_d.zero_grad() before the discriminator's backward and opt_g.zero_grad() "
            "before the generator's."),
        # -- diffusion --------------------------------------------------------------------------
        "alpha-not-cumulative": (
            "each step's alpha = 1 - beta was returned, not the running product: x_t is reached "
            "from x_0 through all the steps up to t, so their alphas multiply.",
            "Return torch.cumprod(1 - betas, dim=0)."),
        "missing-sqrt": (
            "the coefficients of x0 and of the noise are missing their square roots: "
            "alphas_cumprod[t] is the variance kept from x0, not the factor on it.",
            "x_t = sqrt(ab[t]) * x0 + sqrt(1 - ab[t]) * noise; the variances then add up to 1."),
        "predicts-x0": (
            "the loss compares the model's output with x0, but a DDPM model predicts the noise "
            "that was added.",
            "Return the mean squared error between model(x_t, t) and noise."),
        "guidance-reversed": (
            "the guidance direction is reversed: eps_uncond - eps_cond pushes the sample away "
            "from the condition.",
            "Use eps_uncond + guidance_scale * (eps_cond - eps_uncond)."),
        # -- FID --------------------------------------------------------------------------------
        "missing-sqrtm": (
            "the cross term uses sigma1 @ sigma2 itself, not its matrix square root, so the units "
            "are wrong (squared covariances) and the distance is not a Frechet distance.",
            "Use scipy.linalg.sqrtm(sigma1 @ sigma2) and keep its real part."),
        "mean-term-not-squared": (
            "the distance between the means was not squared: the Frechet distance adds "
            "||mu1 - mu2||^2, a sum of squares.",
            "Use np.sum((mu1 - mu2) ** 2) (or diff @ diff)."),
    },
    extra={
        "generator-stepped-first": (
            "the generator stepped before the discriminator. A round of GAN training first "
            "updates the discriminator on real and fake data, then trains the generator against "
            "that updated discriminator; stepping the generator first trains it against the "
            "previous round's discriminator.",
            "First the discriminator: zero its gradients, backward its loss on real and "
            "generator(z).detach(), opt_d.step(); then the generator's zero_grad, backward, "
            "opt_g.step()."),
        "loss-summed-over-batch": (
            "the loss was summed over the batch instead of averaged, so its size (and the "
            "learning rate that suits it) depends on the batch size.",
            "Average the per-example losses over the batch: .mean() after summing over the "
            "features."),
        "beta-ignored": (
            "beta did not change the loss: the KL term must be weighted by it.",
            "Multiply the KL by beta: recon + beta * kl."),
        "d-loss-averaged": (
            "the two halves of the discriminator loss were averaged; the exercise asks for their "
            "sum.",
            "Return bce(real, 1) + bce(fake, 0), without the factor 1/2."),
        "generator-labels-swapped": (
            "the generator was trained towards the label 0 (fake), i.e. to be rejected by the "
            "discriminator.",
            "The generator wants its fakes classified as real: target torch.ones_like(fake_logits)."),
        "beta-schedule-rescaled": (
            "the betas were rescaled by 1000 / T (a trick of some code bases); the exercise asks "
            "for the plain linspace of DDPM.",
            "Return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)."),
        "cumprod-of-betas": (
            "the cumulative product was taken of the betas instead of the alphas = 1 - betas.",
            "Return torch.cumprod(1 - betas, dim=0)."),
        "guidance-scale-off-by-one": (
            "the guidance uses (1 + w) * eps_cond - w * eps_uncond with w = guidance_scale, the "
            "Imagen convention, which is a scale of w + 1 in this exercise's convention.",
            "Use eps_uncond + guidance_scale * (eps_cond - eps_uncond); scale 1 must give eps_cond."),
        "elementwise-sqrt": (
            "the square root was taken entry by entry (np.sqrt) instead of as a matrix (a matrix "
            "S with S @ S = sigma1 @ sigma2).",
            "Use scipy.linalg.sqrtm(sigma1 @ sigma2).real."),
    },
)


@LABELS.detector("reparameterize", "eps-ignored")
def fresh_noise_drawn(got, mu, logvar, eps) -> bool:
    """mu + std * z with a z that looks like fresh standard normal noise but is not eps."""
    import torch

    try:
        got = torch.as_tensor(got, dtype=torch.float64)
        mu = torch.as_tensor(mu, dtype=torch.float64)
        std = torch.exp(0.5 * torch.as_tensor(logvar, dtype=torch.float64))
        eps = torch.as_tensor(eps, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    if got.shape != mu.shape or mu.numel() < 64 or not bool(torch.isfinite(got).all()):
        return False
    z = (got - mu) / std
    n = z.numel()
    if torch.allclose(z, eps, rtol=1e-4, atol=1e-5) or not 0.7 < float(z.std()) < 1.3:
        return False
    # fresh noise is unrelated to eps; a wrong scale applied to eps is not
    zc, ec = (z - z.mean()).flatten(), (eps - eps.mean()).flatten()
    corr = float(zc @ ec / (zc.norm() * ec.norm() + 1e-12))
    return abs(float(z.mean())) < 4 / math.sqrt(n) + 0.05 and abs(corr) < 0.5
