"""Checks for q01_gradient_descent.

numerical_gradient, hessian and gd_path take a Python function, which cannot cross into the
grading process, so their checks name a test function (a quadratic, a wavy bowl, the notebook's
double well, Rosenbrock) and run a harness of autograder/harnesses/q01_gradient_descent.py in the
worker; the oracle runs the same harness on the references (nb.trace) and, on a mismatch, with
each pitfall variant swapped in (nb.variant_traces). The array the student was given comes back
from the harness, so an input changed in place is a rule of the check (`mutates-input`). The
other functions take plain arrays and numbers (nb.expect). Inputs come from nb.rng / nb.seed, so
the hidden run varies them while keeping what tells the mistakes apart: ill-conditioned bowls and
momentum 0.9 (a velocity is visible), 3x3 Hessians whose determinant has the "wrong" sign, batch
sizes that do and do not divide the data.
"""
import numpy as np
import pytest

from whiteboard.grading.compare import is_array, mismatch, show

TILT = 0.3  # the notebook's landscape: double_well with tilt 0.3


# ---- helpers ---------------------------------------------------------------------------------------

def rotation(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def with_eigenvalues(rng, eigenvalues):
    """A symmetric matrix with these eigenvalues, in a random orientation."""
    q = rotation(rng, len(eigenvalues))
    h = q @ np.diag(eigenvalues) @ q.T
    return (h + h.T) / 2


def spd(rng, d, low, high):
    return with_eigenvalues(rng, rng.uniform(low, high, size=d))


def unchanged(nb, given, after, name, called):
    """mutates-input when the array passed as `name` came back changed (beyond one rounding)."""
    if not is_array(after) or np.shape(after) != np.shape(given) or \
            not np.allclose(np.asarray(after, dtype=np.float64), given, rtol=1e-12, atol=1e-14):
        raise nb.fail("mutates-input", f"{called}\nchanged `{name}` in place: it was "
                      f"{show(np.asarray(given))} before the call and {show(after)} after. Perturbing "
                      f"one entry and putting back exactly the value it had is fine; leaving it "
                      "changed is not.")


def expect_trace(nb, function, harness, params, got, called, rtol, atol, tolerance_of=None):
    """Compare the student's harness trace `got` with the references' on the "value" entry; on a
    mismatch name the pitfall whose variant trace reproduces the student's, or a detector's."""
    expected = nb.trace(harness, params, function)
    if tolerance_of is not None:
        rtol, atol = tolerance_of(expected["value"])
    problem = mismatch(got["value"], expected["value"], rtol=rtol, atol=atol)
    if problem is None:
        return got

    def same(g, v):
        return mismatch(g["value"], v["value"], rtol=rtol, atol=atol, equal_nan=True) is None

    label = (nb.match_variant(got, nb.variant_traces(harness, params, function), same)
             or nb.detect(function, got["value"]) or problem[0])
    raise nb.fail(label, f"{called}\n  expected: {show(expected['value'])}\n"
                  f"  got:      {show(got['value'])}\n  ({problem[1]})")


# ---- numerical_gradient ----------------------------------------------------------------------------

def check_numerical_gradient(nb, name, p, called, eps=None, rtol=1e-7, atol=1e-8, **fparams):
    params = dict(function=name, p=p, eps=eps, params=fparams)
    got = nb.run("numerical_gradient", "numerical_gradient_trace", params)
    unchanged(nb, p, got["p_after"], "p", called)
    return expect_trace(nb, "numerical_gradient", "numerical_gradient_trace", params, got, called,
                        rtol, atol)


@pytest.mark.grades("numerical_gradient")
class TestNumericalGradient:
    @pytest.mark.points(2)
    def test_quadratic(self, nb):
        """gradient of a 4-D quadratic at a random point, to 1e-7 (a one-sided difference is off by ~1e-5)"""
        rng = nb.rng(0)
        a = rng.normal(size=(4, 4))
        A, b, p = a + a.T + 2 * np.eye(4), rng.normal(size=4), rng.normal(size=4)
        check_numerical_gradient(nb, "quadratic", p, "numerical_gradient(f, p) with f(p) = "
                                 f"0.5 p.A.p + b.p (4-D) and p = {show(p)}", A=A, b=b)

    @pytest.mark.points(1)
    def test_any_shape(self, nb):
        """p of shape (2, 3): the gradient has p's shape"""
        rng = nb.rng(1)
        p, w = rng.normal(size=(2, 3)), rng.uniform(0.5, 2.0, size=(2, 3))
        check_numerical_gradient(nb, "wavy", p, "numerical_gradient(f, p) with f(p) = "
                                 "sum(w * sin(2 p)) + 0.5 sum(p**2) and p of shape (2, 3)", w=w, k=2.0)

    @pytest.mark.points(1)
    def test_eps_argument(self, nb):
        """uses the eps it is given (eps = 1e-3)"""
        rng = nb.rng(2)
        p, w = rng.normal(size=3), rng.uniform(1.0, 2.0, size=3)
        check_numerical_gradient(nb, "wavy", p, "numerical_gradient(f, p, 1e-3) with f(p) = "
                                 f"sum(w * sin(3 p)) + 0.5 sum(p**2) and p = {show(p)}",
                                 eps=1e-3, rtol=1e-9, atol=1e-10, w=w, k=3.0)


# ---- gd_path ---------------------------------------------------------------------------------------

def check_path(nb, name, p0, lr, steps, called, momentum=None, noise=None, **fparams):
    params = dict(function=name, p0=p0, lr=lr, steps=steps, momentum=momentum, noise=noise,
                  params=fparams)
    got = nb.run("gd_path", "gd_path_trace", params)
    unchanged(nb, p0, got["p0_after"], "p0", called)
    return expect_trace(nb, "gd_path", "gd_path_trace", params, got, called, 1e-9, 1e-12)


@pytest.mark.grades("gd_path")
class TestGdPath:
    @pytest.mark.points(2)
    def test_plain_gradient_descent(self, nb):
        """15 steps of plain gradient descent on a 2-D bowl (default momentum), p0 in row 0"""
        rng = nb.rng(10)
        A, p0 = spd(rng, 2, 0.5, 3.0), rng.uniform(-2, 2, size=2)
        check_path(nb, "quadratic", p0, 0.1, 15, "gd_path(grad_fn, p0, lr=0.1, steps=15) with "
                   f"grad_fn(p) = A @ p on a 2-D bowl and p0 = {show(p0)}", A=A, b=np.zeros(2))

    @pytest.mark.points(4)
    def test_momentum(self, nb):
        """momentum 0.9 on an elongated bowl: the velocity carries every past gradient"""
        rng = nb.rng(11)
        A, p0 = with_eigenvalues(rng, [rng.uniform(0.05, 0.2), rng.uniform(4.0, 6.0)]), \
            rng.uniform(-2, 2, size=2)
        check_path(nb, "quadratic", p0, 0.05, 40, "gd_path(grad_fn, p0, lr=0.05, steps=40, "
                   f"momentum=0.9) with grad_fn(p) = A @ p, A's eigenvalues about 0.1 and 5, "
                   f"p0 = {show(p0)}", momentum=0.9, A=A, b=np.zeros(2))

    @pytest.mark.points(1)
    def test_noise(self, nb):
        """noise[t] is added to the gradient at step t (momentum 0.5)"""
        rng = nb.rng(12)
        p0, noise = rng.uniform(-1.5, 1.5, size=2), rng.normal(scale=0.5, size=(25, 2))
        check_path(nb, "quadratic", p0, 0.1, 25, "gd_path(grad_fn, p0, lr=0.1, steps=25, "
                   f"momentum=0.5, noise=noise) with noise of shape (25, 2), p0 = {show(p0)}",
                   momentum=0.5, noise=noise, A=spd(rng, 2, 0.5, 2.0), b=np.zeros(2))

    @pytest.mark.points(1)
    def test_landscape(self, nb):
        """momentum 0.8 on the notebook's landscape, from a start right of the saddle"""
        rng = nb.rng(13)
        p0 = np.array([rng.uniform(1.4, 2.0), rng.uniform(-1.5, 1.5)])
        check_path(nb, "double_well", p0, 0.02, 80, "gd_path(landscape_grad, p0, lr=0.02, "
                   f"steps=80, momentum=0.8) on the notebook's landscape, p0 = {show(p0)}",
                   momentum=0.8, tilt=TILT)


# ---- hessian ---------------------------------------------------------------------------------------

def check_hessian(nb, name, p, called, **fparams):
    params = dict(function=name, p=p, params=fparams)
    got = nb.run("hessian", "hessian_trace", params)
    unchanged(nb, p, got["p_after"], "p", called)

    def tolerance(expected):   # a numerical Hessian carries ~1e-8 of noise relative to its entries
        scale = max(1.0, float(np.max(np.abs(expected))))
        return 1e-5, 1e-6 * scale

    expect_trace(nb, "hessian", "hessian_trace", params, got, called, None, None, tolerance)
    h = np.asarray(got["value"], dtype=np.float64)
    asymmetry = float(np.max(np.abs(h - h.T)))
    if asymmetry > 1e-6 * max(1.0, float(np.max(np.abs(h)))):
        raise nb.fail("hessian-not-symmetric", f"{called}\nreturned {show(h)}, whose H[i, j] and "
                      f"H[j, i] differ by up to {asymmetry:.3g}.")
    return h


@pytest.mark.grades("hessian")
class TestHessian:
    @pytest.mark.points(1)
    def test_quadratic(self, nb):
        """the Hessian of a 3-D quadratic is its matrix A"""
        rng = nb.rng(20)
        a = rng.normal(size=(3, 3))
        A, p = a + a.T, rng.normal(size=3)
        check_hessian(nb, "quadratic", p, f"hessian(f, p) with f(p) = 0.5 p.A.p + b.p (3-D), "
                      f"p = {show(p)}", A=A, b=rng.normal(size=3))

    @pytest.mark.points(1)
    def test_rosenbrock(self, nb):
        """Rosenbrock's function at a random point: symmetric, mixed derivatives right"""
        rng = nb.rng(21)
        p = np.array([rng.uniform(-1.5, 1.5), rng.uniform(-0.5, 2.0)])
        check_hessian(nb, "rosenbrock", p, f"hessian(f, p) with f Rosenbrock's function, p = {show(p)}")

    @pytest.mark.points(1)
    def test_landscape(self, nb):
        """the notebook's landscape, tilted and sheared, at a random point"""
        rng = nb.rng(22)
        p, c = rng.uniform(-1.5, 1.5, size=2), float(rng.uniform(0.2, 0.8))
        check_hessian(nb, "double_well", p, f"hessian(f, p) with f(x, y) = (x^2 - 1)^2 + 0.3 x + "
                      f"y^2 + {c:.3f} x y, p = {show(p)}", tilt=TILT, c=c)


# ---- classify_critical_point -------------------------------------------------------------------------

def classify(nb, eigenvalues, rng, **kwargs):
    return nb.expect("classify_critical_point", with_eigenvalues(rng, eigenvalues), **kwargs)


@pytest.mark.grades("classify_critical_point")
class TestClassifyCriticalPoint:
    @pytest.mark.points(1)
    def test_two_by_two(self, nb):
        """2x2 Hessians: a minimum, a maximum and a saddle"""
        rng = nb.rng(30)
        a, b = rng.uniform(0.5, 3.0, size=2)
        classify(nb, [a, b], rng)
        classify(nb, [-a, -b], rng)
        classify(nb, [a, -b], rng)

    @pytest.mark.points(2)
    def test_three_by_three(self, nb):
        """3x3 Hessians where the sign of the determinant misleads"""
        rng = nb.rng(31)
        a, b, c = rng.uniform(0.5, 3.0, size=3)
        classify(nb, [a, -b, -c], rng)   # det > 0, a saddle
        classify(nb, [-a, -b, -c], rng)  # det < 0, a maximum
        classify(nb, [a, b, -c], rng)    # det < 0, a saddle
        classify(nb, [a, b, c], rng)

    @pytest.mark.points(1)
    def test_degenerate(self, nb):
        """an eigenvalue within tol of zero is degenerate (default tol and tol=1e-2)"""
        rng = nb.rng(32)
        a, b = rng.uniform(0.5, 3.0, size=2)
        classify(nb, [a, float(rng.uniform(-5e-9, 5e-9))], rng)
        classify(nb, [-a, float(rng.uniform(1e-3, 5e-3)), b], rng, tol=1e-2)
        classify(nb, [-a, float(rng.uniform(2e-2, 5e-2))], rng, tol=1e-2)


# ---- max_stable_lr -----------------------------------------------------------------------------------

@pytest.mark.grades("max_stable_lr")
class TestMaxStableLr:
    @pytest.mark.points(1)
    def test_diagonal(self, nb):
        """a diagonal 2x2 Hessian"""
        nb.expect("max_stable_lr", np.diag(nb.rng(40).uniform(0.5, 10.0, size=2)))

    @pytest.mark.points(2)
    def test_rotated(self, nb):
        """rotated 2x2 and 3x3 positive-definite Hessians"""
        rng = nb.rng(41)
        nb.expect("max_stable_lr", spd(rng, 2, 0.2, 8.0))
        nb.expect("max_stable_lr", spd(rng, 3, 0.2, 8.0))


# ---- iterations_per_epoch ----------------------------------------------------------------------------

def sizes(nb, k, exact):
    rng = nb.rng(k)
    batch = int(rng.integers(3, 65))
    full = int(rng.integers(2, 40))
    rest = 0 if exact else int(rng.integers(1, batch))
    return full * batch + rest, batch


@pytest.mark.grades("iterations_per_epoch")
class TestIterationsPerEpoch:
    @pytest.mark.points(1)
    def test_last_batch_kept(self, nb):
        """a smaller last batch is still a batch"""
        nb.expect("iterations_per_epoch", *sizes(nb, 50, exact=False))
        nb.expect("iterations_per_epoch", 10, 4)

    @pytest.mark.points(1)
    def test_drop_last(self, nb):
        """drop_last=True drops the smaller last batch"""
        nb.expect("iterations_per_epoch", *sizes(nb, 51, exact=False), drop_last=True)
        nb.expect("iterations_per_epoch", 10, 4, drop_last=True)

    @pytest.mark.points(1)
    def test_exact_division(self, nb):
        """a batch size that divides the data: no extra batch either way"""
        n, batch = sizes(nb, 52, exact=True)
        nb.expect("iterations_per_epoch", n, batch)
        nb.expect("iterations_per_epoch", n, batch, drop_last=True)
