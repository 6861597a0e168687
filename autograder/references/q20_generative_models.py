"""q20_generative_models: reference answers and the classic mistakes as code. Never leaves the instructor.

`gan_step` and `ddpm_loss` take models: their checks run a harness of
autograder/harnesses/q20_generative_models.py on the student's namespace and on the references'
(a variant function is run through the same harness in place of the reference). Everything else
is compared value for value; `frechet_distance` is numpy and agrees with scipy.linalg.sqrtm.
"""
import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from autograder.labels.q20_generative_models import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
STANDINS = ("reparameterize", "kl_standard_normal", "discriminator_loss", "generator_loss",
            "linear_beta_schedule", "alphas_cumprod", "q_sample", "cfg_noise")


def _t(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


# ---- VAE ------------------------------------------------------------------------------------------

def reparameterize(mu, logvar, eps):
    """z = mu + exp(0.5 * logvar) * eps, all (B, Z): a sample that gradients can flow through."""
    mu, logvar, eps = _t(mu), _t(logvar), _t(eps)
    return mu + torch.exp(0.5 * logvar) * eps


@PITFALLS.variant("reparameterize", "std-is-exp-logvar")
def reparameterize_variance_as_std(mu, logvar, eps):
    return _t(mu) + torch.exp(_t(logvar)) * _t(eps)


@PITFALLS.variant("reparameterize", "eps-ignored")
def reparameterize_mean_only(mu, logvar, eps):
    return _t(mu).clone()


@PITFALLS.variant("reparameterize", "eps-ignored")
def reparameterize_mean_plus_std(mu, logvar, eps):
    return _t(mu) + torch.exp(0.5 * _t(logvar))


def _kl_terms(mu, logvar):
    mu, logvar = _t(mu), _t(logvar)
    return 1 + logvar - mu ** 2 - torch.exp(logvar)


def kl_standard_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over the latent dimensions: (B,)."""
    return -0.5 * _kl_terms(mu, logvar).sum(dim=1)


@PITFALLS.variant("kl_standard_normal", "kl-sign-flipped")
def kl_sign_flipped(mu, logvar):
    return 0.5 * _kl_terms(mu, logvar).sum(dim=1)


@PITFALLS.variant("kl_standard_normal", "kl-averaged-over-latent")
def kl_mean_over_latent(mu, logvar):
    return -0.5 * _kl_terms(mu, logvar).mean(dim=1)


def _recon(recon_logits, x):
    """Binary cross-entropy with logits per example, summed over every non-batch dimension."""
    recon_logits, x = _t(recon_logits), _t(x)
    bce = F.binary_cross_entropy_with_logits(recon_logits, x.to(recon_logits.dtype), reduction="none")
    return bce.reshape(bce.shape[0], -1).sum(dim=1)


def vae_loss(recon_logits, x, mu, logvar, beta=1.0):
    """Batch mean of (BCE with logits summed over features + beta * KL): a scalar tensor."""
    return (_recon(recon_logits, x) + beta * kl_standard_normal(mu, logvar)).mean()


@PITFALLS.variant("vae_loss", "recon-averaged-over-features")
def vae_loss_recon_mean(recon_logits, x, mu, logvar, beta=1.0):
    recon_logits = _t(recon_logits)
    recon = F.binary_cross_entropy_with_logits(recon_logits, _t(x).to(recon_logits.dtype))
    return recon + beta * kl_standard_normal(mu, logvar).mean()


@PITFALLS.variant("vae_loss", "recon-averaged-over-features")
def vae_loss_everything_averaged(recon_logits, x, mu, logvar, beta=1.0):
    recon_logits = _t(recon_logits)
    recon = F.binary_cross_entropy_with_logits(recon_logits, _t(x).to(recon_logits.dtype))
    return recon + beta * kl_mean_over_latent(mu, logvar).mean()


@PITFALLS.variant("vae_loss", "missing-kl")
def vae_loss_without_kl(recon_logits, x, mu, logvar, beta=1.0):
    return _recon(recon_logits, x).mean()


@PITFALLS.variant("vae_loss", "loss-summed-over-batch")
def vae_loss_batch_sum(recon_logits, x, mu, logvar, beta=1.0):
    return (_recon(recon_logits, x) + beta * kl_standard_normal(mu, logvar)).sum()


@PITFALLS.variant("vae_loss", "beta-ignored")
def vae_loss_without_beta(recon_logits, x, mu, logvar, beta=1.0):
    return (_recon(recon_logits, x) + kl_standard_normal(mu, logvar)).mean()


# ---- GAN ------------------------------------------------------------------------------------------

def _bce(logits, target):
    logits = _t(logits)
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def discriminator_loss(real_logits, fake_logits):
    """bce_with_logits(real, 1) + bce_with_logits(fake, 0), each a mean: a scalar tensor."""
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


@PITFALLS.variant("discriminator_loss", "labels-swapped")
def discriminator_loss_swapped(real_logits, fake_logits):
    return _bce(real_logits, 0.0) + _bce(fake_logits, 1.0)


@PITFALLS.variant("discriminator_loss", "d-loss-averaged")
def discriminator_loss_halved(real_logits, fake_logits):
    return 0.5 * (_bce(real_logits, 1.0) + _bce(fake_logits, 0.0))


def generator_loss(fake_logits):
    """The non-saturating generator loss bce_with_logits(fake, 1): a scalar tensor."""
    return _bce(fake_logits, 1.0)


@PITFALLS.variant("generator_loss", "saturating-generator-loss")
def generator_loss_saturating(fake_logits):
    # minimise mean(log(1 - D(G(z)))) = -bce_with_logits(fake, 0)
    return -_bce(fake_logits, 0.0)


@PITFALLS.variant("generator_loss", "saturating-generator-loss")
def generator_loss_saturating_naive(fake_logits):
    return torch.log(1 - torch.sigmoid(_t(fake_logits))).mean()


@PITFALLS.variant("generator_loss", "generator-labels-swapped")
def generator_loss_towards_fake(fake_logits):
    return _bce(fake_logits, 0.0)


def _gan_step(generator, discriminator, opt_g, opt_d, real, z, *, detach=True, zero_d=True,
              zero_g=True, zero_all_first=False, extra_d_step=False, zero_d_before_g=False):
    """One GAN step with one knob per classic mistake; the defaults are the right answer."""
    if zero_all_first:
        opt_d.zero_grad()
        opt_g.zero_grad()
    fake = generator(z)
    if zero_d:
        opt_d.zero_grad()
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach() if detach else fake))
    # without the detach the generator's graph is needed again for the generator's step
    d_loss.backward(retain_graph=not detach)
    opt_d.step()
    if zero_g:
        opt_g.zero_grad()
    if zero_d_before_g:
        opt_d.zero_grad()
    g_loss = generator_loss(discriminator(fake))
    g_loss.backward()
    opt_g.step()
    if extra_d_step:
        opt_d.step()
    return d_loss.item(), g_loss.item()


def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    """One discriminator step on real and generator(z).detach(), then one generator step through
    the discriminator (whose parameters it leaves unchanged). Returns (d_loss, g_loss) floats."""
    return _gan_step(generator, discriminator, opt_g, opt_d, real, z)


def _gan_variant(label, **knobs):
    def variant(generator, discriminator, opt_g, opt_d, real, z):
        return _gan_step(generator, discriminator, opt_g, opt_d, real, z, **knobs)
    variant.__name__ = "gan_step_" + "_".join(f"{k}_{v}" for k, v in knobs.items())
    PITFALLS.variant("gan_step", label)(variant)
    return variant


# Not detaching changes the numbers only when the generator's gradients are not zeroed between
# the two backward passes (zeroed once at the top); otherwise the harness's trace names it.
_gan_variant("fake-not-detached", detach=False, zero_d=False, zero_g=False, zero_all_first=True)
_gan_variant("d-updated-in-g-step", extra_d_step=True)
_gan_variant("d-updated-in-g-step", extra_d_step=True, zero_d_before_g=True)
_gan_variant("missing-zero-grad", zero_d=False, zero_g=False)
_gan_variant("missing-zero-grad", zero_d=False)
_gan_variant("missing-zero-grad", zero_g=False)


# ---- diffusion ------------------------------------------------------------------------------------

def linear_beta_schedule(T, beta_start=1e-4, beta_end=0.02):
    """(T,) float64: torch.linspace(beta_start, beta_end, T), as DDPM."""
    return torch.linspace(beta_start, beta_end, int(T), dtype=torch.float64)


@PITFALLS.variant("linear_beta_schedule", "beta-schedule-rescaled")
def linear_beta_schedule_rescaled(T, beta_start=1e-4, beta_end=0.02):
    scale = 1000 / int(T)
    return torch.linspace(scale * beta_start, scale * beta_end, int(T), dtype=torch.float64)


def alphas_cumprod(betas):
    """(T,): the running product of alpha_s = 1 - beta_s, s <= t."""
    return torch.cumprod(1 - _t(betas), dim=0)


@PITFALLS.variant("alphas_cumprod", "alpha-not-cumulative")
def alphas_not_cumulative(betas):
    return 1 - _t(betas)


@PITFALLS.variant("alphas_cumprod", "cumprod-of-betas")
def cumprod_of_betas(betas):
    return torch.cumprod(_t(betas), dim=0)


def _q_sample(x0, t, noise, alphas_cumprod, *, sqrt_signal=True, sqrt_noise=True):
    x0, noise, ab = _t(x0), _t(noise), _t(alphas_cumprod)
    a = ab[_t(t).long()].reshape(-1, *([1] * (x0.dim() - 1)))
    signal = torch.sqrt(a) if sqrt_signal else a
    spread = torch.sqrt(1 - a) if sqrt_noise else 1 - a
    return signal * x0 + spread * noise


def q_sample(x0, t, noise, alphas_cumprod):
    """x_t = sqrt(ab[t]) * x0 + sqrt(1 - ab[t]) * noise, ab[t] broadcast over x0's other dims."""
    return _q_sample(x0, t, noise, alphas_cumprod)


@PITFALLS.variant("q_sample", "missing-sqrt")
def q_sample_without_sqrt(x0, t, noise, alphas_cumprod):
    return _q_sample(x0, t, noise, alphas_cumprod, sqrt_signal=False, sqrt_noise=False)


@PITFALLS.variant("q_sample", "missing-sqrt")
def q_sample_without_signal_sqrt(x0, t, noise, alphas_cumprod):
    return _q_sample(x0, t, noise, alphas_cumprod, sqrt_signal=False)


@PITFALLS.variant("q_sample", "missing-sqrt")
def q_sample_without_noise_sqrt(x0, t, noise, alphas_cumprod):
    return _q_sample(x0, t, noise, alphas_cumprod, sqrt_noise=False)


def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    """Mean squared error between model(x_t, t) and the noise that made x_t: a scalar tensor."""
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    pred = model(x_t, t)
    return F.mse_loss(pred, _t(noise).to(pred.dtype))


@PITFALLS.variant("ddpm_loss", "predicts-x0")
def ddpm_loss_against_x0(model, x0, t, noise, alphas_cumprod):
    pred = model(q_sample(x0, t, noise, alphas_cumprod), t)
    return F.mse_loss(pred, _t(x0).to(pred.dtype))


def cfg_noise(eps_uncond, eps_cond, guidance_scale):
    """Classifier-free guidance: eps_uncond + guidance_scale * (eps_cond - eps_uncond)."""
    eps_uncond, eps_cond = _t(eps_uncond), _t(eps_cond)
    return eps_uncond + guidance_scale * (eps_cond - eps_uncond)


@PITFALLS.variant("cfg_noise", "guidance-reversed")
def cfg_noise_reversed(eps_uncond, eps_cond, guidance_scale):
    eps_uncond, eps_cond = _t(eps_uncond), _t(eps_cond)
    return eps_uncond + guidance_scale * (eps_uncond - eps_cond)


@PITFALLS.variant("cfg_noise", "guidance-scale-off-by-one")
def cfg_noise_imagen_convention(eps_uncond, eps_cond, guidance_scale):
    eps_uncond, eps_cond = _t(eps_uncond), _t(eps_cond)
    return (1 + guidance_scale) * eps_cond - guidance_scale * eps_uncond


# ---- FID ------------------------------------------------------------------------------------------

def _sqrtm_real(a):
    """Real part of scipy's matrix square root; if the product is singular enough for sqrtm to
    fail, retry with a small offset on the diagonal (as pytorch-fid does)."""
    root = scipy.linalg.sqrtm(a)
    if not np.isfinite(root).all():
        root = scipy.linalg.sqrtm(a + 1e-6 * np.eye(a.shape[0]))
    return np.real(root)


def _fid(mu1, sigma1, mu2, sigma2, *, root="sqrtm", squared=True):
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    diff = mu1 - mu2
    mean_term = diff @ diff if squared else np.sqrt(diff @ diff)
    product = s1 @ s2
    if root == "sqrtm":
        cross = _sqrtm_real(product)
    elif root == "none":
        cross = product
    else:  # "elementwise"
        with np.errstate(invalid="ignore"):
            cross = np.sqrt(product)
    return float(mean_term + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross))


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), a float (numpy in).

    The matrix square root is scipy.linalg.sqrtm's, real part: the product of two covariances is
    not symmetric and its computed root can carry tiny imaginary parts.
    """
    return _fid(mu1, sigma1, mu2, sigma2)


@PITFALLS.variant("frechet_distance", "missing-sqrtm")
def frechet_distance_without_sqrtm(mu1, sigma1, mu2, sigma2):
    return _fid(mu1, sigma1, mu2, sigma2, root="none")


@PITFALLS.variant("frechet_distance", "mean-term-not-squared")
def frechet_distance_mean_norm(mu1, sigma1, mu2, sigma2):
    return _fid(mu1, sigma1, mu2, sigma2, squared=False)


@PITFALLS.variant("frechet_distance", "elementwise-sqrt")
def frechet_distance_elementwise_sqrt(mu1, sigma1, mu2, sigma2):
    return _fid(mu1, sigma1, mu2, sigma2, root="elementwise")
