"""q20 references agree with PyTorch, SciPy and the DDPM formulas, and the mutants and
alternatives behave as their labels say. gan_step and ddpm_loss go through the harness, as
grading does: a variant is put in the namespace under the catalogue's name."""
import importlib
import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from autograder.harnesses import q20_generative_models as H
from autograder.references import q20_generative_models as R

MUTANTS = importlib.import_module("mutants.q20_generative_models")
PRELUDE = ("import numpy as np\nimport scipy.linalg\nimport torch\nfrom torch import nn\n"
           "import torch.nn.functional as F\n")
TRACE_LABELS = {"fake-not-detached"}
# the trace facts that name a gan_step mistake; a correct step shows none of them
FAULT_FACTS = ("g_reached_before_d_step", "g_stepped_before_d_step", "d_changed_after_d_step",
               "d_step_used_stale", "g_step_used_stale")


def g(seed):
    return torch.Generator().manual_seed(seed)


def randn(seed, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=g(seed), dtype=dtype)


# ---- inputs ----------------------------------------------------------------------------------------

def vae_inputs():
    out = []
    for i, (B, Z, dtype) in enumerate([(16, 8, torch.float64), (3, 2, torch.float32),
                                       (1, 5, torch.float64)]):
        out.append((randn(i, B, Z, dtype=dtype), randn(10 + i, B, Z, dtype=dtype) * 0.8,
                    randn(20 + i, B, Z, dtype=dtype)))
    return out


def vae_loss_inputs():
    out = []
    for i, (shape, binary) in enumerate([((4, 1, 5, 5), True), ((3, 7), False), ((1, 2, 3), True)]):
        logits = randn(30 + i, *shape) * 2
        x = torch.rand(*shape, generator=g(40 + i), dtype=torch.float64)
        x = (x > 0.5).double() if binary else x
        mu, logvar = randn(50 + i, shape[0], 4), randn(60 + i, shape[0], 4) * 0.7
        for beta in (1.0, 0.5, 4.0):
            out.append((logits, x, mu, logvar, beta))
    return out


def gan_logit_inputs():
    return [(randn(70, 8, 1) * 2, randn(71, 8, 1) * 2 - 1), (randn(72, 5), randn(73, 5) * 3),
            (torch.tensor([[4.0], [-1.0]]), torch.tensor([[-3.0], [0.5]]))]


def diffusion_inputs():
    ab = R.alphas_cumprod(R.linear_beta_schedule(1000))
    cases = [(randn(80, 5, 2), torch.tensor([0, 10, 500, 999, 250]), randn(81, 5, 2), ab),
             (randn(82, 3, 2, 4, 4, dtype=torch.float32), torch.tensor([999, 0, 37]),
              randn(83, 3, 2, 4, 4, dtype=torch.float32), ab),
             (randn(84, 2, 6), torch.tensor([3, 7]),
              randn(85, 2, 6), R.alphas_cumprod(R.linear_beta_schedule(10)))]
    return cases


def spd(seed, d, n):
    """A sample covariance of n points in d dimensions (rank-deficient when n <= d)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    return np.cov(a, rowvar=False)


def fid_inputs():
    rng = np.random.default_rng(0)
    out = []
    for i, (d, n1, n2) in enumerate([(4, 50, 60), (6, 3, 5), (8, 6, 40), (3, 2, 2), (5, 200, 200)]):
        out.append((rng.normal(size=d), spd(i, d, n1), rng.normal(size=d) * 0.5 + 0.3,
                    spd(100 + i, d, n2)))
    mu, s = rng.normal(size=4), spd(7, 4, 30)
    out.append((mu, s, mu.copy(), s.copy()))  # identical distributions: 0
    return out


# ---- against torch, scipy and the formulas --------------------------------------------------------

def test_vae_pieces_against_torch():
    from torch.distributions import Normal, kl_divergence

    for mu, logvar, eps in vae_inputs():
        std = torch.exp(0.5 * logvar)
        assert torch.allclose(R.reparameterize(mu, logvar, eps), Normal(mu, std).mean + std * eps)
        want = kl_divergence(Normal(mu, std), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
        assert torch.allclose(R.kl_standard_normal(mu, logvar), want.sum(1), rtol=1e-5, atol=1e-6)
        assert (R.kl_standard_normal(mu, logvar) >= 0).all()
    for logits, x, mu, logvar, beta in vae_loss_inputs():
        B = x.shape[0]
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B
        kl = R.kl_standard_normal(mu, logvar).mean()
        got = R.vae_loss(logits, x, mu, logvar, beta)
        assert got.dim() == 0 and torch.allclose(got, recon + beta * kl)


def test_gan_losses_against_torch():
    bce = torch.nn.BCEWithLogitsLoss()
    for real, fake in gan_logit_inputs():
        want = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
        assert torch.allclose(R.discriminator_loss(real, fake), want)
        assert torch.allclose(R.generator_loss(fake), bce(fake, torch.ones_like(fake)))
        assert torch.allclose(R.generator_loss_saturating(fake),
                              torch.log(1 - torch.sigmoid(fake)).mean(), atol=1e-6)


def test_gan_step_with_value_only_standin_losses():
    """While gan_step is graded, discriminator_loss and generator_loss are stand-ins whose answers
    come back as plain tensors without a graph; the harness gives them their gradient back, so the
    trace equals the one with the real losses (and a stand-in that keeps its graph is untouched)."""
    def values_only(fn):
        return lambda *args: fn(*[a.detach().clone() for a in args]).detach()

    for seed, plant in ((0, True), (3, False)):
        want = H.gan_trace(dict(vars(R)), seed=seed, plant_grads=plant)
        ns = dict(vars(R))
        ns["discriminator_loss"] = values_only(R.discriminator_loss)
        ns["generator_loss"] = values_only(R.generator_loss)
        got = H.gan_trace(ns, seed=seed, plant_grads=plant)
        assert got["events"] == want["events"]
        assert same(got["returned"], want["returned"])
        for a, b in zip(got["weights_G"] + got["weights_D"], want["weights_G"] + want["weights_D"]):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    assert "discriminator_loss" in R.STANDINS and "generator_loss" in R.STANDINS
    assert "gan_step" not in R.STANDINS


def test_gan_step_trace():
    t = H.gan_trace(dict(vars(R)), seed=0)
    kinds = [e[:2] for e in t["events"] if e[0] in ("backward", "step")]
    assert [e[0] for e in kinds] == ["backward", "step", "backward", "step"]
    backward = [e for e in t["events"] if e[0] == "backward"]
    assert backward[0][1:3] == [False, True] and backward[1][1:3] == [True, True]
    steps = [e for e in t["events"] if e[0] == "step"]
    # [step, optimizer, moved G, moved D, used a stale .grad]
    assert steps == [["step", "opt_d", False, True, False], ["step", "opt_g", True, False, False]]
    assert not any(t[fact] for fact in FAULT_FACTS)
    # by hand: the same step with plain modules and optimizers
    events = []
    gen, disc = H.gan_nets(events, 0)
    planted = torch.Generator().manual_seed(500)
    for net in (gen, disc):
        for p in net.parameters():
            p.grad = torch.randn(p.shape, generator=planted) * 3.0
    real = torch.randn(6, 2, generator=planted) + 2.0
    z = torch.randn(6, 3, generator=planted)
    opt_g = torch.optim.SGD(gen.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(disc.parameters(), lr=0.1)
    for p in disc.parameters():
        p.grad = None
    d_loss = F.binary_cross_entropy_with_logits(disc(real), torch.ones(6, 1)) + \
        F.binary_cross_entropy_with_logits(disc(gen(z).detach()), torch.zeros(6, 1))
    d_loss.backward()
    opt_d.step()
    for p in gen.parameters():
        p.grad = None
    g_loss = F.binary_cross_entropy_with_logits(disc(gen(z)), torch.ones(6, 1))
    g_loss.backward()
    opt_g.step()
    assert np.allclose(t["returned"], [d_loss.item(), g_loss.item()])
    assert all(torch.allclose(a, b) for a, b in zip(t["weights_G"], gen.parameters()))
    assert all(torch.allclose(a, b) for a, b in zip(t["weights_D"], disc.parameters()))


def test_diffusion_against_formulas():
    betas = R.linear_beta_schedule(1000)
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    assert math.isclose(betas[0].item(), 1e-4) and math.isclose(betas[-1].item(), 0.02)
    assert torch.allclose(betas, torch.from_numpy(np.linspace(1e-4, 0.02, 1000)))
    ab = R.alphas_cumprod(betas)
    prod, want = 1.0, []
    for b in betas.tolist():
        prod *= 1 - b
        want.append(prod)
    assert np.allclose(ab.numpy(), want, rtol=1e-12)
    assert 4e-5 < ab[-1].item() < 4.1e-5  # DDPM's schedule leaves almost no signal at T
    for x0, t, noise, abar in diffusion_inputs():
        got = R.q_sample(x0, t, noise, abar)
        for b in range(x0.shape[0]):
            a = abar[t[b]].item()
            want = math.sqrt(a) * x0[b].double() + math.sqrt(1 - a) * noise[b].double()
            assert torch.allclose(got[b].double(), want, rtol=1e-5, atol=1e-6)
        trace = H.ddpm_trace(dict(vars(R)), x0, t, noise, abar)
        model = H.TinyEps([], tuple(x0.shape[1:]), len(abar), 0)
        want = ((model(got, t) - noise.double()) ** 2).mean().item()
        assert math.isclose(trace["loss"], want, rel_tol=1e-6)
        assert trace["requires_grad"] and trace["grad_reaches_model"] and trace["shape"] == []
        assert torch.allclose(trace["model_calls"][0][0].double(), got.double(), rtol=1e-6)
    u, c = randn(90, 2, 3, 4, 4), randn(91, 2, 3, 4, 4)
    assert torch.allclose(R.cfg_noise(u, c, 1.0), c) and torch.allclose(R.cfg_noise(u, c, 0.0), u)
    assert torch.allclose(R.cfg_noise(u, c, 7.5), u + 7.5 * (c - u))


def test_frechet_distance_against_scipy():
    for mu1, s1, mu2, s2 in fid_inputs():
        root = scipy.linalg.sqrtm(s1 @ s2)
        want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(root).real
        got = R.frechet_distance(mu1, s1, mu2, s2)
        assert isinstance(got, float) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    # products of rank-deficient covariances give complex roots with small imaginary parts
    mu1, s1, mu2, s2 = fid_inputs()[1]
    root = scipy.linalg.sqrtm(s1 @ s2)
    assert np.iscomplexobj(root) and 0 < np.abs(root.imag).max() < 1e-3
    # identical Gaussians are at distance 0; 1-D Gaussians: (m1-m2)^2 + (s1-s2)^2
    assert abs(R.frechet_distance(*fid_inputs()[-1])) < 1e-6
    assert math.isclose(R.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]),
                                           np.array([[9.0]])), 4.0 + 1.0)


# ---- mutants and alternatives --------------------------------------------------------------

def reference_namespace():
    ns = {}
    exec(PRELUDE, ns)
    ns.update(vars(R))
    return ns


def with_source(source):
    ns = reference_namespace()
    exec(source, ns)
    return ns


def gan_view(t):
    return [t["returned"], t["weights_G"], t["weights_D"]]


def run_function(function, namespace):
    fn = namespace[function]
    if function in ("reparameterize",):
        return [fn(*c) for c in vae_inputs()]
    if function == "kl_standard_normal":
        return [fn(mu, lv) for mu, lv, _ in vae_inputs()]
    if function == "vae_loss":
        return [fn(*c) for c in vae_loss_inputs()]
    if function == "discriminator_loss":
        return [fn(*c) for c in gan_logit_inputs()]
    if function == "generator_loss":
        return [fn(f) for _, f in gan_logit_inputs()]
    if function == "gan_step":
        return [gan_view(H.gan_trace(namespace, seed=s)) for s in (0, 1)]
    if function == "linear_beta_schedule":
        return [fn(1000), fn(10), fn(50, 1e-3, 0.05)]
    if function == "alphas_cumprod":
        return [fn(R.linear_beta_schedule(T)) for T in (10, 1000)]
    if function == "q_sample":
        return [fn(*c) for c in diffusion_inputs()]
    if function == "ddpm_loss":
        return [H.ddpm_trace(namespace, *c)["loss"] for c in diffusion_inputs()]
    if function == "cfg_noise":
        u, c = randn(90, 2, 3, 4, 4), randn(91, 2, 3, 4, 4)
        return [fn(u, c, s) for s in (0.0, 1.0, 3.5, 7.5)]
    if function == "frechet_distance":
        return [fn(*c) for c in fid_inputs()]
    raise KeyError(function)


def same(a, b, rtol=1e-5, atol=1e-6):
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(same(x, y, rtol, atol) for x, y in zip(a, b)))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=True))
    if a is None or b is None:
        return a is b
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def variants_of(function, label):
    return [v for lab, v in R.PITFALLS.variants.get(function, []) if lab == label]


def test_every_required_label_has_a_mutant_and_a_variant():
    covered = {label for label, _, _ in MUTANTS.MUTANTS}
    assert R.LABELS.required <= covered, R.LABELS.required - covered
    registered = {lab for vs in R.PITFALLS.variants.values() for lab, _ in vs}
    assert R.LABELS.required <= registered


@pytest.mark.parametrize("label,function,source", MUTANTS.MUTANTS,
                         ids=[f"{m[1]}:{m[0]}" for m in MUTANTS.MUTANTS])
def test_mutant_reproduced_by_a_variant(label, function, source):
    ns = with_source(source)
    if label in TRACE_LABELS:
        traces = [H.gan_trace(ns, seed=s) for s in (0, 1)]
        assert all(t["g_reached_before_d_step"] for t in traces)
        assert not any(t[f] for t in traces for f in FAULT_FACTS if f != "g_reached_before_d_step")
        return
    got = run_function(function, ns)
    assert not same(got, run_function(function, reference_namespace())), "mutant equals the reference"
    if function == "gan_step":   # the trace's facts agree with the label
        t = H.gan_trace(ns, seed=0)
        if label == "d-updated-in-g-step":
            assert t["d_changed_after_d_step"] and not t["g_reached_before_d_step"]
        if label == "missing-zero-grad":
            assert t["d_step_used_stale"] and t["g_step_used_stale"]
            assert not t["d_changed_after_d_step"]
        if label == "generator-stepped-first":   # named by the order, no variant reproduces it
            assert t["g_stepped_before_d_step"] and not t["d_changed_after_d_step"]
            return
    outs = []
    for variant in variants_of(function, label):
        vns = reference_namespace()
        vns[function] = variant
        outs.append(run_function(function, vns))
    assert outs, f"no variant registered for {function}/{label}"
    if any(same(got, o) for o in outs):
        return
    # a randomised answer: a detector of the label must recognise every output
    detectors = [d for lab, d in R.LABELS.detectors.get(function, []) if lab == label]
    cases = vae_inputs()[:1]
    assert detectors and all(any(d(out, *c) for d in detectors)
                             for out, c in zip(got, cases)), f"{label} not reproduced"


def test_eps_detector_ignores_right_and_other_answers():
    (mu, logvar, eps), = vae_inputs()[:1]
    detector = R.LABELS.detectors["reparameterize"][0][1]
    assert not detector(R.reparameterize(mu, logvar, eps), mu, logvar, eps)
    assert not detector(R.reparameterize_variance_as_std(mu, logvar, eps), mu, logvar, eps)
    assert not detector(mu, mu, logvar, eps)


@pytest.mark.parametrize("function,source", MUTANTS.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(MUTANTS.ALTERNATIVES)])
def test_alternative_equals_reference(function, source):
    ns = with_source(source)
    assert same(run_function(function, ns), run_function(function, reference_namespace()))
    if function == "gan_step":
        for s in (0, 1):
            t = H.gan_trace(ns, seed=s)
            assert not any(t[fact] for fact in FAULT_FACTS), [f for f in FAULT_FACTS if t[f]]


def test_every_function_has_two_alternatives():
    counts = {}
    for function, _ in MUTANTS.ALTERNATIVES:
        counts[function] = counts.get(function, 0) + 1
    assert all(counts.get(f, 0) >= 2 for f in R.LABELS.functions), counts


def test_every_numeric_variant_differs_from_the_reference():
    """A variant equal to the reference would never name anything (trace-only labels aside)."""
    exempt = set()
    for function, variants in R.PITFALLS.variants.items():
        want = run_function(function, reference_namespace())
        for label, variant in variants:
            if label in exempt:
                continue
            ns = reference_namespace()
            ns[function] = variant
            assert not same(run_function(function, ns), want), (function, label, variant.__name__)
