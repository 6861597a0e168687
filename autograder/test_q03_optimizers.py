"""Checks for q03_optimizers.

Each update rule is run for 100 steps in the worker by the run_updates harness
(autograder/harnesses/q03_optimizers.py), which feeds back the state the student's function returns
(any form of the state that gives the same weights passes). The expected trajectory is the same
harness run in the trusted process on the references, which are torch.optim itself: each reference
step loads the state into the torch optimizer and calls optimizer.step(). The weights must agree to
1e-10 at every step. Every call is made with torch.optim watched (FORBIDDEN): using it is
`forbidden-api`, and an input changed in place is `mutates-input`. On a mismatch, the variant whose
trajectory reproduces the student's names the mistake. Inputs come from nb.rng, so the hidden run
varies them while keeping what tells the mistakes apart: an elongated bowl (the gradient follows
the weights), gradients of about 1e-3 (eps matters), weight decay far from 0 and nesterov=True.
"""
import numpy as np
import pytest

from autograder.labels.q03_optimizers import FORBIDDEN
from whiteboard.grading.compare import mismatch, show

STEPS = 100
NAMES = {"sgd": "sgd_update", "momentum": "momentum_update", "adagrad": "adagrad_update",
         "rmsprop": "rmsprop_update", "adam": "adam_update", "adamw": "adamw_update"}


# ---- helpers ---------------------------------------------------------------------------------------

def run(nb, k, scale=1.0, bowl=True, d=4):
    """A start w0 (d,), gradient noise (STEPS, d) of the given scale and an elongated bowl A (the
    gradient at step t is noise[t] + A @ w), or no bowl (the gradient is the noise alone)."""
    rng = nb.rng(k)
    w0 = rng.normal(size=d)
    noise = scale * rng.normal(size=(STEPS, d))
    if not bowl:
        return w0, noise, None
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    q = q * np.sign(np.diag(r))
    curvatures = np.concatenate([[rng.uniform(1.5, 2.5)], rng.uniform(0.02, 1.0, size=d - 1)])
    A = q @ np.diag(curvatures) @ q.T
    return w0, noise, (A + A.T) / 2


def check_rule(nb, rule, k, kwargs, what, scale=1.0, bowl=True):
    """The student's rule for STEPS steps against torch.optim's, to 1e-10 at every step."""
    function = NAMES[rule]
    w0, grads, A = run(nb, k, scale, bowl)
    params = dict(rule=rule, w0=w0, grads=grads, kwargs=kwargs, A=A)
    shown = ", ".join(f"{key}={value}" for key, value in kwargs.items())
    called = (f"{function} run for {STEPS} steps ({shown}) from w0 = {show(w0)}, {what}, its "
              "returned state fed back at every step")
    got = nb.run(function, "run_updates", params, forbidden=FORBIDDEN[function])
    if got["mutated"]:
        raise nb.fail("mutates-input", f"{called}\nchanged {', '.join(got['mutated'])} in place. Return "
                      "new arrays (w = w - ..., not w -= ...).")
    expected = nb.trace("run_updates", params, function)["weights"]
    weights = got["weights"]
    problem = mismatch(weights, expected, rtol=0, atol=1e-10)
    if problem is None:
        return

    def same(g, v):
        return mismatch(g["weights"], v["weights"], rtol=0, atol=1e-10, equal_nan=True) is None

    label = nb.match_variant(got, nb.variant_traces("run_updates", params, function), same) or problem[0]
    message = f"{called}:\n"
    try:
        diff = np.abs(np.asarray(weights, dtype=np.float64) - expected).max(axis=1)
        first = int(np.argmax(diff > 1e-10))
        message += (f"  the weights first differ from torch.optim's after step {first}:\n"
                    f"  torch.optim: {show(expected[first])}\n  yours:       {show(np.asarray(weights)[first])}\n"
                    f"  after {STEPS} steps: {show(expected[-1])} expected, {show(np.asarray(weights)[-1])} "
                    "yours\n"
                    f"  (the largest difference is {diff.max():.2g}; torch.optim is matched to 1e-10, so "
                    "even a tiny difference means another formula)\n")
    except (TypeError, ValueError):
        message += f"  expected weights of shape {expected.shape}, got {show(weights)}\n"
    raise nb.fail(label, message + f"  ({problem[1]})")


BOWL = "gradients noise[t] + A @ w on an elongated bowl"
NOISE = "gradients of unit noise, no bowl"
SMALL = "gradients of about 1e-3 (no bowl)"


# ---- the update rules --------------------------------------------------------------------------------

@pytest.mark.grades("sgd_update")
class TestSgdUpdate:
    @pytest.mark.points(1)
    def test_one_step(self, nb):
        """one step from random weights and gradient"""
        rng = nb.rng(0)
        nb.expect("sgd_update", rng.normal(size=5), rng.normal(size=5), 0.1, forbidden=FORBIDDEN["sgd_update"])

    @pytest.mark.points(1)
    def test_100_steps(self, nb):
        """100 steps on a bowl equal torch.optim.SGD's to 1e-10"""
        check_rule(nb, "sgd", 1, dict(lr=0.1), BOWL)


@pytest.mark.grades("momentum_update")
class TestMomentumUpdate:
    @pytest.mark.points(2)
    def test_100_steps(self, nb):
        """100 steps with the default momentum 0.9 equal torch.optim.SGD(momentum=0.9)'s"""
        check_rule(nb, "momentum", 10, dict(lr=0.05), BOWL)

    @pytest.mark.points(1)
    def test_nesterov(self, nb):
        """nesterov=True with momentum 0.5 equals torch.optim.SGD(nesterov=True)"""
        check_rule(nb, "momentum", 11, dict(lr=0.05, momentum=0.5, nesterov=True), BOWL)

    @pytest.mark.points(1)
    def test_nesterov_noise(self, nb):
        """nesterov=True with the default momentum on pure noise"""
        check_rule(nb, "momentum", 12, dict(lr=0.02, nesterov=True), NOISE, bowl=False)


@pytest.mark.grades("adagrad_update")
class TestAdagradUpdate:
    @pytest.mark.points(1)
    def test_100_steps(self, nb):
        """100 steps on a bowl equal torch.optim.Adagrad's"""
        check_rule(nb, "adagrad", 20, dict(lr=0.1), BOWL)

    @pytest.mark.points(1)
    def test_small_gradients(self, nb):
        """gradients of about 1e-3, where eps matters"""
        check_rule(nb, "adagrad", 21, dict(lr=0.1, eps=1e-6), SMALL, scale=1e-3, bowl=False)


@pytest.mark.grades("rmsprop_update")
class TestRmspropUpdate:
    @pytest.mark.points(2)
    def test_100_steps(self, nb):
        """100 steps on a bowl equal torch.optim.RMSprop's"""
        check_rule(nb, "rmsprop", 30, dict(lr=0.01), BOWL)

    @pytest.mark.points(1)
    def test_small_gradients(self, nb):
        """alpha 0.9 and gradients of about 1e-3, where eps matters"""
        check_rule(nb, "rmsprop", 31, dict(lr=0.01, alpha=0.9, eps=1e-6), SMALL, scale=1e-3, bowl=False)


@pytest.mark.grades("adam_update")
class TestAdamUpdate:
    @pytest.mark.points(3)
    def test_100_steps(self, nb):
        """100 steps on a bowl equal torch.optim.Adam's (bias correction from step 1)"""
        check_rule(nb, "adam", 40, dict(lr=0.01), BOWL)

    @pytest.mark.points(2)
    def test_weight_decay(self, nb):
        """weight_decay 0.1 is an L2 term in the gradient, as torch.optim.Adam"""
        check_rule(nb, "adam", 41, dict(lr=0.01, weight_decay=0.1), BOWL)

    @pytest.mark.points(1)
    def test_small_gradients(self, nb):
        """betas (0.8, 0.99), eps 1e-6 and gradients of about 1e-3"""
        check_rule(nb, "adam", 42, dict(lr=0.001, beta1=0.8, beta2=0.99, eps=1e-6), SMALL, scale=1e-3,
                   bowl=False)


@pytest.mark.grades("adamw_update")
class TestAdamwUpdate:
    @pytest.mark.points(2)
    def test_weight_decay(self, nb):
        """weight_decay 0.5, decoupled, equals torch.optim.AdamW's"""
        check_rule(nb, "adamw", 50, dict(lr=0.01, weight_decay=0.5), BOWL)

    @pytest.mark.points(1)
    def test_defaults(self, nb):
        """the default weight decay 0.01 on pure noise"""
        check_rule(nb, "adamw", 51, dict(lr=0.01), NOISE, bowl=False)

    @pytest.mark.points(1)
    def test_small_gradients(self, nb):
        """eps 1e-6 and gradients of about 1e-3"""
        check_rule(nb, "adamw", 52, dict(lr=0.001, eps=1e-6, weight_decay=0.1), SMALL, scale=1e-3,
                   bowl=False)


# ---- optimizer_state_floats -----------------------------------------------------------------------

@pytest.mark.grades("optimizer_state_floats")
class TestOptimizerStateFloats:
    @pytest.mark.points(1)
    def test_sgd_and_momentum(self, nb):
        """SGD and SGD with momentum"""
        n = int(nb.rng(60).integers(1_000, 10_000_000))
        for name in ("sgd", "momentum"):
            nb.expect("optimizer_state_floats", n, name, forbidden=FORBIDDEN["optimizer_state_floats"])

    @pytest.mark.points(1)
    def test_adaptive(self, nb):
        """RMSProp, Adam and AdamW"""
        n = int(nb.rng(61).integers(1_000, 10_000_000))
        for name in ("rmsprop", "adam", "adamw"):
            nb.expect("optimizer_state_floats", n, name, forbidden=FORBIDDEN["optimizer_state_floats"])
