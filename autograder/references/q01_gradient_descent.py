"""q01_gradient_descent: reference answers and the classic mistakes as code. Never leaves the instructor.

numerical_gradient, hessian and gd_path take a Python callable, so their checks go through the
harnesses in autograder/harnesses/q01_gradient_descent.py (a test function named by a string); the
variants below keep the catalogue's signatures so that the same harness runs them.
"""
import math

import numpy as np

from autograder.labels.q01_gradient_descent import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# A variant never calls the function it imitates by name: in a harness trace the variant takes that
# name in the namespace, so it would call itself. It calls the private helpers instead.

# numerical_gradient is not a stand-in although a hessian may call it: its first argument is a
# Python callable, which cannot be sent to the trusted process, so a stand-in would crash.
STANDINS = ()


def _floats(a):
    return np.array(a, dtype=np.float64)   # a copy: the caller's array is never touched


# ---- numerical_gradient ---------------------------------------------------------------------

def numerical_gradient(f, p, eps=1e-5):
    """Central differences: grad[i] = (f(p + eps e_i) - f(p - eps e_i)) / (2 eps).

    f: a function of an array shaped like p returning a float; p: ndarray of any shape.
    Returns an ndarray shaped like p. p is left unchanged (each probe is a copy).
    """
    p = _floats(p)
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        plus, minus = p.copy(), p.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (float(f(plus)) - float(f(minus))) / (2 * eps)
    return grad


@PITFALLS.variant("numerical_gradient", "forward-difference")
def numerical_gradient_forward(f, p, eps=1e-5):
    p = _floats(p)
    f0 = float(f(p.copy()))
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        plus = p.copy()
        plus[idx] += eps
        grad[idx] = (float(f(plus)) - f0) / eps
    return grad


@PITFALLS.variant("numerical_gradient", "forward-difference")
def numerical_gradient_backward(f, p, eps=1e-5):
    p = _floats(p)
    f0 = float(f(p.copy()))
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        minus = p.copy()
        minus[idx] -= eps
        grad[idx] = (f0 - float(f(minus))) / eps
    return grad


# ---- gd_path ----------------------------------------------------------------------------------

def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    """Heavy-ball gradient descent as torch.optim.SGD: v = momentum*v + g; p = p - lr*v; v0 = 0.

    g = grad_fn(p) (+ noise[t], noise of shape (steps, d), when given).
    Returns the path, an ndarray (steps + 1, d) whose row 0 is p0.
    """
    p = _floats(p0)
    v = np.zeros_like(p)
    path = [p.copy()]
    for t in range(steps):
        g = _floats(grad_fn(p.copy()))
        if noise is not None:
            g = g + np.asarray(noise[t], dtype=np.float64)
        v = momentum * v + g
        p = p - lr * v
        path.append(p.copy())
    return np.array(path)


def _gd_variant(grad_fn, p0, lr, steps, momentum, noise, update, include_p0=True, extra_step=False):
    """gd_path with the per-step rule `update(p, v, g, g_prev, momentum, lr) -> (p, v)`."""
    p = _floats(p0)
    v = np.zeros_like(p)
    g_prev = np.zeros_like(p)
    path = [p.copy()] if include_p0 else []
    for t in range(steps + (1 if extra_step else 0)):
        g = _floats(grad_fn(p.copy()))
        if noise is not None and t < len(noise):
            g = g + np.asarray(noise[t], dtype=np.float64)
        p, v = update(p, v, g, g_prev, momentum, lr)
        g_prev = g
        path.append(p.copy())
    return np.array(path)


def _heavy_ball(p, v, g, g_prev, momentum, lr):
    v = momentum * v + g
    return p - lr * v, v


@PITFALLS.variant("gd_path", "gradient-ascent")
def gd_path_ascent(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    def update(p, v, g, g_prev, momentum, lr):
        v = momentum * v + g
        return p + lr * v, v
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, update)


@PITFALLS.variant("gd_path", "momentum-on-gradient")
def gd_path_momentum_times_gradient(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    # p -= lr * (g + momentum * g): the "momentum" term is the current gradient again
    def update(p, v, g, g_prev, momentum, lr):
        return p - lr * (g + momentum * g), v
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, update)


@PITFALLS.variant("gd_path", "momentum-on-gradient")
def gd_path_momentum_on_previous_gradient(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    # v = momentum * g_prev + g: remembers one gradient, not the accumulated velocity
    def update(p, v, g, g_prev, momentum, lr):
        return p - lr * (momentum * g_prev + g), v
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, update)


@PITFALLS.variant("gd_path", "momentum-on-gradient")
def gd_path_momentum_scales_gradient(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    # v = momentum * g: momentum used as a factor on the gradient
    def update(p, v, g, g_prev, momentum, lr):
        return p - lr * (momentum * g), v
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, update)


@PITFALLS.variant("gd_path", "velocity-not-carried")
def gd_path_velocity_reset(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    def update(p, v, g, g_prev, momentum, lr):
        return _heavy_ball(p, np.zeros_like(p), g, g_prev, momentum, lr)
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, update)


@PITFALLS.variant("gd_path", "missing-initial-point")
def gd_path_without_p0(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, _heavy_ball)[1:]


@PITFALLS.variant("gd_path", "missing-initial-point")
def gd_path_one_step_too_many(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    # steps + 1 rows, but recorded after each update: row 0 is p1, and one extra step is taken
    return _gd_variant(grad_fn, p0, lr, steps, momentum, noise, _heavy_ball, include_p0=False,
                       extra_step=True)


@PITFALLS.variant("gd_path", "noise-ignored")
def gd_path_without_noise(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    return _gd_variant(grad_fn, p0, lr, steps, momentum, None, _heavy_ball)


# ---- hessian ---------------------------------------------------------------------------------

def hessian(f, p, eps=1e-4):
    """Numerical Hessian of f at p (shape (d,)) by central differences, symmetric.

    H[i, i] = (f(p + eps e_i) - 2 f(p) + f(p - eps e_i)) / eps**2
    H[i, j] = (f(p + eps e_i + eps e_j) - f(p + eps e_i - eps e_j)
               - f(p - eps e_i + eps e_j) + f(p - eps e_i - eps e_j)) / (4 eps**2)
    Returns an ndarray (d, d); p is left unchanged.
    """
    p = _floats(p).reshape(-1)
    d = p.size
    e = np.eye(d) * eps

    def at(delta):
        return float(f(p + delta))

    f0 = at(np.zeros(d))
    H = np.zeros((d, d))
    for i in range(d):
        H[i, i] = (at(e[i]) - 2.0 * f0 + at(-e[i])) / eps ** 2
        for j in range(i + 1, d):
            H[i, j] = (at(e[i] + e[j]) - at(e[i] - e[j]) - at(e[j] - e[i]) + at(-e[i] - e[j])) \
                / (4.0 * eps ** 2)
            H[j, i] = H[i, j]
    return H


# ---- classify_critical_point ---------------------------------------------------------------------

def classify_critical_point(hess, tol=1e-8):
    """"minimum", "maximum", "saddle" or "degenerate" from the eigenvalues of the Hessian.

    Degenerate when any eigenvalue is within tol of zero (that comes first: the catalogue defines
    degenerate that way); otherwise all positive is a minimum, all negative a maximum, mixed a saddle.
    """
    h = _floats(hess)
    lam = np.linalg.eigvalsh((h + h.T) / 2)
    if np.any(np.abs(lam) <= tol):
        return "degenerate"
    if np.all(lam > 0):
        return "minimum"
    if np.all(lam < 0):
        return "maximum"
    return "saddle"


@PITFALLS.variant("classify_critical_point", "determinant-only")
def classify_by_determinant_sign(hess, tol=1e-8):
    # det > 0 "must be a minimum": wrong for negative definite 2x2 and for most 3x3 cases
    det = float(np.linalg.det(_floats(hess)))
    if abs(det) <= tol:
        return "degenerate"
    return "minimum" if det > 0 else "saddle"


@PITFALLS.variant("classify_critical_point", "determinant-only")
def classify_by_determinant_and_trace(hess, tol=1e-8):
    # the 2-D second-derivative test (det, then trace) applied to any size
    h = _floats(hess)
    det = float(np.linalg.det(h))
    if abs(det) <= tol:
        return "degenerate"
    if det < 0:
        return "saddle"
    return "minimum" if np.trace(h) > 0 else "maximum"


@PITFALLS.variant("classify_critical_point", "determinant-only")
def classify_by_determinant_and_corner(hess, tol=1e-8):
    # the textbook 2-D test with f_xx = H[0, 0] applied to any size
    h = _floats(hess)
    det = float(np.linalg.det(h))
    if abs(det) <= tol:
        return "degenerate"
    if det < 0:
        return "saddle"
    return "minimum" if h[0, 0] > 0 else "maximum"


# ---- max_stable_lr ----------------------------------------------------------------------------------

def max_stable_lr(hess):
    """2 / lambda_max: beyond it, the steepest direction's error grows by |1 - lr*lambda| > 1 a step."""
    h = _floats(hess)
    return float(2.0 / np.max(np.linalg.eigvalsh((h + h.T) / 2)))


@PITFALLS.variant("max_stable_lr", "uses-min-eigenvalue")
def max_stable_lr_min_eigenvalue(hess):
    h = _floats(hess)
    return float(2.0 / np.min(np.linalg.eigvalsh((h + h.T) / 2)))


@PITFALLS.variant("max_stable_lr", "missing-factor-2")
def max_stable_lr_without_two(hess):
    h = _floats(hess)
    return float(1.0 / np.max(np.linalg.eigvalsh((h + h.T) / 2)))


# ---- iterations_per_epoch ---------------------------------------------------------------------------

def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    """Batches in one pass over n_examples, as len(DataLoader(...)) counts them."""
    if drop_last:
        return int(n_examples // batch_size)
    return int(-(-n_examples // batch_size))


@PITFALLS.variant("iterations_per_epoch", "off-by-one-batch")
def iterations_always_floor(n_examples, batch_size, drop_last=False):
    return int(n_examples // batch_size)


@PITFALLS.variant("iterations_per_epoch", "off-by-one-batch")
def iterations_always_ceil(n_examples, batch_size, drop_last=False):
    return int(math.ceil(n_examples / batch_size))


@PITFALLS.variant("iterations_per_epoch", "off-by-one-batch")
def iterations_floor_plus_one(n_examples, batch_size, drop_last=False):
    # "the remainder is one more batch" even when the division is exact
    return int(n_examples // batch_size) + (0 if drop_last else 1)


@PITFALLS.variant("iterations_per_epoch", "off-by-one-batch")
def iterations_floor_plus_one_always(n_examples, batch_size, drop_last=False):
    return int(n_examples // batch_size) + 1


@PITFALLS.variant("iterations_per_epoch", "off-by-one-batch")
def iterations_ceil_minus_one_when_dropping(n_examples, batch_size, drop_last=False):
    # "drop_last removes one batch": right when the last batch is partial, one short when it is full
    ceil = int(-(-n_examples // batch_size))
    return ceil - 1 if drop_last else ceil
