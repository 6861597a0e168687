"""Checks for q20_generative_models.

The VAE and GAN losses, the diffusion functions and the Frechet distance are called with plain
data and compared with the oracle's values: torch's functional losses
(F.binary_cross_entropy_with_logits, F.mse_loss), the DDPM formulas and scipy.linalg.sqrtm.
gan_step and ddpm_loss need models, so their checks run a harness of
autograder/harnesses/q20_generative_models.py in the worker: gan_step on a small traced generator
and discriminator with instrumented optimizers (which network each backward reached, which
weights each step changed, whether a gradient from before the call was still in .grad), and
ddpm_loss on a tiny deterministic noise predictor. Inputs come from nb.rng / nb.seed, so the
hidden run varies them.
"""
import numpy as np
import pytest
import torch

from whiteboard.grading.compare import mismatch, show


def as_scalar(value):
    """A one-element tensor or array as a 0-d one. The worker's codec sends a 0-d tensor back as
    shape (1,) (np.ascontiguousarray makes arrays at least 1-d), so a scalar loss is compared as a
    scalar on both sides; a student's one-element tensor passes too."""
    size = getattr(value, "numel", None) or getattr(value, "size", None)
    try:
        if callable(size) and size() == 1 or isinstance(size, int) and size == 1:
            return value.reshape(())
    except Exception:  # noqa: BLE001 - anything else is compared as it is
        pass
    return value


def expect_scalar(nb, function, *args, **kwargs):
    return nb.expect(function, *args, output=as_scalar, **kwargs)


def normal(nb, k, *shape, scale=1.0, shift=0.0, dtype=np.float64):
    return torch.from_numpy((nb.rng(k).normal(size=shape) * scale + shift).astype(dtype))


def ints(nb, k, low, high):
    """An int in [low, high)."""
    return int(nb.rng(k).integers(low, high))


# ---- VAE --------------------------------------------------------------------------------------------

def latent(nb, k, B, Z):
    """(mu, logvar, eps), each (B, Z); logvar spread so that std and variance differ clearly."""
    return normal(nb, k, B, Z), normal(nb, k + 1, B, Z, scale=0.8), normal(nb, k + 2, B, Z)


@pytest.mark.grades("reparameterize")
class TestReparameterize:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """16 examples, 8 latent dimensions"""
        nb.expect("reparameterize", *latent(nb, 0, 16, 8))

    @pytest.mark.points(1)
    def test_uses_given_noise(self, nb):
        """the sample is built from the eps passed in"""
        mu, logvar, _ = latent(nb, 3, 32, 4)
        nb.expect("reparameterize", mu, logvar, normal(nb, 6, 32, 4, scale=2.0))


@pytest.mark.grades("kl_standard_normal")
class TestKlStandardNormal:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """one KL per example, (B,)"""
        mu, logvar, _ = latent(nb, 10, 5, 4)
        nb.expect("kl_standard_normal", mu, logvar)

    @pytest.mark.points(1)
    def test_wide_latent(self, nb):
        """16 latent dimensions; the prior itself gives 0"""
        mu, logvar, _ = latent(nb, 13, 3, 16)
        nb.expect("kl_standard_normal", mu, logvar)
        nb.expect("kl_standard_normal", torch.zeros(2, 5, dtype=torch.float64),
                  torch.zeros(2, 5, dtype=torch.float64))


def images(nb, k, B):
    """Logits and binary targets of B 1x4x4 images."""
    logits = normal(nb, k, B, 1, 4, 4, scale=2.0)
    x = torch.from_numpy((nb.rng(k + 1).uniform(size=(B, 1, 4, 4)) < 0.4).astype(np.float64))
    return logits, x


@pytest.mark.grades("vae_loss")
class TestVaeLoss:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """a batch of 4 binary 4x4 images, 3 latent dimensions"""
        mu, logvar, _ = latent(nb, 20, 4, 3)
        expect_scalar(nb, "vae_loss", *images(nb, 23, 4), mu, logvar)

    @pytest.mark.points(1)
    def test_beta(self, nb):
        """beta weights the KL term"""
        mu, logvar, _ = latent(nb, 25, 3, 2)
        expect_scalar(nb, "vae_loss", *images(nb, 28, 3), mu, logvar,
                  beta=float(np.round(nb.rng(30).uniform(0.1, 0.6), 2)))

    @pytest.mark.points(1)
    def test_flat_features(self, nb):
        """(B, D) inputs with targets in [0, 1]"""
        mu, logvar, _ = latent(nb, 31, 5, 2)
        x = torch.from_numpy(nb.rng(34).uniform(size=(5, 10)))
        expect_scalar(nb, "vae_loss", normal(nb, 35, 5, 10), x, mu, logvar)


# ---- GAN losses -------------------------------------------------------------------------------------

@pytest.mark.grades("discriminator_loss")
class TestDiscriminatorLoss:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """logits of 8 real and 8 fake examples"""
        expect_scalar(nb, "discriminator_loss", normal(nb, 40, 8, 1), normal(nb, 41, 8, 1))

    @pytest.mark.points(1)
    def test_confident_discriminator(self, nb):
        """a discriminator that already tells real from fake"""
        expect_scalar(nb, "discriminator_loss", normal(nb, 42, 6, 1, shift=5.0), normal(nb, 43, 6, 1, shift=-5.0))


@pytest.mark.grades("generator_loss")
class TestGeneratorLoss:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """logits of 8 fake examples"""
        expect_scalar(nb, "generator_loss", normal(nb, 44, 8, 1))

    @pytest.mark.points(1)
    def test_rejected_fakes(self, nb):
        """fakes the discriminator rejects confidently (early training)"""
        expect_scalar(nb, "generator_loss", normal(nb, 45, 6, 1, shift=-6.0))


# ---- gan_step ---------------------------------------------------------------------------------------

def gan_params(nb, k, plant_grads=False):
    return dict(seed=nb.seed(k), batch=ints(nb, k + 1, 4, 9), lr_d=0.1, lr_g=0.1,
                plant_grads=plant_grads)


def gan_desc(params):
    return (f"gan_step(generator, discriminator, opt_g, opt_d, real, z) on small MLPs, a batch of "
            f"{params['batch']}, SGD(lr=0.1) for both"
            + (", every parameter's .grad holding a gradient from an earlier step"
               if params["plant_grads"] else ""))


def events_text(events):
    """The calls gan_step made, in order, one line each (forward calls left out)."""
    lines = []
    for e in events:
        if e[0] == "zero_grad":
            lines.append(f"{e[1]}.zero_grad()")
        elif e[0] == "backward":
            reached = [n for n, hit in (("G", e[1]), ("D", e[2])) if hit] or ["nothing"]
            lines.append(f"backward: gradients reached {' and '.join(reached)}"
                         + (" (on top of a stale gradient)" if e[3] or e[4] else ""))
        elif e[0] == "step":
            moved = [n for n, hit in (("G", e[2]), ("D", e[3])) if hit] or ["nothing"]
            lines.append(f"{e[1]}.step(): changed {' and '.join(moved)}"
                         + (" (with a .grad still holding an earlier gradient)" if e[4] else ""))
    return "\n    ".join(lines)


def run_gan(nb, params):
    got = nb.run("gan_step", "gan_trace", params)
    if got["returned"] is None or None in got["returned"]:
        raise nb.fail("wrong-type", f"{gan_desc(params)} returned a {got['returned_type']}; "
                      "expected a pair (d_loss, g_loss) of Python floats.")
    return got


def gan_view(trace):
    return [trace["returned"], trace["weights_G"], trace["weights_D"]]


def check_gan_values(nb, params, got):
    want = nb.trace("gan_trace", params, "gan_step")
    tol = dict(rtol=1e-4, atol=1e-6)
    problem = mismatch(gan_view(got), gan_view(want), **tol)
    if problem is None:
        return
    label = nb.match_variant(gan_view(got), [(lab, gan_view(t)) for lab, t in
                                             nb.variant_traces("gan_trace", params, "gan_step")],
                             lambda a, b: mismatch(a, b, equal_nan=True, **tol) is None)
    if label is None and got["g_stepped_before_d_step"]:
        label = "generator-stepped-first"
    parts = []
    for name, g, w in (("the returned (d_loss, g_loss)", got["returned"], want["returned"]),
                       ("the generator's weights", got["weights_G"], want["weights_G"]),
                       ("the discriminator's weights", got["weights_D"], want["weights_D"])):
        bad = mismatch(g, w, **tol)
        if bad:
            parts.append(f"{name} differ from one correct step ({bad[1]})")
    raise nb.fail(label or problem[0], f"{gan_desc(params)}: " + "; ".join(parts)
                  + f".\n  what your gan_step did:\n    {events_text(got['events'])}")


@pytest.mark.grades("gan_step")
class TestGanStep:
    @pytest.mark.points(3)
    def test_one_step(self, nb):
        """one discriminator step then one generator step: the weights and the losses"""
        params = gan_params(nb, 0)
        check_gan_values(nb, params, run_gan(nb, params))

    @pytest.mark.points(2)
    def test_fake_detached(self, nb):
        """the discriminator's backward does not reach the generator"""
        params = gan_params(nb, 2)
        got = run_gan(nb, params)
        if got["g_reached_before_d_step"]:
            raise nb.fail("fake-not-detached", f"{gan_desc(params)}: before the discriminator's "
                          "step, a backward pass sent gradients into the generator's parameters.\n"
                          f"  what your gan_step did:\n    {events_text(got['events'])}")

    @pytest.mark.points(2)
    def test_discriminator_unchanged_in_generator_step(self, nb):
        """the generator's step leaves the discriminator's weights unchanged"""
        params = gan_params(nb, 4)
        got = run_gan(nb, params)
        if got["d_changed_after_d_step"]:
            raise nb.fail("d-updated-in-g-step", f"{gan_desc(params)}: after the discriminator's "
                          "step, another step changed the discriminator's weights.\n"
                          f"  what your gan_step did:\n    {events_text(got['events'])}")

    @pytest.mark.points(2)
    def test_zero_grad(self, nb):
        """stale gradients from an earlier step are zeroed before each backward"""
        params = gan_params(nb, 6, plant_grads=True)
        got = run_gan(nb, params)
        if got["d_step_used_stale"] or got["g_step_used_stale"]:
            net = "discriminator's" if got["d_step_used_stale"] else "generator's"
            raise nb.fail("missing-zero-grad", f"{gan_desc(params)}: the {net} step used a .grad "
                          "that still held the earlier gradient (its backward added to it).\n"
                          f"  what your gan_step did:\n    {events_text(got['events'])}")
        check_gan_values(nb, params, got)


# ---- diffusion -------------------------------------------------------------------------------------

@pytest.mark.grades("linear_beta_schedule")
class TestLinearBetaSchedule:
    @pytest.mark.points(1)
    def test_default_range(self, nb):
        """T = 1000 with DDPM's defaults, and a short schedule"""
        nb.expect("linear_beta_schedule", 1000)
        nb.expect("linear_beta_schedule", ints(nb, 50, 5, 50))

    @pytest.mark.points(1)
    def test_custom_range(self, nb):
        """beta_start and beta_end given"""
        start = float(np.round(nb.rng(51).uniform(1e-4, 1e-3), 5))
        nb.expect("linear_beta_schedule", ints(nb, 52, 10, 200), start, 0.05)


def schedule(T, start=1e-4, end=0.02):
    return torch.linspace(start, end, T, dtype=torch.float64)


@pytest.mark.grades("alphas_cumprod")
class TestAlphasCumprod:
    @pytest.mark.points(1)
    def test_linear_schedule(self, nb):
        """the cumulative product over a DDPM schedule"""
        nb.expect("alphas_cumprod", schedule(ints(nb, 55, 50, 1001)))

    @pytest.mark.points(1)
    def test_large_betas(self, nb):
        """a short schedule of large betas"""
        betas = torch.from_numpy(np.sort(nb.rng(56).uniform(0.05, 0.4, size=8)))
        nb.expect("alphas_cumprod", betas)


@pytest.mark.grades("q_sample")
class TestQSample:
    @pytest.mark.points(2)
    def test_flat_batch(self, nb):
        """2-D x0 (B, D) at different steps t"""
        T = 100
        t = torch.from_numpy(nb.rng(60).integers(0, T, size=5))
        nb.expect("q_sample", normal(nb, 61, 5, 3), t, normal(nb, 62, 5, 3),
                  torch.cumprod(1 - schedule(T, 1e-3, 0.2), dim=0), rtol=1e-5, atol=1e-7)

    @pytest.mark.points(1)
    def test_images(self, nb):
        """4-D x0 (B, C, H, W), float32, one step per image"""
        T = 50
        t = torch.from_numpy(nb.rng(63).integers(0, T, size=3))
        nb.expect("q_sample", normal(nb, 64, 3, 1, 4, 4, dtype=np.float32), t,
                  normal(nb, 65, 3, 1, 4, 4, dtype=np.float32),
                  torch.cumprod(1 - schedule(T, 1e-3, 0.3), dim=0), rtol=1e-5, atol=1e-6)


def ddpm_params(nb, k, shape, T=100):
    return dict(x0=normal(nb, k, *shape), t=torch.from_numpy(nb.rng(k + 1).integers(0, T, size=shape[0])),
                noise=normal(nb, k + 2, *shape),
                alphas_cumprod=torch.cumprod(1 - schedule(T, 1e-3, 0.2), dim=0), seed=nb.seed(k + 3))


def run_ddpm(nb, params):
    desc = (f"ddpm_loss(model, x0, t, noise, alphas_cumprod) with x0 of shape "
            f"{tuple(params['x0'].shape)}, t = {show(params['t'])}, and a small noise-predicting "
            "model")
    return desc, nb.run("ddpm_loss", "ddpm_trace", params)


@pytest.mark.grades("ddpm_loss")
class TestDdpmLoss:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """the loss of a batch of four 2-D points"""
        params = ddpm_params(nb, 70, (4, 2))
        desc, got = run_ddpm(nb, params)
        want = nb.trace("ddpm_trace", params, "ddpm_loss")
        problem = mismatch(got["loss"], want["loss"], rtol=1e-5, atol=1e-8)
        if problem:
            label = nb.match_variant(got["loss"], [(lab, t["loss"]) for lab, t in
                                                   nb.variant_traces("ddpm_trace", params, "ddpm_loss")],
                                     lambda a, b: mismatch(a, b, rtol=1e-5, atol=1e-8) is None)
            inputs = [show(c[0]) for c in got["model_calls"]]
            raise nb.fail(label or problem[0], f"{desc}: returned {show(got['loss'])}, expected "
                          f"{show(want['loss'])} ({problem[1]}).\n  the model was called on "
                          f"{inputs or 'nothing'}; expected {show(want['model_calls'][0][0])}")

    @pytest.mark.points(1)
    def test_differentiable_scalar(self, nb):
        """returns a scalar tensor whose backward reaches the model"""
        params = ddpm_params(nb, 75, (3, 1, 2, 2))
        desc, got = run_ddpm(nb, params)
        if not got["is_tensor"] or got["shape"] not in ([], [1]):
            raise nb.fail("wrong-type", f"{desc} returned a {got['type']}"
                          + (f" of shape {got['shape']}" if got["shape"] is not None else "")
                          + "; expected a scalar tensor (a float cannot be back-propagated).")
        if not got["grad_reaches_model"]:
            raise nb.fail("wrong-value", f"{desc}: the loss's backward does not reach the "
                          "model's parameters (was it detached, or computed under no_grad?).")
        want = nb.trace("ddpm_trace", params, "ddpm_loss")
        problem = mismatch(got["loss"], want["loss"], rtol=1e-5, atol=1e-8)
        if problem:
            label = nb.match_variant(got["loss"], [(lab, t["loss"]) for lab, t in
                                                   nb.variant_traces("ddpm_trace", params, "ddpm_loss")],
                                     lambda a, b: mismatch(a, b, rtol=1e-5, atol=1e-8) is None)
            raise nb.fail(label or problem[0], f"{desc}: returned {show(got['loss'])}, expected "
                          f"{show(want['loss'])} ({problem[1]}).")


@pytest.mark.grades("cfg_noise")
class TestCfgNoise:
    @pytest.mark.points(1)
    def test_guidance(self, nb):
        """a guidance scale of 7.5"""
        nb.expect("cfg_noise", normal(nb, 80, 2, 4), normal(nb, 81, 2, 4),
                  float(np.round(nb.rng(82).uniform(3.0, 9.0), 1)))

    @pytest.mark.points(1)
    def test_scales_zero_and_one(self, nb):
        """scale 0 gives the unconditional noise, scale 1 the conditional"""
        u, c = normal(nb, 83, 3, 2, 2), normal(nb, 84, 3, 2, 2)
        nb.expect("cfg_noise", u, c, 0.0)
        nb.expect("cfg_noise", u, c, 1.0)


# ---- frechet_distance ------------------------------------------------------------------------------

def covariance(nb, k, d, n):
    """A sample covariance of n points in d dimensions (singular when n <= d)."""
    rng = nb.rng(k)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    return np.cov(a, rowvar=False)


FID_TOL = dict(rtol=1e-6, atol=1e-6)


@pytest.mark.grades("frechet_distance")
class TestFrechetDistance:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """two 4-D Gaussians estimated from 50 and 60 samples"""
        rng = nb.rng(90)
        nb.expect("frechet_distance", rng.normal(size=4), covariance(nb, 91, 4, 50),
                  rng.normal(size=4) * 0.5 + 0.3, covariance(nb, 92, 4, 60), **FID_TOL)

    @pytest.mark.points(1)
    def test_singular_covariances(self, nb):
        """covariances from fewer samples than dimensions: sqrtm has small imaginary parts"""
        rng = nb.rng(93)
        # looser: a root that sqrtm cannot compute is retried with a small diagonal offset, and
        # correct answers differ in how (or whether) they do that
        nb.expect("frechet_distance", rng.normal(size=6), covariance(nb, 95, 6, 3),
                  rng.normal(size=6) * 0.5, covariance(nb, 96, 6, 5), rtol=1e-4, atol=1e-4)

    @pytest.mark.points(1)
    def test_identical_and_one_dimensional(self, nb):
        """a distribution against itself; two 1-D Gaussians"""
        mu, sigma = nb.rng(97).normal(size=3), covariance(nb, 98, 3, 30)
        nb.expect("frechet_distance", mu, sigma, mu.copy(), sigma.copy(), **FID_TOL)
        s1, s2 = nb.rng(99).uniform(0.5, 3.0, size=2)
        nb.expect("frechet_distance", np.array([1.0]), np.array([[s1 ** 2]]), np.array([3.5]),
                  np.array([[s2 ** 2]]), **FID_TOL)
