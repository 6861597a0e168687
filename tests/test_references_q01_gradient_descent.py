"""q01 references agree with analytic derivatives and torch.optim.SGD; the mutants reproduce their
variants and the alternatives the reference (run through the same harnesses the checks use)."""
import types

import numpy as np
import pytest
import torch

from autograder.harnesses import q01_gradient_descent as H
from autograder.references import q01_gradient_descent as R
from mutants.q01_gradient_descent import ALTERNATIVES, MUTANTS

rng = np.random.default_rng(1)
TRACE_LABELS = {"mutates-input"}   # seen in the harness's trace (p_after), not in the values
SETUP = "import numpy as np; import torch; from torch import nn; import torch.nn.functional as F"


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


def same(a, b, rtol=1e-9, atol=1e-12):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def spd(d, lo=0.5, hi=4.0, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q @ np.diag(np.linspace(lo, hi, d)) @ q.T


def with_eigenvalues(lams, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(lams), len(lams))))
    h = q @ np.diag(lams) @ q.T
    return (h + h.T) / 2


A3 = spd(3, seed=3)
GRAD_CASES = [
    dict(function="wavy", p=rng.normal(size=3), params=dict(w=rng.normal(size=3), k=1.7)),
    dict(function="wavy", p=rng.normal(size=(2, 3)), params=dict(w=rng.normal(size=(2, 3)), k=0.8)),
    dict(function="double_well", p=np.array([0.4, -0.7]), params=dict(tilt=0.3, c=0.5)),
    dict(function="quadratic", p=rng.normal(size=3), params=dict(A=A3, b=rng.normal(size=3)), eps=1e-4),
    dict(function="rosenbrock", p=np.array([-0.5, 0.8])),
]
PATH_CASES = [
    dict(function="double_well", p0=np.array([-0.3, 0.6]), lr=0.05, steps=25, momentum=0.9,
         noise=0.3 * rng.normal(size=(25, 2)), params=dict(tilt=0.3)),
    dict(function="double_well", p0=np.array([0.9, -0.5]), lr=0.03, steps=20, params=dict(tilt=0.3)),
    dict(function="quadratic", p0=np.array([1.0, -2.0]), lr=0.1, steps=30, momentum=0.6,
         params=dict(A=np.array([[3.0, 0.5], [0.5, 1.0]]), b=np.array([0.2, -0.1]))),
]
HESSIANS = [with_eigenvalues(l, s) for s, l in enumerate([
    [1.0, 3.0], [-2.0, -0.5], [2.0, -1.0], [3.0, -1.0, -1.0], [-1.0, -2.0, -3.0], [0.5, 1.0, 2.0],
    [1e-5, 2e-5], [1e-9, 100.0], [-1e-12, 5.0], [1.0, 2.0, -3.0, 4.0]])]
SPD = [spd(2, 1.0, 10.0, 4), spd(3, 0.2, 7.0, 5), np.diag([4.0, 0.25])]
BATCHES = [(n, b, d) for n in (1, 9, 10, 12, 100, 101) for b in (1, 3, 4, 5, 10, 64) for d in (False, True)]


def evaluate(function, ns):
    """What the checks compare for `function`, on every case above."""
    if function == "numerical_gradient":
        return [H.numerical_gradient_trace(ns, **c)["value"] for c in GRAD_CASES]
    if function == "hessian":
        return [H.hessian_trace(ns, **c)["value"] for c in GRAD_CASES if np.ndim(c["p"]) == 1]
    if function == "gd_path":
        with np.errstate(all="ignore"):
            return [H.gd_path_trace(ns, **c)["value"] for c in PATH_CASES]
    if function == "classify_critical_point":
        return [ns[function](h) for h in HESSIANS]
    if function == "max_stable_lr":
        return [ns[function](h) for h in SPD]
    if function == "iterations_per_epoch":
        return [ns[function](*case) for case in BATCHES]
    raise KeyError(function)


# ---- the references are right ------------------------------------------------------------------

def test_numerical_gradient_matches_the_analytic_gradient_and_leaves_p_alone():
    for case in GRAD_CASES:
        _, grad = H._scalar_and_gradient(case["function"], case.get("params", {}))
        trace = H.numerical_gradient_trace(namespace(), **case)
        assert trace["value"].shape == np.shape(case["p"])
        assert np.allclose(trace["value"], grad(case["p"]), rtol=1e-7, atol=1e-6)
        assert np.array_equal(trace["p_after"], case["p"])


def test_hessian_is_symmetric_and_matches_the_analytic_one():
    b = rng.normal(size=3)
    h = R.hessian(lambda p: 0.5 * p @ A3 @ p + b @ p, rng.normal(size=3))
    assert np.array_equal(h, h.T) and np.allclose(h, A3, atol=1e-5)
    x, y, c = 0.4, -0.7, 0.5   # double well: f = (x^2-1)^2 + 0.3x + y^2 + c x y
    f, _ = H._scalar_and_gradient("double_well", dict(tilt=0.3, c=c))
    want = np.array([[12 * x * x - 4, c], [c, 2.0]])
    assert np.allclose(R.hessian(f, np.array([x, y])), want, atol=1e-5)
    # torch's Hessian of a smooth 3-D function
    w = torch.tensor(rng.normal(size=3))
    g = lambda p: (torch.sin(p * w).sum() + (p[0] * p[1] * p[2]) + (p ** 4).sum() / 4)
    p0 = rng.normal(size=3)
    want = torch.autograd.functional.hessian(g, torch.tensor(p0)).numpy()
    got = R.hessian(lambda p: float(g(torch.tensor(p))), p0)
    assert np.allclose(got, want, atol=1e-5)
    [(label, not_symmetric)] = R.LABELS.detectors["hessian"]
    assert label == "hessian-not-symmetric"
    assert not not_symmetric(got) and not_symmetric(np.array([[1.0, 0.3], [0.0, 1.0]]))


def test_gd_path_is_torch_sgd_with_momentum_over_a_long_run():
    for momentum, steps in ((0.0, 300), (0.9, 300), (0.5, 1)):
        f, grad = H._scalar_and_gradient("double_well", dict(tilt=0.3, c=0.2))
        noise = 0.2 * rng.normal(size=(steps, 2))
        p0 = np.array([-0.2, 0.7])
        path = R.gd_path(grad, p0, 0.02, steps, momentum, noise)
        p = torch.tensor(p0, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.02, momentum=momentum)
        want = [p0]
        for t in range(steps):
            p.grad = torch.from_numpy(grad(p.detach().numpy()) + noise[t])
            opt.step()
            want.append(p.detach().numpy().copy())
        assert path.shape == (steps + 1, 2) and np.array_equal(path[0], p0)
        assert np.allclose(path, np.array(want), rtol=1e-12, atol=1e-12)


def test_gd_path_defaults_to_plain_descent():
    _, grad = H._scalar_and_gradient("rosenbrock", {})
    path = R.gd_path(grad, np.array([-1.0, 1.0]), 1e-3, 5)
    p = np.array([-1.0, 1.0])
    for _ in range(5):
        p = p - 1e-3 * grad(p)
    assert np.allclose(path[-1], p, rtol=0, atol=1e-15)


def test_classify_critical_point():
    want = ["minimum", "maximum", "saddle", "saddle", "maximum", "minimum",
            "minimum", "degenerate", "degenerate", "saddle"]
    assert [R.classify_critical_point(h) for h in HESSIANS] == want
    assert R.classify_critical_point(np.diag([1e-3, 1.0]), tol=1e-2) == "degenerate"


def test_max_stable_lr_is_the_divergence_threshold():
    for h in SPD:
        lr = R.max_stable_lr(h)
        for scale, converges in ((0.99, True), (1.01, False)):
            p = np.ones(len(h))
            for _ in range(3000):
                p = p - scale * lr * (h @ p)
            assert (np.linalg.norm(p) < 1.0) == converges


def test_iterations_per_epoch_is_len_of_a_dataloader():
    for n, b, drop in BATCHES:
        loader = torch.utils.data.DataLoader(range(n), batch_size=b, drop_last=drop)
        got = R.iterations_per_epoch(n, b, drop)
        assert got == len(loader) and isinstance(got, int)


# ---- the mutants reproduce their variants; the alternatives the reference ----------------------

REFERENCE = {f: evaluate(f, namespace()) for f in R.LABELS.functions}


@pytest.mark.parametrize("label,function,source", MUTANTS, ids=[f"{m[1]}:{m[0]}" for m in MUTANTS])
def test_mutant_reproduces_a_variant_of_its_label(label, function, source):
    assert label in R.LABELS.required or label in R.LABELS.extra
    if label in TRACE_LABELS:
        case = dict(GRAD_CASES[0], p=GRAD_CASES[0]["p"].copy())
        trace = H.numerical_gradient_trace(namespace(source), **case)
        assert not np.array_equal(trace["p_after"], case["p"])
        return
    got = evaluate(function, namespace(source))
    assert not same(got, REFERENCE[function])
    if label == "hessian-not-symmetric":   # a detector, not a variant, names it
        detectors = [test for lab, test in R.LABELS.detectors[function] if lab == label]
        assert any(any(test(h) for h in got) for test in detectors)
        return
    variants = [fn for lab, fn in R.PITFALLS.variants[function] if lab == label]
    assert any(same(got, evaluate(function, namespace(**{function: v}))) for v in variants)


@pytest.mark.parametrize("function,source", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    tol = dict(rtol=1e-5, atol=1e-5) if function == "hessian" else {}
    assert same(evaluate(function, ns), REFERENCE[function], **tol)
    if function == "numerical_gradient":   # restored: at most one rounding away
        case = dict(GRAD_CASES[1], p=GRAD_CASES[1]["p"].copy())
        after = H.numerical_gradient_trace(ns, **case)["p_after"]
        assert np.allclose(after, case["p"], rtol=1e-15, atol=0)


def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert R.LABELS.required <= {m[0] for m in MUTANTS}
    for f in R.LABELS.functions:
        assert sum(a[0] == f for a in ALTERNATIVES) >= 2, f
    for f, variants in R.PITFALLS.variants.items():
        assert f in R.LABELS.functions and all(lab in R.LABELS for lab, _ in variants)
