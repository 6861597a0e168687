"""Checks for q10_activations. Inputs come from nb.rng / nb.seed (public and hidden runs); the
expected values come from the oracle, whose references are torch's own activations and autograd's
derivatives of them.

Every elementwise function runs through the harness `elementwise` (harnesses/q10_activations.py),
with the catalogue's forbidden APIs watched (FORBIDDEN) and the same activations as tensor methods
(TENSOR_METHODS): it reports the value, the RuntimeWarnings raised on the way and whether the input
changed. The grid checks go up to |x| = 1e4, past the point (|x| ~ 710) where exp() overflows in
float64: a NaN there, or an overflow warning on the way to a right answer, is the instability the
exercise is about. dead_relu_fraction runs the harness `dead_relu_trace` on models with dead units
made on purpose; the mistakes are named by the pitfall variants' traces.
"""
import numpy as np
import pytest
import torch

from autograder.labels.q10_activations import FORBIDDEN, OVERFLOW_LABEL, TENSOR_METHODS
from whiteboard.grading.compare import as_numpy, is_array, mismatch, show


# ---- inputs -----------------------------------------------------------------------------------------

def tensor(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def small(nb, k, *shape, scale=3.0):
    """Moderate inputs, where every activation is curved."""
    return tensor(nb.rng(k).normal(scale=scale, size=shape))


def with_zeros(nb, k, *shape):
    """Moderate inputs with about a third of the entries exactly 0 (and one -0.0)."""
    rng = nb.rng(k)
    x = rng.normal(scale=2.0, size=shape)
    x[rng.uniform(size=shape) < 0.35] = 0.0
    x.flat[0] = -0.0
    return tensor(x)


def grid(nb, k):
    """A sorted 1-D grid up to |x| = 1e4: every magnitude from 1e-8 up, dense where the functions
    bend, the band where exp() overflows in float64 (|x| > 709.78), and 0."""
    rng = nb.rng(k)
    mags = np.concatenate([np.logspace(-8, 4, 49), rng.uniform(0, 8, 40), rng.uniform(8, 800, 30),
                           rng.uniform(800, 1e4, 20), [709.5, 710.5, 1e4]])
    return tensor(np.sort(np.concatenate([-mags, [0.0], mags])))


# ---- the elementwise check --------------------------------------------------------------------------

def worst_entry(x, got, want):
    """'at x = ...: got ..., expected ...' for the entry that is furthest off (NaN first)."""
    try:
        xs, g, w = (as_numpy(v).astype(np.float64).ravel() for v in (x, got, want))
        with np.errstate(all="ignore"):
            off = np.where(np.isfinite(g), np.abs(g - w) / (1e-9 + np.abs(w)), np.inf)
        i = int(np.argmax(off))
        return f"\n  e.g. at x = {xs[i]:.6g}: got {g[i]:.6g}, expected {w[i]:.6g}"
    except Exception:
        return ""


def check(nb, function, x, *, stable=False):
    """function(x) equals the reference (torch / autograd) without a forbidden API, without
    changing x, and (stable=True) without an overflow warning."""
    called = f"{function}(x) with x = {show(x)}"
    got = nb.run(function, "elementwise",
                 dict(function=function, x=x, methods=list(TENSOR_METHODS)),
                 forbidden=FORBIDDEN[function])
    if got["methods_used"]:
        raise nb.fail("forbidden-api", f"{function} called {', '.join(got['methods_used'])}, the "
                      "library's own activation as a tensor method, which this exercise must do "
                      "without.")
    if got["error"]:
        raise nb.fail("crash", f"{function}: {got['error']}")
    if got["input_modified"]:
        raise nb.fail("mutates-input", f"{called}\nchanged x in place (an in-place method such as "
                      "clamp_ or mul_ on the input).")
    value = got["value"]
    expected = nb.reference(function)(x)
    problem = mismatch(value, expected)
    if problem:
        label = nb.diagnose(function, value, (x,), {}) or problem[0]
        where = worst_entry(x, value, expected) if is_array(value) and problem[0] != "wrong-shape" \
            else ""
        raise nb.fail(label, f"{called}\n  expected: {show(expected)}\n  got:      {show(value)}\n"
                      f"  ({problem[1]}){where}")
    if stable and got["warnings"]:
        raise nb.fail(OVERFLOW_LABEL.get(function, "nan-or-inf"),
                      f"{called}\ngave the right values, but raised RuntimeWarning: "
                      f"{got['warnings'][0]} on the way: an intermediate result overflowed to inf "
                      "(or became NaN) and only the shape of the formula hid it.")
    return value


# ---- activations ------------------------------------------------------------------------------------

@pytest.mark.grades("sigmoid")
class TestSigmoid:
    @pytest.mark.points(2)
    def test_matches_torch(self, nb):
        """a (4, 5) tensor of moderate values equals torch.sigmoid"""
        check(nb, "sigmoid", small(nb, 0, 4, 5))

    @pytest.mark.points(3)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "sigmoid", grid(nb, 1), stable=True)


@pytest.mark.grades("tanh")
class TestTanh:
    @pytest.mark.points(1)
    def test_matches_torch(self, nb):
        """a (3, 6) tensor of moderate values equals torch.tanh"""
        check(nb, "tanh", small(nb, 2, 3, 6, scale=1.5))

    @pytest.mark.points(2)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "tanh", grid(nb, 3), stable=True)


@pytest.mark.grades("relu")
class TestRelu:
    @pytest.mark.points(1)
    def test_matches_torch(self, nb):
        """a (4, 4) tensor with exact zeros equals torch.relu"""
        check(nb, "relu", with_zeros(nb, 4, 4, 4))

    @pytest.mark.points(1)
    def test_large_inputs(self, nb):
        """a grid up to |x| = 1e4"""
        check(nb, "relu", grid(nb, 5), stable=True)


@pytest.mark.grades("gelu")
class TestGelu:
    @pytest.mark.points(2)
    def test_exact_gelu(self, nb):
        """values in [-4, 4] equal the exact (erf) GELU, not an approximation"""
        check(nb, "gelu", tensor(np.sort(nb.rng(6).uniform(-4, 4, size=24))))

    @pytest.mark.points(1)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "gelu", grid(nb, 7), stable=True)


@pytest.mark.grades("gelu_tanh")
class TestGeluTanh:
    @pytest.mark.points(1)
    def test_matches_torch(self, nb):
        """values in [-4, 4] equal F.gelu(x, approximate='tanh')"""
        check(nb, "gelu_tanh", tensor(np.sort(nb.rng(8).uniform(-4, 4, size=24))))

    @pytest.mark.points(1)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "gelu_tanh", grid(nb, 9), stable=True)


@pytest.mark.grades("silu")
class TestSilu:
    @pytest.mark.points(1)
    def test_matches_torch(self, nb):
        """a (4, 5) tensor of moderate values equals F.silu"""
        check(nb, "silu", small(nb, 10, 4, 5))

    @pytest.mark.points(1)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "silu", grid(nb, 11), stable=True)


# ---- derivatives ------------------------------------------------------------------------------------

@pytest.mark.grades("sigmoid_grad")
class TestSigmoidGrad:
    @pytest.mark.points(2)
    def test_matches_autograd(self, nb):
        """the derivative at the inputs x of a (4, 5) tensor equals autograd's"""
        check(nb, "sigmoid_grad", small(nb, 12, 4, 5))

    @pytest.mark.points(2)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "sigmoid_grad", grid(nb, 13), stable=True)


@pytest.mark.grades("tanh_grad")
class TestTanhGrad:
    @pytest.mark.points(2)
    def test_matches_autograd(self, nb):
        """the derivative at the inputs x of a (3, 6) tensor equals autograd's"""
        check(nb, "tanh_grad", small(nb, 14, 3, 6, scale=1.5))

    @pytest.mark.points(1)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "tanh_grad", grid(nb, 15), stable=True)


@pytest.mark.grades("relu_grad")
class TestReluGrad:
    @pytest.mark.points(1)
    def test_zero_at_zero(self, nb):
        """exact zeros get derivative 0, as autograd gives"""
        check(nb, "relu_grad", with_zeros(nb, 16, 3, 5))

    @pytest.mark.points(1)
    def test_large_inputs(self, nb):
        """a grid up to |x| = 1e4"""
        check(nb, "relu_grad", grid(nb, 17), stable=True)


@pytest.mark.grades("gelu_grad")
class TestGeluGrad:
    @pytest.mark.points(2)
    def test_matches_autograd(self, nb):
        """the derivative of the exact GELU at 24 points of [-4, 4] equals autograd's"""
        check(nb, "gelu_grad", tensor(np.sort(nb.rng(18).uniform(-4, 4, size=24))))

    @pytest.mark.points(1)
    def test_stable_up_to_1e4(self, nb):
        """a grid up to |x| = 1e4: no NaN, no overflow warning"""
        check(nb, "gelu_grad", grid(nb, 19), stable=True)


# ---- dead_relu_fraction -----------------------------------------------------------------------------

MODELS = {"mlp": "Linear(4, 8) -> ReLU -> Linear(8, 6) -> ReLU -> Linear(6, 2), 8 + 6 ReLU units",
          "nested": "a model with its ReLUs inside nn.Sequential blocks (Linear(4, 10) -> ReLU; "
                    "Linear(10, 6) -> LayerNorm -> Linear(6, 5) -> ReLU(inplace=True); "
                    "Linear(5, 2)), 10 + 5 ReLU units"}


def check_dead(nb, model, k, batch=16, mode="eval"):
    params = dict(model=model, seed=nb.seed(k), batch=batch, mode=mode)
    desc = (f"dead_relu_fraction(model, x) on {MODELS[model]}, some units dead on purpose (zero "
            f"weights, bias <= 0), x of shape ({batch}, 4)")
    got = nb.run("dead_relu_fraction", "dead_relu_trace", params,
                 forbidden=FORBIDDEN["dead_relu_fraction"])
    if got["fraction"] is None:
        raise nb.fail("wrong-type", f"{desc} returned a {got['type']}; expected a float in [0, 1].")
    want = nb.trace("dead_relu_trace", params, "dead_relu_fraction")
    problem = mismatch(got["fraction"], want["fraction"])
    if problem:
        same = lambda g, v: mismatch(g["fraction"], v["fraction"]) is None  # noqa: E731
        label = nb.match_variant(got, nb.variant_traces("dead_relu_trace", params,
                                                         "dead_relu_fraction"), same)
        raise nb.fail(label or problem[0], f"{desc}: returned {got['fraction']:.6g}, expected "
                      f"{want['fraction']:.6g}.")
    if got["weights_changed"]:
        raise nb.fail("model-changed", f"{desc}: the model's weights changed; measuring must "
                      "not train or edit the model.")
    if got["hooks_left"]:
        raise nb.fail("hooks-left-behind", f"{desc}: {got['hooks_left']} forward hook(s) were "
                      "left registered on the model.")


@pytest.mark.grades("dead_relu_fraction")
class TestDeadReluFraction:
    @pytest.mark.points(3)
    def test_mlp_with_dead_units(self, nb):
        """an MLP with dead units made on purpose, batch of 16"""
        check_dead(nb, "mlp", 0)

    @pytest.mark.points(2)
    def test_nested_relus(self, nb):
        """ReLU modules inside sub-blocks, layers of different widths"""
        check_dead(nb, "nested", 1, batch=12)

    @pytest.mark.points(1)
    def test_model_left_as_found(self, nb):
        """a model in training mode: no weight changed, no hook left behind"""
        check_dead(nb, "mlp", 2, batch=10, mode="train")
