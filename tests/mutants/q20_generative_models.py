"""q20 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np`, `import scipy.linalg`, `import torch`,
`from torch import nn`, `import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    # -- VAE ----------------------------------------------------------------------------------------
    ("std-is-exp-logvar", "reparameterize", '''
def reparameterize(mu, logvar, eps):
    std = torch.exp(logvar)
    return mu + eps * std
'''),
    ("eps-ignored", "reparameterize", '''
def reparameterize(mu, logvar, eps):
    std = torch.exp(0.5 * logvar)
    return mu + std * torch.randn_like(std)      # fresh noise instead of the eps given
'''),
    ("kl-sign-flipped", "kl_standard_normal", '''
def kl_standard_normal(mu, logvar):
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
'''),
    ("kl-averaged-over-latent", "kl_standard_normal", '''
def kl_standard_normal(mu, logvar):
    return -0.5 * torch.mean(1 + logvar - mu ** 2 - torch.exp(logvar), dim=-1)
'''),
    ("recon-averaged-over-features", "vae_loss", '''
def vae_loss(recon_logits, x, mu, logvar, beta=1.0):
    recon = F.binary_cross_entropy_with_logits(recon_logits, x)
    kl = kl_standard_normal(mu, logvar).mean()
    return recon + beta * kl
'''),
    ("missing-kl", "vae_loss", '''
def vae_loss(recon_logits, x, mu, logvar, beta=1.0):
    return F.binary_cross_entropy_with_logits(recon_logits, x, reduction="sum") / x.shape[0]
'''),
    ("loss-summed-over-batch", "vae_loss", '''
def vae_loss(recon_logits, x, mu, logvar, beta=1.0):
    # as pytorch/examples' VAE: everything summed, the batch included
    BCE = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + beta * KLD
'''),
    # -- GAN ----------------------------------------------------------------------------------------
    ("labels-swapped", "discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
    fake_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return real_loss + fake_loss
'''),
    ("saturating-generator-loss", "generator_loss", '''
def generator_loss(fake_logits):
    d_fake = torch.sigmoid(fake_logits)
    return torch.log(1 - d_fake).mean()          # minimise log(1 - D(G(z)))
'''),
    ("fake-not-detached", "gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    fake = generator(z)
    opt_d.zero_grad()
    d_loss = discriminator_loss(discriminator(real), discriminator(fake))
    d_loss.backward(retain_graph=True)
    opt_d.step()
    opt_g.zero_grad()
    g_loss = generator_loss(discriminator(fake))
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()
'''),
    ("d-updated-in-g-step", "gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    fake = generator(z)
    opt_d.zero_grad()
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad()
    g_loss = generator_loss(discriminator(fake))
    g_loss.backward()
    opt_g.step()
    opt_d.step()
    return d_loss.item(), g_loss.item()
'''),
    ("missing-zero-grad", "gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    fake = generator(z)
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    d_loss.backward()
    opt_d.step()
    g_loss = generator_loss(discriminator(fake))
    g_loss.backward()
    opt_g.step()
    return float(d_loss), float(g_loss)
'''),
    # -- diffusion ----------------------------------------------------------------------------------
    ("alpha-not-cumulative", "alphas_cumprod", '''
def alphas_cumprod(betas):
    alphas = 1.0 - betas
    return alphas
'''),
    ("missing-sqrt", "q_sample", '''
def q_sample(x0, t, noise, alphas_cumprod):
    a = alphas_cumprod[t].view(-1, *([1] * (x0.dim() - 1)))
    return a * x0 + (1 - a) * noise
'''),
    ("predicts-x0", "ddpm_loss", '''
def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    x0_hat = model(x_t, t)
    return F.mse_loss(x0_hat, x0)
'''),
    ("guidance-reversed", "cfg_noise", '''
def cfg_noise(eps_uncond, eps_cond, guidance_scale):
    return eps_uncond + guidance_scale * (eps_uncond - eps_cond)
'''),
    # -- FID ----------------------------------------------------------------------------------------
    ("missing-sqrtm", "frechet_distance", '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1 + sigma2 - 2 * sigma1 @ sigma2))
'''),
    ("mean-term-not-squared", "frechet_distance", '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2)).real
    return float(np.linalg.norm(mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * np.trace(covmean))
'''),
    # PyTorch-GAN's loop with the two halves swapped: each half is right, the order is not
    ("generator-stepped-first", "gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    opt_g.zero_grad()
    fake = generator(z)
    g_loss = generator_loss(discriminator(fake))
    g_loss.backward()
    opt_g.step()
    opt_d.zero_grad()
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    d_loss.backward()
    opt_d.step()
    return d_loss.item(), g_loss.item()
'''),
]


ALTERNATIVES = [
    # gradients from torch.autograd.grad written into .grad: nothing accumulates, so no zero_grad
    ("gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    fake = generator(z)
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    d_params = list(discriminator.parameters())
    for p, g in zip(d_params, torch.autograd.grad(d_loss, d_params)):
        p.grad = g
    opt_d.step()
    g_loss = generator_loss(discriminator(fake))
    g_params = list(generator.parameters())
    for p, g in zip(g_params, torch.autograd.grad(g_loss, g_params)):
        p.grad = g
    opt_g.step()
    return d_loss.item(), g_loss.item()
'''),
    # -- VAE ----------------------------------------------------------------------------------------
    ("reparameterize", '''
def reparameterize(mu, logvar, eps):
    std = logvar.mul(0.5).exp_()            # pytorch/examples style, on a new tensor
    return eps.mul(std).add_(mu)
'''),
    ("reparameterize", '''
def reparameterize(mu, logvar, eps):
    return mu + torch.sqrt(torch.exp(logvar)) * eps
'''),
    ("kl_standard_normal", '''
def kl_standard_normal(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
'''),
    ("kl_standard_normal", '''
def kl_standard_normal(mu, logvar):
    from torch.distributions import Normal, kl_divergence
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_divergence(q, p).sum(dim=-1)
'''),
    ("vae_loss", '''
def vae_loss(recon_logits, x, mu, logvar, beta=1.0):
    B = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(recon_logits, x, reduction="sum") / B
    return recon + beta * kl_standard_normal(mu, logvar).mean()
'''),
    ("vae_loss", '''
def vae_loss(recon_logits, x, mu, logvar, beta=1.0):
    # BCE with logits written out with log-sigmoids, summed per example
    per_pixel = -(x * F.logsigmoid(recon_logits) + (1 - x) * F.logsigmoid(-recon_logits))
    recon = per_pixel.flatten(start_dim=1).sum(dim=1)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(dim=1)
    return torch.mean(recon + beta * kl)
'''),
    # -- GAN ----------------------------------------------------------------------------------------
    ("discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    criterion = nn.BCEWithLogitsLoss()
    return criterion(real_logits, torch.ones_like(real_logits)) + \\
        criterion(fake_logits, torch.zeros_like(fake_logits))
'''),
    ("discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    # -log sigmoid(r) = softplus(-r);  -log(1 - sigmoid(f)) = softplus(f)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
'''),
    ("generator_loss", '''
def generator_loss(fake_logits):
    return -F.logsigmoid(fake_logits).mean()
'''),
    ("generator_loss", '''
def generator_loss(fake_logits):
    return nn.BCEWithLogitsLoss()(fake_logits, torch.ones_like(fake_logits))
'''),
    ("gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    # the DCGAN tutorial's order: real and fake halves back-propagated separately
    discriminator.zero_grad()
    out_real = discriminator(real)
    err_real = F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
    err_real.backward()
    fake = generator(z)
    out_fake = discriminator(fake.detach())
    err_fake = F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
    err_fake.backward()
    opt_d.step()

    generator.zero_grad()
    out = discriminator(fake)
    err_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    err_g.backward()
    opt_g.step()
    return (err_real + err_fake).item(), err_g.item()
'''),
    ("gan_step", '''
def gan_step(generator, discriminator, opt_g, opt_d, real, z):
    # fakes for the discriminator made without a graph; the discriminator frozen for G's step
    with torch.no_grad():
        fake = generator(z)
    opt_d.zero_grad(set_to_none=True)
    d_loss = discriminator_loss(discriminator(real), discriminator(fake))
    d_loss.backward()
    opt_d.step()

    for p in discriminator.parameters():
        p.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    g_loss = generator_loss(discriminator(generator(z)))
    g_loss.backward()
    opt_g.step()
    for p in discriminator.parameters():
        p.requires_grad_(True)
    return d_loss.item(), g_loss.item()
'''),
    # -- diffusion ----------------------------------------------------------------------------------
    ("linear_beta_schedule", '''
def linear_beta_schedule(T, beta_start=1e-4, beta_end=0.02):
    return torch.from_numpy(np.linspace(beta_start, beta_end, T))
'''),
    ("linear_beta_schedule", '''
def linear_beta_schedule(T, beta_start=1e-4, beta_end=0.02):
    if T == 1:
        return torch.tensor([beta_start], dtype=torch.float64)
    step = (beta_end - beta_start) / (T - 1)
    return torch.tensor([beta_start + i * step for i in range(T)], dtype=torch.float64)
'''),
    ("alphas_cumprod", '''
def alphas_cumprod(betas):
    out = torch.empty_like(betas)
    running = 1.0
    for i, b in enumerate(betas):
        running = running * (1 - b)
        out[i] = running
    return out
'''),
    ("alphas_cumprod", '''
def alphas_cumprod(betas):
    return torch.exp(torch.cumsum(torch.log1p(-betas), dim=0))
'''),
    ("q_sample", '''
def extract(a, t, x_shape):
    # as in the PyTorch ports of DDPM
    out = a.gather(-1, t)
    return out.reshape(t.shape[0], *((1,) * (len(x_shape) - 1)))

def q_sample(x0, t, noise, alphas_cumprod):
    sqrt_ab = torch.sqrt(alphas_cumprod)
    sqrt_one_minus = torch.sqrt(1.0 - alphas_cumprod)
    return extract(sqrt_ab, t, x0.shape) * x0 + extract(sqrt_one_minus, t, x0.shape) * noise
'''),
    ("q_sample", '''
def q_sample(x0, t, noise, alphas_cumprod):
    ab = alphas_cumprod.float()[t]                 # a float32 schedule
    while ab.dim() < x0.dim():
        ab = ab.unsqueeze(-1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
'''),
    ("ddpm_loss", '''
def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    x_t = q_sample(x0, t, noise, alphas_cumprod)
    return ((model(x_t, t) - noise) ** 2).mean()
'''),
    ("ddpm_loss", '''
def ddpm_loss(model, x0, t, noise, alphas_cumprod):
    a = alphas_cumprod[t].reshape(-1, *[1] * (x0.ndim - 1))
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    eps_pred = model(x_t, t)
    return F.mse_loss(eps_pred, noise.to(eps_pred.dtype))
'''),
    ("cfg_noise", '''
def cfg_noise(eps_uncond, eps_cond, guidance_scale):
    return (1 - guidance_scale) * eps_uncond + guidance_scale * eps_cond
'''),
    ("cfg_noise", '''
def cfg_noise(eps_uncond, eps_cond, guidance_scale):
    return torch.lerp(eps_uncond, eps_cond, guidance_scale)
'''),
    # -- FID ----------------------------------------------------------------------------------------
    ("frechet_distance", '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    # pytorch-fid's recipe (without the deprecated disp argument)
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
'''),
    ("frechet_distance", '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    # Tr sqrt(S1 S2) is the sum of the square roots of the eigenvalues of S1 S2
    eig = np.linalg.eigvals(sigma1 @ sigma2).astype(complex)
    tr_covmean = np.sqrt(eig).real.sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
'''),
    ("frechet_distance", '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    # the symmetric form: Tr (S1^1/2 S2 S1^1/2)^1/2
    root1 = scipy.linalg.sqrtm(sigma1).real
    cross = scipy.linalg.sqrtm(root1 @ sigma2 @ root1).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * cross))
'''),
]
