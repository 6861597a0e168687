"""q19 references agree with PyTorch, and the mutants and alternatives behave as their labels say.

train_with_accumulation, LoRALinear and DynamicLossScaler go through the harness, as grading does:
a variant function or class is put in the namespace under the catalogue's name and run by the
same harness. The scaler is compared with torch.amp.GradScaler("cpu") over scripted steps.
"""
import importlib

import numpy as np
import pytest
import torch
from torch import nn

from autograder.harnesses import q19_efficient_training as H
from autograder.references import q19_efficient_training as R

MUTANTS = importlib.import_module("mutants.q19_efficient_training")
PRELUDE = ("import numpy as np\nimport torch\nfrom torch import nn\n"
           "import torch.nn.functional as F\n")
# Labels no output comparison can show (random init, requires_grad): named from the trace.
TRACE_LABELS = {"lora-b-not-zero", "base-not-frozen"}


# ---- train_with_accumulation ----------------------------------------------------------------------

ACCUM_CONFIGS = [dict(n_micro=5, accum_steps=2), dict(n_micro=6, accum_steps=3),
                 dict(n_micro=4, accum_steps=4), dict(n_micro=3, accum_steps=1),
                 dict(n_micro=7, accum_steps=3, momentum=0.9), dict(n_micro=2, accum_steps=5)]


def run_accumulation(namespace):
    out = []
    for i, cfg in enumerate(ACCUM_CONFIGS):
        t = H.accumulation_trace(namespace, seed=i, **cfg)
        out.append([t["losses"], t["weights"]])
    return out


def large_batch_run(seed, n_micro, accum_steps, make_opt):
    """The same groups as single large batches with a mean loss: what accumulation must equal."""
    events = []
    model = H.TracedMLP(events, seed)
    opt = make_opt(model.parameters())
    batches = H.accumulation_batches(seed, n_micro, 3)
    losses = []
    for s in range(0, n_micro, accum_steps):
        group = batches[s:s + accum_steps]
        x = torch.cat([b[0] for b in group])
        y = torch.cat([b[1] for b in group])
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("make_opt", [lambda p: torch.optim.SGD(p, lr=0.1),
                                      lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
                                      lambda p: torch.optim.Adam(p, lr=0.01)])
def test_accumulation_equals_large_batches(make_opt):
    for seed, (n, k) in enumerate([(5, 2), (6, 3), (7, 3), (4, 1), (3, 5), (40, 4), (41, 6)]):
        model = H.TracedMLP([], seed)
        losses = R.train_with_accumulation(model, H.accumulation_batches(seed, n, 3), nn.MSELoss(),
                                           make_opt(model.parameters()), k)
        want_losses, want_weights = large_batch_run(seed, n, k, make_opt)
        assert all(isinstance(v, float) for v in losses)
        assert np.allclose(losses, want_losses, rtol=1e-5, atol=1e-7)
        for a, b in zip(model.parameters(), want_weights):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


# ---- LoRALinear -------------------------------------------------------------------------------------

LORA_CONFIGS = [dict(in_features=6, out_features=6, r=2, alpha=4.0),
                dict(in_features=5, out_features=3, r=2, alpha=8.0, bias=False),
                dict(in_features=4, out_features=7, r=1, alpha=1.0, seed=3),
                dict(in_features=8, out_features=8, r=4, alpha=16.0, seed=5)]


def lora_view(trace):
    """The numbers a variant can reproduce exactly (not the random initial lora_A)."""
    m = trace["merged"] or {}
    return [trace["out"], m.get("weight"), m.get("bias"), m.get("out"), m.get("adapter_out_after"),
            m.get("base_unchanged"), m.get("is_base"),
            (m.get("error") or "").split(":")[0]]


def run_lora(namespace):
    return [lora_view(H.lora_trace(namespace, **cfg)) for cfg in LORA_CONFIGS]


def test_lora_reference_contract():
    for cfg in LORA_CONFIGS:
        t = H.lora_trace(dict(vars(R)), **cfg)
        r, n_in, n_out = cfg["r"], cfg["in_features"], cfg["out_features"]
        assert t["base_kept"] and not any(t["base_requires_grad"].values())
        assert t["trainable"] == ["lora_A", "lora_B"]
        assert t["lora_A_shape"] == [r, n_in] and t["lora_B_shape"] == [n_out, r]
        assert t["lora_B_zero"] and not t["lora_A_zero"]
        assert torch.equal(t["out_initial"], t["base_out"])          # zero initial delta
        assert t["received_grad"] == ["lora_B"]                        # A's grad is 0 while B = 0
        m = t["merged"]
        assert m["is_linear"] and not m["is_base"] and m["base_unchanged"]
        assert m["has_bias"] == cfg.get("bias", True)
        assert torch.allclose(m["out"], t["out"], atol=1e-5)          # merged equals the adapter
        assert torch.allclose(m["adapter_out_after"], t["out"])
        # forward equals the formula with the given A and B
        g = torch.Generator().manual_seed(cfg.get("seed", 0))
        base = H._seeded_(nn.Linear(n_in, n_out, bias=cfg.get("bias", True)), g)
        x, A, B = torch.randn(5, n_in, generator=g), torch.randn(r, n_in, generator=g), \
            torch.randn(n_out, r, generator=g)
        with torch.no_grad():
            want = base(x) + x @ A.T @ B.T * cfg["alpha"] / r
            assert torch.allclose(t["out"], want, atol=1e-5)
            assert torch.allclose(m["weight"], base.weight + cfg["alpha"] / r * B @ A, atol=1e-6)


def test_classes_are_not_standins():
    """A stand-in answers with plain data through a proxy: it cannot hand back a class."""
    assert "LoRALinear" not in R.STANDINS and "DynamicLossScaler" not in R.STANDINS


def test_lora_param_count():
    for n_in, n_out, r in [(768, 768, 8), (5, 3, 2), (1024, 4096, 16)]:
        layer = R.LoRALinear(nn.Linear(n_in, n_out), r, 2 * r)
        assert R.lora_param_count(n_in, n_out, r) == sum(
            p.numel() for p in layer.parameters() if p.requires_grad)


# ---- DynamicLossScaler ------------------------------------------------------------------------------

class GradScalerAsCatalogue:
    """torch.amp.GradScaler("cpu") behind the catalogue's interface: step() = step() + update(),
    returning whether the step was taken (the scale only shrinks after an overflow)."""

    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self.s = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_factor=growth_factor,
                                      backoff_factor=backoff_factor, growth_interval=growth_interval)

    def scale(self, loss):
        return self.s.scale(loss)

    def step(self, optimizer):
        before = self.s.get_scale()
        self.s.step(optimizer)
        self.s.update()
        return self.s.get_scale() >= before

    def get_scale(self):
        return self.s.get_scale()


SCRIPT = ["ok", "ok", "inf", "ok", "ok", "ok", "ok", "nan", "ok", "ok", "ok", "ok", "ok", "ok",
          "inf", "inf", "ok", "ok"]
SCALER_CONFIGS = [dict(script=SCRIPT, init_scale=1024.0, growth_interval=3),
                  dict(script=SCRIPT[:8], init_scale=65536.0, growth_interval=2000),
                  dict(script=SCRIPT, init_scale=2.0 ** 20, growth_factor=4.0, backoff_factor=0.25,
                       growth_interval=2, seed=2),
                  dict(script=["ok"] * 5 + ["nan"] + ["ok"] * 5, init_scale=1000.0,
                       growth_factor=3.0, backoff_factor=0.5, growth_interval=2, seed=4)]


def scaler_view(trace):
    keys = ("returned", "stepped", "seen_grads", "weights_changed", "weights_finite", "scale",
            "scale_factor")
    return [[s[k] for k in keys] for s in trace["steps"]] + [trace["weights"]]


def run_scaler(namespace):
    return [scaler_view(H.loss_scaler_trace(namespace, **cfg)) for cfg in SCALER_CONFIGS]


def test_scaler_equals_grad_scaler():
    for cfg in SCALER_CONFIGS:
        ours = H.loss_scaler_trace(dict(vars(R)), **cfg)
        theirs = H.loss_scaler_trace({"DynamicLossScaler": GradScalerAsCatalogue}, **cfg)
        assert same(scaler_view(ours), scaler_view(theirs))
        skipped = [s for s in ours["steps"] if s["kind"] != "ok"]
        assert skipped and all(s["returned"] is False and not s["stepped"] for s in skipped)
        assert all(s["weights_finite"] for s in ours["steps"])
        # the by-hand scaler the mistakes' variants are built on agrees too
        by_hand = H.loss_scaler_trace({"DynamicLossScaler": R._ScalerByHand}, **cfg)
        assert same(scaler_view(by_hand), scaler_view(theirs))
    scales = [s["scale"] for s in H.loss_scaler_trace(dict(vars(R)), **SCALER_CONFIGS[0])["steps"]]
    assert scales[:8] == [1024, 1024, 512, 512, 512, 1024, 1024, 512]


# ---- training_memory_bytes --------------------------------------------------------------------------

def test_memory_figures():
    per_param = {("sgd", False): 8, ("momentum", False): 12, ("adam", False): 16,
                 ("sgd", True): 8, ("momentum", True): 12, ("adam", True): 16}
    for (opt, mixed), b in per_param.items():
        assert R.training_memory_bytes(1000, opt, mixed) == 1000 * b
        assert R.training_memory_bytes(1000, opt, mixed, 500) == 1000 * b + 500 * (2 if mixed else 4)
    assert R.training_memory_bytes(7_000_000_000, "adam", True) == 112_000_000_000


MEMORY_CASES = [(n, opt, mp, a) for n in (1000, 123_457) for opt in ("sgd", "momentum", "adam")
                for mp in (False, True) for a in (0, 5000)]


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


def run_function(function, namespace):
    if function == "train_with_accumulation":
        return run_accumulation(namespace)
    if function == "LoRALinear":
        return run_lora(namespace)
    if function == "DynamicLossScaler":
        return run_scaler(namespace)
    fn = namespace[function]
    if function == "lora_param_count":
        return [fn(*c) for c in [(768, 768, 8), (5, 3, 2), (10, 4, 1)]]
    if function == "training_memory_bytes":
        return [fn(*c) for c in MEMORY_CASES]
    raise KeyError(function)


def same(a, b):
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-6, equal_nan=True))
    if a is None or b is None or isinstance(a, (str, bool)) or isinstance(b, (str, bool)):
        return a == b
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))


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
        traces = [H.lora_trace(ns, **cfg) for cfg in LORA_CONFIGS]
        if label == "lora-b-not-zero":
            assert not any(t["lora_B_zero"] for t in traces)
            assert not any(torch.allclose(t["out_initial"], t["base_out"]) for t in traces)
        else:
            assert all(any(t["base_requires_grad"].values()) for t in traces)
            assert all("base.weight" in t["received_grad"] for t in traces)
        # the variant's trace shows the same property
        vt = H.lora_trace({"LoRALinear": variants_of(function, label)[0]}, **LORA_CONFIGS[0])
        assert (not vt["lora_B_zero"]) if label == "lora-b-not-zero" else vt["base_requires_grad"]["weight"]
        return
    got = run_function(function, ns)
    assert not same(got, run_function(function, reference_namespace())), "mutant equals the reference"
    outs = []
    for variant in variants_of(function, label):
        vns = reference_namespace()
        vns[function] = variant
        outs.append(run_function(function, vns))
    assert outs, f"no variant registered for {function}/{label}"
    assert any(same(got, o) for o in outs), f"no {label} variant reproduces the mutant"


@pytest.mark.parametrize("function,source", MUTANTS.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(MUTANTS.ALTERNATIVES)])
def test_alternative_equals_reference(function, source):
    ns = with_source(source)
    assert same(run_function(function, ns), run_function(function, reference_namespace()))
    if function == "LoRALinear":
        for cfg in LORA_CONFIGS:
            t = H.lora_trace(ns, **cfg)
            assert t["lora_B_zero"] and not t["lora_A_zero"] and t["base_kept"]
            assert not any(t["base_requires_grad"].values())
            assert torch.allclose(t["out_initial"], t["base_out"])


def test_every_function_has_two_alternatives():
    counts = {}
    for function, _ in MUTANTS.ALTERNATIVES:
        counts[function] = counts.get(function, 0) + 1
    assert all(counts.get(f, 0) >= 2 for f in R.LABELS.functions), counts


def test_every_numeric_variant_differs_from_the_reference():
    """A variant equal to the reference would never name anything (trace-only labels aside)."""
    exempt = TRACE_LABELS | {"lora-a-zero"}
    for function, variants in R.PITFALLS.variants.items():
        want = run_function(function, reference_namespace())
        for label, variant in variants:
            if label in exempt:
                continue
            ns = reference_namespace()
            ns[function] = variant
            assert not same(run_function(function, ns), want), (function, label, variant.__name__)
