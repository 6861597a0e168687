"""q04 schedules equal torch.optim.lr_scheduler's at every step of long runs (StepLR, ExponentialLR,
CosineAnnealingLR, OneCycleLR, CosineAnnealingWarmRestarts, the warmup + cosine LambdaLR on two param
groups); the mutants reproduce their variants and the alternatives the reference."""
import math
import types

import numpy as np
import pytest

from autograder.harnesses import q04_lr_schedules as H
from autograder.references import q04_lr_schedules as R
from mutants.q04_lr_schedules import ALTERNATIVES, MUTANTS

SETUP = ("import math; import numpy as np; import torch; from torch import nn; "
         "import torch.nn.functional as F")
RTOL = 1e-10

RUNS = {   # function -> (steps, args after step, kwargs) per run
    "constant_lr": [(range(50), (0.3,), {})],
    "step_decay_lr": [(range(80), (0.1, 7), dict(gamma=0.5)), (range(100), (1.0, 30), {})],
    "exponential_lr": [(range(300), (0.1, 0.99), {})],
    "cosine_lr": [(range(130), (100, 0.1), dict(min_lr=1e-3)), (range(60), (40, 0.5), {})],
    "warmup_cosine_lr": [(range(130), (100, 10, 0.1), dict(min_lr=1e-3)), (range(60), (50, 5, 1.0), {}),
                         (range(40), (30, 0, 0.2), dict(min_lr=0.01))],
    "one_cycle_lr": [(range(101), (100, 0.1), {}),
                     (range(201), (200, 0.5), dict(pct_start=0.25, div_factor=10.0, final_div_factor=100.0))],
    "sgdr_lr": [(range(100), (0.1, 10), dict(min_lr=1e-3)), (range(160), (0.1, 5), dict(t_mult=2)),
                (range(130), (1.0, 4), dict(t_mult=3, min_lr=0.1))],
}
SCALED = [(0.1, 256, 1024), (0.1, 256, 64), (3e-4, 32, 48)]
SCHEDULERS = [dict(base_lrs=(0.1, 0.01), total_steps=50, warmup_steps=5),
              dict(base_lrs=(0.1, 0.03), total_steps=40, warmup_steps=8, min_lr_ratio=0.1),
              dict(base_lrs=(1.0, 0.5), total_steps=20, warmup_steps=0, min_lr_ratio=0.05)]


def namespace(source=None, **replace):
    """The references as the grader's oracle lays them out: every function rebound to one dict
    that is also its globals (a swapped-in variant is seen by the others, and sees itself under
    the name it imitates), then the notebook's imports and a mutant's or alternative's source."""
    ns = {}
    for name, value in vars(R).items():
        if isinstance(value, types.FunctionType) and value.__module__ == R.__name__:
            value = rebind(value, ns)
        ns[name] = value
    exec(SETUP, ns)
    ns.update({name: rebind(fn, ns) for name, fn in replace.items()})
    if source:
        exec(source, ns)
    return ns


def rebind(fn, globals_):
    return types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)


def same(a, b, rtol=RTOL, atol=1e-15):
    if isinstance(a, list) and isinstance(b, list) and a and isinstance(a[0], list):
        return len(a) == len(b) and all(same(x, y, rtol, atol) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def evaluate(function, ns):
    if function == "linear_scaled_lr":
        return [ns[function](*c) for c in SCALED]
    if function == "make_warmup_cosine_scheduler":
        return [H.warmup_cosine_scheduler_trace(ns, **c)["lrs"] for c in SCHEDULERS]
    out = []
    for steps, args, kwargs in RUNS[function]:
        out += H.schedule_values(ns, function, steps, args, kwargs)["values"]
    return out


# ---- the references are torch's schedulers ------------------------------------------------------------

def test_step_and_exponential_equal_torch_over_1000_steps():
    for base, size, gamma in ((0.1, 30, 0.1), (0.5, 7, 0.5), (1.0, 1, 0.99)):
        want = R.torch_lrs("step", 1000, base_lr=base, step_size=size, gamma=gamma)
        got = [R.step_decay_lr(s, base, size, gamma) for s in range(1000)]
        assert np.allclose(got, want, rtol=RTOL, atol=0) and got[0] == base
    for base, gamma in ((0.1, 0.995), (1.0, 0.9)):
        want = R.torch_lrs("exponential", 1000, base_lr=base, gamma=gamma)
        assert np.allclose([R.exponential_lr(s, base, gamma) for s in range(1000)], want, rtol=RTOL, atol=0)


def test_cosine_equals_cosine_annealing_up_to_the_end_and_then_holds_min_lr():
    for total, base, lo in ((1000, 0.1, 0.0), (333, 0.5, 1e-3)):
        want = R.torch_lrs("cosine", total + 1, base_lr=base, total_steps=total, min_lr=lo)
        got = [R.cosine_lr(s, total, base, lo) for s in range(total + 1)]
        assert np.allclose(got, want, rtol=RTOL, atol=1e-15)
        assert R.cosine_lr(0, total, base, lo) == base and R.cosine_lr(total + 50, total, base, lo) == lo


@pytest.mark.parametrize("total,max_lr,kw", [(1000, 0.1, {}), (1000, 1.0, dict(pct_start=0.25)),
                                             (500, 0.3, dict(div_factor=10.0, final_div_factor=100.0)),
                                             (97, 0.05, dict(pct_start=0.4))])
def test_one_cycle_equals_one_cycle_lr_at_every_step(total, max_lr, kw):
    want = R.torch_lrs("one_cycle", total + 1, max_lr=max_lr, total_steps=total, **kw)
    got = [R.one_cycle_lr(s, total, max_lr, **kw) for s in range(total + 1)]
    assert np.allclose(got, want, rtol=RTOL, atol=1e-15)
    assert got[0] == want[0] and got[total - 1] == pytest.approx(want[total - 1], rel=1e-12)


@pytest.mark.parametrize("t0,t_mult,lo", [(10, 1, 0.0), (7, 2, 1e-3), (5, 3, 0.0), (1, 2, 0.0),
                                         (16, 1, 0.01)])
def test_sgdr_equals_cosine_annealing_warm_restarts_over_1000_steps(t0, t_mult, lo):
    want = R.torch_lrs("sgdr", 1000, base_lr=0.1, t0=t0, t_mult=t_mult, min_lr=lo)
    got = [R.sgdr_lr(s, 0.1, t0, t_mult, lo) for s in range(1000)]
    assert np.allclose(got, want, rtol=RTOL, atol=1e-15)


def test_warmup_cosine_formula():
    total, warm, base, lo = 1000, 100, 0.3, 0.003
    lrs = [R.warmup_cosine_lr(s, total, warm, base, lo) for s in range(total + 20)]
    assert lrs[0] == 0.0 and lrs[warm] == base and lrs[warm // 2] == base / 2
    assert math.isclose(lrs[warm + (total - warm) // 2], (base + lo) / 2, rel_tol=1e-12)
    assert all(lr == lo for lr in lrs[total:])
    assert np.all(np.diff(lrs[warm:total + 1]) <= 0) and np.all(np.diff(lrs[:warm + 1]) > 0)


@pytest.mark.parametrize("case", SCHEDULERS + [dict(base_lrs=(0.1, 0.01), total_steps=1000, warmup_steps=100,
                                                    min_lr_ratio=0.01, n_steps=1100)])
def test_lambda_lr_gives_warmup_cosine_for_each_group(case):
    trace = H.warmup_cosine_scheduler_trace(namespace(), **case)
    assert trace["is_lambda_lr"] and trace["type"] == "LambdaLR"
    ratio = case.get("min_lr_ratio", 0.0)
    want = [[R.warmup_cosine_lr(s, case["total_steps"], case["warmup_steps"], b, ratio * b)
             for b in case["base_lrs"]] for s in range(len(trace["lrs"]))]
    assert np.allclose(trace["lrs"], want, rtol=RTOL, atol=1e-15)
    n = min(30, len(want))
    single = R.torch_lrs("warmup_cosine", n, base_lr=case["base_lrs"][1], total_steps=case["total_steps"],
                         warmup_steps=case["warmup_steps"], min_lr_ratio=ratio)
    assert np.allclose(single, np.array(want)[:n, 1], rtol=RTOL, atol=1e-15)


def test_linear_scaling():
    assert R.linear_scaled_lr(0.1, 256, 1024) == pytest.approx(0.4)
    assert R.linear_scaled_lr(0.1, 256, 256) == 0.1


# ---- the mutants reproduce their variants; the alternatives the reference ----------------------

REFERENCE = {f: evaluate(f, namespace()) for f in R.LABELS.functions}


@pytest.mark.parametrize("label,function,source", MUTANTS, ids=[f"{m[1]}:{m[0]}" for m in MUTANTS])
def test_mutant_reproduces_a_variant_of_its_label(label, function, source):
    assert label in R.LABELS.required or label in R.LABELS.extra
    got = evaluate(function, namespace(source))
    assert not same(got, REFERENCE[function])
    variants = [fn for lab, fn in R.PITFALLS.variants[function] if lab == label]
    assert any(same(got, evaluate(function, namespace(**{function: v}))) for v in variants)


@pytest.mark.parametrize("function,source", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_alternative_equals_the_reference(function, source):
    assert same(evaluate(function, namespace(source)), REFERENCE[function])


def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert R.LABELS.required <= {m[0] for m in MUTANTS}
    for f in R.LABELS.functions:
        assert sum(a[0] == f for a in ALTERNATIVES) >= 2, f
    for f, variants in R.PITFALLS.variants.items():
        assert f in R.LABELS.functions and all(lab in R.LABELS for lab, _ in variants)
