"""Checks for q02_backpropagation.

The expected gradients are torch.autograd's: the references build each computation as a float64
torch graph in the trusted process and read the gradients autograd gives (the oracle answers from
them; a student kit carries their values on the public inputs). The layer functions are called
with plain arrays (nb.expect). mlp_backward reads the cache of the student's own mlp_forward, so
both run together in the worker through the mlp_trace harness, and every parameter's gradient is
compared with autograd on the same network and inputs, batch size 1 included. grad_check takes a
Python function: the grad_check_trace harness builds it from a named test function. Inputs come
from nb.rng / nb.seed, so the hidden run varies them while keeping what tells the mistakes apart:
batch, input and output sizes that differ (a transposed or unsummed gradient changes shape), exact
zeros in the pre-activations, logits near 1000, analytic gradients that are off by 1e-2 to 1e-1.
"""
import numpy as np
import pytest

from whiteboard.grading.compare import is_array, mismatch, show


# ---- helpers ---------------------------------------------------------------------------------------

def normal(nb, k, *shape, scale=1.0):
    return nb.rng(k).normal(scale=scale, size=shape)


def mlp(nb, k, B, D=5, H1=7, H2=6, C=4, dead=False):
    """params, x (B, D) and labels y (B,) of the catalogue's MLP, He-scaled weights. With `dead`,
    two hidden units of each layer get a zero weight column and a zero bias: their pre-activation
    is exactly 0 for every example."""
    rng = nb.rng(k)
    shapes = dict(W1=(D, H1), b1=(H1,), W2=(H1, H2), b2=(H2,), W3=(H2, C), b3=(C,))
    params = {}
    for name, shape in shapes.items():
        scale = np.sqrt(2.0 / shape[0]) if name.startswith("W") else 0.1
        params[name] = rng.normal(scale=scale, size=shape)
    if dead:
        for W, b, n in (("W1", "b1", H1), ("W2", "b2", H2)):
            units = rng.choice(n, size=2, replace=False)
            params[W][:, units] = 0.0
            params[b][units] = 0.0
    return params, rng.normal(size=(B, D)), rng.integers(0, C, size=B)


def shape_text(params):
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in params.items())


def forward_logits(nb, function, params, x, called, own=True):
    """The student's logits for (params, x) through mlp_trace, checked against the reference's.
    `own`: the check grades mlp_forward itself (its input mutations are its own)."""
    run = dict(params=params, x=x, backward=False)
    got = nb.run(function, "mlp_trace", run)
    if own and got["changed_by_forward"]:
        raise nb.fail("mutates-input", f"{called}\nmlp_forward changed {', '.join(got['changed_by_forward'])} "
                      "in place.")
    expected = nb.trace("mlp_trace", run, "mlp_forward")
    problem = mismatch(got["logits"], expected["logits"])
    if problem:
        raise nb.fail(problem[0], f"{called}\n  expected logits: {show(expected['logits'])}\n"
                      f"  got:             {show(got['logits'])}\n  ({problem[1]})")
    return expected["logits"]


def check_backward(nb, params, x, y, called):
    """mlp_backward on the student's own forward pass against torch.autograd, every parameter."""
    logits = forward_logits(nb, "mlp_backward", params, x, called + "\n(the forward pass first: "
                            "mlp_backward reads the cache of your mlp_forward, so that must be right)", own=False)
    _, dlogits = nb.reference("softmax_cross_entropy")(logits, y)
    run = dict(params=params, x=x, dlogits=dlogits)
    got = nb.run("mlp_backward", "mlp_trace", run)
    expected = nb.trace("mlp_trace", run, "mlp_backward")["grads"]
    changed = [k for k in got["changed"] if k not in got["changed_by_forward"]]
    if changed:
        raise nb.fail("mutates-input", f"{called}\nmlp_backward changed {', '.join(changed)} in place.")
    grads = got["grads"]
    if not isinstance(grads, dict) or set(grads) != set(expected):
        raise nb.fail("wrong-type", f"{called}\nmlp_backward returned {show(grads)}; expected a dict "
                      f"with the keys of params ({', '.join(expected)}), each gradient shaped like "
                      "its parameter.")
    wrong = {k: mismatch(grads[k], expected[k]) for k in expected}
    wrong = {k: v for k, v in wrong.items() if v}
    if not wrong:
        return
    right = [k for k in expected if k not in wrong]
    first = next(iter(wrong))
    label = nb.detect("mlp_backward", grads, params) or wrong[first][0]
    raise nb.fail(label, f"{called}\nwith dlogits the gradient of the mean cross-entropy of your logits.\n"
                  f"  torch.autograd's d{first}: {show(expected[first])}\n"
                  f"  yours:{' ' * (len(first) + 11)}{show(grads[first])}\n  ({wrong[first][1]})\n"
                  f"Right: {', '.join(right) or 'none'}; wrong: {', '.join(wrong)}. The backward pass "
                  "goes from the loss to the input, so the first wrong gradient on that path shows "
                  "where it goes astray.")


# ---- linear_backward -------------------------------------------------------------------------------

@pytest.mark.grades("linear_backward")
class TestLinearBackward:
    @pytest.mark.points(2)
    def test_matches_autograd(self, nb):
        """batch 5, 4 inputs, 3 outputs: dx, dW, db as torch.autograd gives them"""
        nb.expect("linear_backward", normal(nb, 0, 5, 3), normal(nb, 1, 5, 4), normal(nb, 2, 4, 3))

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one example"""
        nb.expect("linear_backward", normal(nb, 3, 1, 6), normal(nb, 4, 1, 2), normal(nb, 5, 2, 6))

    @pytest.mark.points(1)
    def test_square_weight(self, nb):
        """a square W (a transposed dW has the right shape but not the right values)"""
        nb.expect("linear_backward", normal(nb, 6, 3, 4), normal(nb, 7, 3, 4), normal(nb, 8, 4, 4))


# ---- relu_backward ---------------------------------------------------------------------------------

def with_zeros(nb, k, *shape):
    z = normal(nb, k, *shape)
    z[nb.rng(k + 100).random(size=shape) < 0.3] = 0.0
    return z


@pytest.mark.grades("relu_backward")
class TestReluBackward:
    @pytest.mark.points(1)
    def test_matches_autograd(self, nb):
        """random pre-activations and upstream gradients of both signs"""
        nb.expect("relu_backward", normal(nb, 10, 4, 5), normal(nb, 11, 4, 5))

    @pytest.mark.points(2)
    def test_zero_preactivation(self, nb):
        """no gradient passes where the pre-activation is exactly 0"""
        nb.expect("relu_backward", normal(nb, 12, 6, 3), with_zeros(nb, 13, 6, 3))
        nb.expect("relu_backward", normal(nb, 14, 1, 8), with_zeros(nb, 15, 1, 8))


# ---- softmax_cross_entropy ----------------------------------------------------------------------------

@pytest.mark.grades("softmax_cross_entropy")
class TestSoftmaxCrossEntropy:
    @pytest.mark.points(2)
    def test_matches_torch(self, nb):
        """loss and dlogits of a batch of 6, 4 classes, as F.cross_entropy and autograd"""
        nb.expect("softmax_cross_entropy", normal(nb, 20, 6, 4, scale=2.0), nb.rng(21).integers(0, 4, 6))

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one example"""
        nb.expect("softmax_cross_entropy", normal(nb, 22, 1, 5, scale=2.0), nb.rng(23).integers(0, 5, 1))

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        """logits near 1000 give a finite loss and gradient"""
        base = np.array([[1000.0, 1001.0, 990.0], [-5.0, 0.0, 700.0], [3.0, -2.0, 1.0]])
        nb.expect("softmax_cross_entropy", base + nb.rng(24).uniform(-0.5, 0.5, size=base.shape),
                  np.array([2, 1, 0]))


# ---- mlp_forward ---------------------------------------------------------------------------------------

@pytest.mark.grades("mlp_forward")
class TestMlpForward:
    @pytest.mark.points(2)
    def test_logits(self, nb):
        """logits of a batch of 6 (5 -> 7 -> 6 -> 4)"""
        params, x, _ = mlp(nb, 30, 6)
        forward_logits(nb, "mlp_forward", params, x, f"mlp_forward(params, x) with {shape_text(params)} "
                       f"and x {x.shape}")

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one example (3 -> 4 -> 5 -> 2)"""
        params, x, _ = mlp(nb, 31, 1, D=3, H1=4, H2=5, C=2)
        forward_logits(nb, "mlp_forward", params, x, f"mlp_forward(params, x) with {shape_text(params)} "
                       f"and x {x.shape}")


# ---- mlp_backward --------------------------------------------------------------------------------------

@pytest.mark.grades("mlp_backward")
class TestMlpBackward:
    @pytest.mark.points(3)
    def test_every_parameter(self, nb):
        """every parameter's gradient equals torch.autograd's, batch of 8"""
        params, x, y = mlp(nb, 40, 8)
        check_backward(nb, params, x, y, f"mlp_backward(params, cache, dlogits) with "
                       f"{shape_text(params)} and x {x.shape}")

    @pytest.mark.points(2)
    def test_batch_of_one(self, nb):
        """a batch of one example, every parameter"""
        params, x, y = mlp(nb, 41, 1, D=4, H1=6, H2=3, C=5)
        check_backward(nb, params, x, y, f"mlp_backward(params, cache, dlogits) with "
                       f"{shape_text(params)} and x {x.shape}")

    @pytest.mark.points(1)
    def test_dead_units(self, nb):
        """hidden units whose pre-activation is exactly 0 pass no gradient"""
        params, x, y = mlp(nb, 42, 5, dead=True)
        check_backward(nb, params, x, y, "mlp_backward(params, cache, dlogits) with two units of "
                       "each hidden layer at exactly 0 (zero weights and bias), x (5, 5)")


# ---- grad_check ----------------------------------------------------------------------------------------

def off_by(nb, k, shape):
    """Errors of 1e-2 to 1e-1 of either sign: far above the numerical noise of the check."""
    rng = nb.rng(k)
    return rng.uniform(1e-2, 1e-1, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def check_grad_check(nb, name, x, analytic, called, **fparams):
    params = dict(function=name, x=x, analytic_grad=analytic, params=fparams)
    got = nb.run("grad_check", "grad_check_trace", params)
    for key, given, what in (("x_after", x, "x"), ("grad_after", analytic, "analytic_grad")):
        after = got[key]
        if not is_array(after) or not np.allclose(after, given, rtol=1e-12, atol=1e-14):
            raise nb.fail("mutates-input", f"{called}\nchanged `{what}` in place: it was {show(given)} "
                          f"and is {show(after)} after the call.")
    expected = nb.trace("grad_check_trace", params, "grad_check")
    problem = mismatch(got["value"], expected["value"], rtol=1e-6, atol=1e-12)
    if problem is None:
        return

    def same(g, v):
        return mismatch(g["value"], v["value"], rtol=1e-6, atol=1e-12, equal_nan=True) is None

    label = nb.match_variant(got, nb.variant_traces("grad_check_trace", params, "grad_check"), same)
    raise nb.fail(label or problem[0], f"{called}\n  expected: {show(expected['value'])}\n"
                  f"  got:      {show(got['value'])}\n  ({problem[1]})")


@pytest.mark.grades("grad_check")
class TestGradCheck:
    @pytest.mark.points(1)
    def test_quadratic(self, nb):
        """a 5-D quadratic whose analytic gradient is off by 1e-2 to 1e-1"""
        rng = nb.rng(50)
        a = rng.normal(size=(5, 5))
        A, b, x = a + a.T + 3 * np.eye(5), rng.normal(size=5), rng.normal(size=5)
        analytic = A @ x + b + off_by(nb, 51, 5)
        check_grad_check(nb, "quadratic", x, analytic, "grad_check(f, x, analytic_grad) with "
                         f"f(x) = 0.5 x.A.x + b.x, x = {show(x)} and analytic_grad = {show(analytic)}",
                         A=A, b=b)

    @pytest.mark.points(1)
    def test_zero_entry(self, nb):
        """an entry where both gradients are exactly 0 (f does not depend on it)"""
        rng = nb.rng(52)
        a = rng.normal(size=(4, 4))
        A, b, x = a + a.T + 3 * np.eye(4), rng.normal(size=4), rng.normal(size=4)
        j = int(rng.integers(0, 4))
        A[j, :], A[:, j], b[j] = 0.0, 0.0, 0.0
        analytic = A @ x + b + off_by(nb, 53, 4)
        analytic[j] = 0.0
        check_grad_check(nb, "quadratic", x, analytic, f"grad_check(f, x, analytic_grad) with f not "
                         f"depending on x[{j}] and analytic_grad[{j}] = 0, analytic_grad = {show(analytic)}",
                         A=A, b=b)

    @pytest.mark.points(1)
    def test_cross_entropy(self, nb):
        """x of shape (3, 4): mean cross-entropy of logits, a perturbed analytic gradient"""
        x, y = normal(nb, 54, 3, 4, scale=2.0), nb.rng(55).integers(0, 4, 3)
        analytic = np.asarray(nb.reference("softmax_cross_entropy")(x, y)[1]) + off_by(nb, 56, (3, 4))
        check_grad_check(nb, "softmax_ce", x, analytic, "grad_check(f, x, analytic_grad) with f the "
                         f"mean cross-entropy of logits x (3, 4), y = {show(y)}", y=y)


# ---- tied_weights_grad ---------------------------------------------------------------------------------

@pytest.mark.grades("tied_weights_grad")
class TestTiedWeightsGrad:
    @pytest.mark.points(2)
    def test_matches_autograd(self, nb):
        """y = (x @ W) @ W with a batch of 4, D = 3: both uses of W count"""
        nb.expect("tied_weights_grad", normal(nb, 60, 4, 3), normal(nb, 61, 3, 3), normal(nb, 62, 4, 3))

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one example, D = 5"""
        nb.expect("tied_weights_grad", normal(nb, 63, 1, 5), normal(nb, 64, 5, 5), normal(nb, 65, 1, 5))
