"""q10: the references are torch's activations and autograd's derivatives of them (the ground
truth), finite on a grid up to |x| = 1e4; the forbidden-API tripwires and the harness's watch on
tensor methods see the shortcuts; dead_relu_fraction on a model with dead units made on purpose;
every mutant / alternative in tests/mutants/q10_activations.py behaves as labelled when graded the
way the checks grade (stand-ins answered outside the tripwires, as the grading parent does)."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.harnesses import q10_activations as H
from autograder.labels.q10_activations import FORBIDDEN, LABELS, OVERFLOW_LABEL, TENSOR_METHODS
from autograder.references import q10_activations as R
from mutants.q10_activations import ALTERNATIVES, MUTANTS
from whiteboard.grading.compare import mismatch
from whiteboard.worker.process import _install_tripwires, _save_attrs

SETUP = ("import numpy as np\nimport torch\nfrom torch import nn\n"
         "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n")

GRID = torch.cat([
    torch.linspace(-1e4, 1e4, 4001, dtype=torch.float64),
    torch.linspace(-40, 40, 8001, dtype=torch.float64),
    torch.tensor([0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, 354.0, -354.0, 355.5, -355.5, 709.0,
                  -709.0, 710.0, -710.0, 711.0, -711.0, 1e4, -1e4], dtype=torch.float64),
])
SMALL = torch.tensor([[-3.0, -0.5, 0.0], [0.25, 2.0, 8.0]], dtype=torch.float64)

TORCH = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
}
DERIVATIVE_OF = {"sigmoid_grad": torch.sigmoid, "tanh_grad": torch.tanh, "relu_grad": torch.relu,
                 "gelu_grad": F.gelu}
ELEMENTWISE = tuple(TORCH) + tuple(DERIVATIVE_OF)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# The stand-ins as the grading parent answers them: torch's functions, captured here before any
# tripwire wraps them (in grading they run in another process, where no tripwire is set).
_CAPTURED = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "gelu": F.gelu}
STANDINS = {name: (lambda f: lambda x: f(torch.as_tensor(x, dtype=torch.float64)))(f)
            for name, f in _CAPTURED.items()}
assert set(STANDINS) == set(R.STANDINS)


def namespace(source=None, replace=None):
    ns = dict(vars(R))
    ns.update(STANDINS)
    exec(SETUP, ns)
    ns.update(replace or {})
    if source:
        exec(source, ns)
    return ns


def autograd_derivative(fn, x):
    x = x.detach().clone().requires_grad_(True)
    fn(x).sum().backward()
    return x.grad


def with_tripwires(forbidden, ns, call):
    """call() with the worker's tripwires on `forbidden`: (value, forbidden names used)."""
    saved = _save_attrs(forbidden, False)
    try:
        used = _install_tripwires(forbidden, False, ns)
        value = call()
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)
    return value, used


# ---- the references against torch -----------------------------------------------------------------

@pytest.mark.parametrize("fn", ELEMENTWISE)
def test_equals_torch_on_the_grid_without_nan_or_warnings(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            got = getattr(R, fn)(GRID.clone())
    want = TORCH[fn](GRID) if fn in TORCH else autograd_derivative(DERIVATIVE_OF[fn], GRID)
    assert got.dtype == torch.float64 and got.shape == GRID.shape
    assert torch.isfinite(got).all() and torch.isfinite(want).all()
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-13), (got - want).abs().max()


def test_values_at_landmarks():
    x = torch.tensor([0.0], dtype=torch.float64)
    assert R.sigmoid(x).item() == 0.5 and R.sigmoid_grad(x).item() == 0.25   # the 0.25 ceiling
    assert R.tanh_grad(x).item() == 1.0 and R.relu_grad(x).item() == 0.0
    assert R.sigmoid(torch.tensor([1e4, -1e4])).tolist() == [1.0, 0.0]
    assert R.gelu_grad(x).item() == 0.5
    assert torch.allclose(R.sigmoid_grad(GRID).max(), torch.tensor(0.25, dtype=torch.float64))


def test_forbidden_rule_lives_with_the_labels():
    # the check module ships to students, so the rule lives with the labels, not the reference
    assert not hasattr(R, "FORBIDDEN") or R.FORBIDDEN is FORBIDDEN
    assert set(FORBIDDEN) == set(LABELS.functions)


def test_dead_relu_reference_uses_no_forbidden_api():
    ns = namespace()
    for model in H.DEAD_MODELS:
        _, used = with_tripwires(FORBIDDEN["dead_relu_fraction"], ns,
                                 lambda: H.dead_relu_trace(ns, model=model))
        assert not used


def test_tripwires_see_the_shortcuts_and_relu_modules():
    ns = namespace()
    assert with_tripwires(FORBIDDEN["sigmoid"], ns, lambda: torch.sigmoid(SMALL))[1] == {"torch.sigmoid"}
    assert "torch.nn.functional.gelu" in with_tripwires(FORBIDDEN["gelu"], ns,
                                                        lambda: torch.nn.GELU()(SMALL))[1]
    # Tensor.backward() goes through torch.autograd.backward
    _, used = with_tripwires(FORBIDDEN["tanh_grad"], ns,
                             lambda: autograd_derivative(lambda t: t * t, SMALL))
    assert used == {"torch.autograd.backward"}
    # why dead_relu_fraction may not forbid the ReLUs: the model's own nn.ReLU calls them
    _, used = with_tripwires(FORBIDDEN["relu"], ns, lambda: torch.nn.ReLU()(SMALL))
    assert used >= {"torch.nn.functional.relu", "torch.relu"}
    # what a module attribute tripwire cannot see: a tensor method
    assert with_tripwires(FORBIDDEN["sigmoid"], ns, lambda: SMALL.sigmoid())[1] == set()
    # ... which the elementwise harness watches instead, and puts back afterwards
    ns["probe"] = lambda x: x.sigmoid() + x.tanh_() * 0
    t = H.elementwise(ns, "probe", SMALL.clone(), TENSOR_METHODS)
    assert t["methods_used"] == ["Tensor.sigmoid", "Tensor.tanh_"] and t["input_modified"]
    assert "sigmoid" not in torch.Tensor.__dict__ and "tanh_" not in torch.Tensor.__dict__
    assert H.elementwise(ns, "sigmoid", SMALL.clone(), TENSOR_METHODS)["methods_used"] == []


def test_harness_sees_overflow_warnings():
    ns = namespace("def numpy_sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n")
    t = H.elementwise(ns, "numpy_sigmoid", GRID.clone(), TENSOR_METHODS)
    assert any("overflow" in w for w in t["warnings"])
    assert mismatch(t["value"], R.sigmoid(GRID)) is None       # right values, all the same
    assert H.elementwise(ns, "sigmoid", GRID.clone(), TENSOR_METHODS)["warnings"] == []


def test_dead_relu_fraction_on_models_with_dead_units():
    for model in H.DEAD_MODELS:
        t = H.dead_relu_trace(namespace(), model=model)
        assert t["hooks_left"] == 0 and not t["weights_changed"]
        torch.manual_seed(0)
        net = H._dead_model(model).double()
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        # by hand: the pre-activations of the ReLU layers
        if model == "mlp":
            h1 = net[0](x)
            h2 = net[2](torch.relu(h1))
        else:
            h1 = net.stem[0](x)
            h2 = net.block[2](net.block[1](net.block[0](torch.relu(h1))))
        dead = int((h1 <= 0).all(0).sum() + (h2 <= 0).all(0).sum())
        assert dead >= 3       # the three made on purpose
        assert t["fraction"] == pytest.approx(dead / (h1.shape[1] + h2.shape[1]), abs=1e-12)
        zero_fraction = float(((h1 <= 0).sum() + (h2 <= 0).sum()) / (h1.numel() + h2.numel()))
        assert abs(zero_fraction - t["fraction"]) > 0.05   # the counting mistake is visible


# ---- mutants and alternatives ---------------------------------------------------------------------

def _variants(fn, label):
    return [v for lab, v in R.PITFALLS.variants.get(fn, []) if lab == label]


def _dead_label(ns):
    """The label a dead_relu_fraction check would name (None when it passes)."""
    found = set()
    for model in H.DEAD_MODELS:
        trace = H.dead_relu_trace(ns, model=model)
        got = trace["fraction"]
        if got is not None and mismatch(got, H.dead_relu_trace(namespace(), model=model)["fraction"]) is None:
            if trace["hooks_left"]:
                found.add("hooks-left-behind")
            if trace["weights_changed"]:
                found.add("model-changed")
            continue
        for label, v in R.PITFALLS.variants["dead_relu_fraction"]:
            vt = H.dead_relu_trace(namespace(replace={"dead_relu_fraction": v}), model=model)
            if got is not None and mismatch(got, vt["fraction"]) is None:
                found.add(label)
                break
        else:
            found.add("wrong-value")
    return found


def elementwise_label(ns, fn, x, stable=True):
    """The label a check of test_q10_activations.py names for ns[fn] on x (None: it passes)."""
    t, used = with_tripwires(FORBIDDEN[fn], ns, lambda: H.elementwise(ns, fn, x.clone(), TENSOR_METHODS))
    if used or t["methods_used"]:
        return "forbidden-api"
    if t["error"]:
        return "crash"
    if t["input_modified"]:
        return "mutates-input"
    problem = mismatch(t["value"], getattr(R, fn)(x.clone()))
    if problem:
        for label, v in R.PITFALLS.variants.get(fn, []):
            if mismatch(t["value"], v(x.clone()), equal_nan=True) is None:
                return label
        return problem[0]
    if stable and t["warnings"]:
        return OVERFLOW_LABEL.get(fn, "nan-or-inf")
    return None


@pytest.mark.parametrize("label,fn,source", MUTANTS, ids=[f"{m[0]}-{m[1]}" for m in MUTANTS])
def test_mutant_is_named(label, fn, source):
    ns = namespace(source)
    if fn == "dead_relu_fraction":
        assert _dead_label(ns) == {label}
        return
    assert label in {elementwise_label(ns, fn, x) for x in (GRID, SMALL)}


@pytest.mark.parametrize("fn,source", ALTERNATIVES, ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_alternative_is_correct_and_allowed(fn, source):
    ns = namespace(source)
    if fn == "dead_relu_fraction":
        (labels, used) = with_tripwires(FORBIDDEN[fn], ns, lambda: _dead_label(ns))
        assert labels == set() and not used
        t = H.dead_relu_trace(ns)
        assert t["hooks_left"] == 0 and not t["weights_changed"] and not t["training_after"]
        return
    for x in (GRID, SMALL):
        assert elementwise_label(ns, fn, x) is None


def test_every_function_has_two_alternatives_and_every_label_a_mutant():
    from collections import Counter

    counts = Counter(fn for fn, _ in ALTERNATIVES)
    assert all(counts[f] >= 2 for f in LABELS.functions), counts
    assert LABELS.required <= {label for label, *_ in MUTANTS}
