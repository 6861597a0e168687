"""q02 references agree with torch.autograd (every parameter of the MLP, batch size 1 included); the
mutants reproduce their variants and the alternatives the reference, through the checks' harnesses."""
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.harnesses import q02_backpropagation as H
from autograder.references import q02_backpropagation as R
from mutants.q02_backpropagation import ALTERNATIVES, MUTANTS

rng = np.random.default_rng(2)
TRACE_LABELS = {"mutates-input"}
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
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rtol, atol) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def mlp_params(D, H1, H2, C, seed):
    g = np.random.default_rng(seed)
    shapes = dict(W1=(D, H1), b1=(H1,), W2=(H1, H2), b2=(H2,), W3=(H2, C), b3=(C,))
    return {k: g.normal(size=s) * 0.7 for k, s in shapes.items()}


def with_zeros(shape, seed):
    z = np.random.default_rng(seed).normal(size=shape)
    z.flat[::3] = 0.0   # exact zeros: the gradient there is 0
    return z


LINEAR = [(rng.normal(size=(1, 4)), rng.normal(size=(1, 3)), rng.normal(size=(3, 4))),
          (rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=(4, 4))),
          (rng.normal(size=(3, 6)), rng.normal(size=(3, 2)), rng.normal(size=(2, 6)))]
RELU = [(rng.normal(size=(4, 5)), with_zeros((4, 5), 1)), (rng.normal(size=(1, 3)), with_zeros((1, 3), 2))]
CE = [(rng.normal(size=(6, 4)) * 2, rng.integers(0, 4, 6)),
      (np.array([[1000.0, 1001.0, 990.0], [-5.0, 0.0, 700.0]]), np.array([2, 1])),
      (np.array([[0.5, -1.0, 2.0, 0.0]]), np.array([3]))]
MLP = [(mlp_params(4, 6, 5, 3, s), rng.normal(size=(B, 4)), rng.normal(size=(B, 3)) / B)
       for s, B in ((0, 1), (1, 7))]
CHECKS = [dict(function="wavy", x=rng.normal(size=5), params=dict(w=rng.normal(size=5), k=1.3)),
          dict(function="quadratic", x=rng.normal(size=3),
               params=dict(A=np.diag([1.0, 2.0, 3.0]), b=np.ones(3))),
          dict(function="softmax_ce", x=rng.normal(size=(3, 4)), params=dict(y=np.array([0, 3, 1]))),
          # f does not depend on x[1]: both gradients are exactly 0 there (the 1e-8 floor matters)
          dict(function="quadratic", x=rng.normal(size=3),
               params=dict(A=np.diag([1.0, 0.0, 3.0]), b=np.array([1.0, 0.0, -1.0])))]
TIED = [(rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=(4, 3))),
        (rng.normal(size=(1, 2)), rng.normal(size=(2, 2)), rng.normal(size=(1, 2)))]


def exact_gradient(case):
    x = torch.tensor(case["x"], requires_grad=True)
    p = case["params"]
    if case["function"] == "wavy":
        out = (torch.tensor(p["w"]) * torch.sin(p["k"] * x)).sum() + 0.5 * (x ** 2).sum()
    elif case["function"] == "quadratic":
        out = 0.5 * x @ torch.tensor(p["A"]) @ x + torch.tensor(p["b"]) @ x
    else:
        out = F.cross_entropy(x, torch.tensor(p["y"]))
    out.backward()
    return x.grad.numpy()


def grad_check_cases():
    """Each check with the exact gradient (errors ~1e-10) and with a wrong one (errors ~1e-2..1)."""
    out = []
    for c in CHECKS:
        g = exact_gradient(c)
        wrong = g + 0.05 * np.random.default_rng(7).normal(size=g.shape)
        out += [dict(c, analytic_grad=g), dict(c, analytic_grad=wrong)]
    return out


GRAD_CHECKS = grad_check_cases()


def evaluate(function, ns):
    if function == "linear_backward":
        return [ns[function](*c) for c in LINEAR]
    if function == "relu_backward":
        return [ns[function](*c) for c in RELU]
    if function == "softmax_cross_entropy":
        with np.errstate(all="ignore"):
            return [ns[function](*c) for c in CE]
    if function == "mlp_forward":
        return [H.mlp_trace(ns, *c[:2], backward=False)["logits"] for c in MLP]
    if function == "mlp_backward":
        return [H.mlp_trace(ns, *c)["grads"] for c in MLP]
    if function == "grad_check":
        return [H.grad_check_trace(ns, **c)["value"] for c in GRAD_CHECKS]
    if function == "tied_weights_grad":
        return [ns[function](*c) for c in TIED]
    raise KeyError(function)


TOL = {"grad_check": dict(rtol=1e-5, atol=1e-7)}   # below 1e-7 a relative error is rounding noise


# ---- the references are right ------------------------------------------------------------------

def test_linear_and_relu_backward_match_autograd():
    for dout, x, W in LINEAR:
        xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
        bt = torch.zeros(W.shape[1], dtype=torch.float64, requires_grad=True)
        (xt @ Wt + bt).backward(torch.tensor(dout))
        assert same(R.linear_backward(dout, x, W), (xt.grad, Wt.grad, bt.grad))
    for dout, z in RELU:
        zt = torch.tensor(z, requires_grad=True)
        torch.relu(zt).backward(torch.tensor(dout))
        assert same(R.relu_backward(dout, z), zt.grad)
        assert np.all(R.relu_backward(dout, z)[z == 0] == 0)


def test_softmax_cross_entropy_matches_torch_and_is_stable():
    for logits, y in CE:
        z = torch.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(z, torch.tensor(y))
        loss.backward()
        got_loss, got_grad = R.softmax_cross_entropy(logits, y)
        assert isinstance(got_loss, float) and np.isclose(got_loss, loss.item(), rtol=1e-12)
        assert same(got_grad, z.grad)
    loss, grad = R.softmax_cross_entropy(np.array([[0.0, 5000.0]]), np.array([0]))
    assert loss == 5000.0 and np.all(np.isfinite(grad))


@pytest.mark.parametrize("B", [1, 2, 16])
def test_mlp_backward_matches_autograd_for_every_parameter(B):
    for seed in range(3):
        params = mlp_params(5, 7, 6, 4, seed)
        x = np.random.default_rng(seed + 10).normal(size=(B, 5))
        y = np.random.default_rng(seed + 20).integers(0, 4, B)
        tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        h = torch.relu(torch.tensor(x) @ tp["W1"] + tp["b1"])
        h = torch.relu(h @ tp["W2"] + tp["b2"])
        logits_t = h @ tp["W3"] + tp["b3"]
        F.cross_entropy(logits_t, torch.tensor(y)).backward()
        logits, cache = R.mlp_forward(params, x)
        _, dlogits = R.softmax_cross_entropy(logits, y)
        grads = R.mlp_backward(params, cache, dlogits)
        assert same(logits, logits_t.detach())
        assert grads.keys() == params.keys()
        for k in params:
            assert grads[k].shape == params[k].shape
            assert np.allclose(grads[k], tp[k].grad.numpy(), rtol=1e-10, atol=1e-13), k
        trace = H.mlp_trace(namespace(), params, x, dlogits)
        assert same(trace["grads"], grads) and trace["changed"] == []


def test_grad_check_is_the_catalogue_formula_and_leaves_x_alone():
    for case in GRAD_CHECKS:
        a = case["analytic_grad"]
        trace = H.grad_check_trace(namespace(), **case)
        n = exact_gradient(case)
        want = np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n)))
        assert np.isclose(trace["value"], want, rtol=1e-4, atol=1e-7)
        assert np.array_equal(trace["x_after"], case["x"]) and trace["calls"] == 2 * np.size(case["x"])
    # the floor: a zero gradient checked against itself is 0, not nan
    assert R.grad_check(lambda v: 1.0, np.zeros(3), np.zeros(3)) == 0.0


def test_tied_weights_grad_matches_autograd():
    for x, W, dout in TIED:
        Wt = torch.tensor(W, requires_grad=True)
        ((torch.tensor(x) @ Wt) @ Wt).backward(torch.tensor(dout))
        assert same(R.tied_weights_grad(x, W, dout), Wt.grad)


# ---- the mutants reproduce their variants; the alternatives the reference ----------------------

REFERENCE = {f: evaluate(f, namespace()) for f in R.LABELS.functions}


@pytest.mark.parametrize("label,function,source", MUTANTS, ids=[f"{m[1]}:{m[0]}" for m in MUTANTS])
def test_mutant_reproduces_a_variant_of_its_label(label, function, source):
    assert label in R.LABELS.required or label in R.LABELS.extra
    ns = namespace(source)
    if label in TRACE_LABELS:
        dout, z = (a.copy() for a in RELU[0])
        ns[function](dout, z)
        assert not np.array_equal(dout, RELU[0][0])
        return
    got = evaluate(function, ns)
    assert not same(got, REFERENCE[function], **TOL.get(function, {}))
    variants = [fn for lab, fn in R.PITFALLS.variants[function] if lab == label]
    assert any(same(got, evaluate(function, namespace(**{function: v}))) for v in variants)


@pytest.mark.parametrize("function,source", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    functions = ("mlp_forward", "mlp_backward") if function.startswith("mlp_") else (function,)
    for f in functions:
        assert same(evaluate(f, ns), REFERENCE[f], **TOL.get(f, {})), f


def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert R.LABELS.required <= {m[0] for m in MUTANTS}
    for f in R.LABELS.functions:
        assert sum(a[0] == f for a in ALTERNATIVES) >= 2, f
    for f, variants in R.PITFALLS.variants.items():
        assert f in R.LABELS.functions and all(lab in R.LABELS for lab, _ in variants)
