"""Harnesses for q01_gradient_descent: the functions that take a Python callable.

`numerical_gradient(f, ...)`, `hessian(f, ...)` and `gd_path(grad_fn, ...)` are given a function,
and a function cannot cross the process boundary. So the check names a test function by a string
(with its constants as plain arrays), the harness builds it next to the student's notebook, calls
the student's function with it and returns plain data: the result, the input array as it was after
the call (to see in-place changes) and how many times the callable was called.

Test functions (all float64; `p` may have any shape unless said otherwise):
    "quadratic"     f(p) = 0.5 p.A.p + b.p (p of shape (d,); params A (d, d), b (d,))
    "wavy"          f(p) = sum(w * sin(k * p)) + 0.5 * sum(p**2) (params w shaped like p, k scalar)
    "double_well"   f(x, y) = (x**2 - 1)**2 + tilt*x + y**2 + c*x*y (p of shape (2,); params tilt, c):
                    two minima near x = -1 and x = 1 (the tilt makes one global) and a saddle between
    "rosenbrock"    f(x, y) = (1 - x)**2 + 100 (y - x**2)**2 (p of shape (2,))
Nothing here knows the right answer.
"""
from __future__ import annotations

import numpy as np

from whiteboard.worker.harness import get_function


def _scalar_and_gradient(name: str, params: dict):
    """f(p) -> float and its analytic gradient, for the named test function."""
    if name == "quadratic":
        A = np.asarray(params["A"], dtype=np.float64)
        b = np.asarray(params["b"], dtype=np.float64)

        def f(p):
            p = np.asarray(p, dtype=np.float64)
            return float(0.5 * p @ A @ p + b @ p)

        def grad(p):
            return 0.5 * (A + A.T) @ np.asarray(p, dtype=np.float64) + b
    elif name == "wavy":
        w = np.asarray(params["w"], dtype=np.float64)
        k = float(params.get("k", 1.0))

        def f(p):
            p = np.asarray(p, dtype=np.float64)
            return float(np.sum(w * np.sin(k * p)) + 0.5 * np.sum(p * p))

        def grad(p):
            p = np.asarray(p, dtype=np.float64)
            return w * k * np.cos(k * p) + p
    elif name == "double_well":
        tilt = float(params.get("tilt", 0.3))
        c = float(params.get("c", 0.0))

        def f(p):
            x, y = np.asarray(p, dtype=np.float64).reshape(2)
            return float((x * x - 1.0) ** 2 + tilt * x + y * y + c * x * y)

        def grad(p):
            x, y = np.asarray(p, dtype=np.float64).reshape(2)
            return np.array([4.0 * x * (x * x - 1.0) + tilt + c * y, 2.0 * y + c * x])
    elif name == "rosenbrock":
        def f(p):
            x, y = np.asarray(p, dtype=np.float64).reshape(2)
            return float((1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2)

        def grad(p):
            x, y = np.asarray(p, dtype=np.float64).reshape(2)
            return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])
    else:
        raise ValueError(f"unknown test function {name!r}")
    return f, grad


def _counted(fn, counter: list):
    def wrapped(p):
        counter[0] += 1
        return fn(p)
    return wrapped


def numerical_gradient_trace(namespace: dict, function: str, p, eps=None, params=None) -> dict:
    """The student's numerical_gradient(f, p[, eps]) with f the named test function.

    Returns {"value": what it returned, "p_after": the array passed as p, after the call,
    "calls": how many times f was called}.
    """
    fn = get_function(namespace, "numerical_gradient")
    f, _ = _scalar_and_gradient(function, params or {})
    calls = [0]
    p = np.array(p, dtype=np.float64)
    value = fn(_counted(f, calls), p) if eps is None else fn(_counted(f, calls), p, eps)
    return {"value": value, "p_after": p, "calls": calls[0]}


def hessian_trace(namespace: dict, function: str, p, eps=None, params=None) -> dict:
    """The student's hessian(f, p[, eps]) with f the named test function.

    Returns {"value", "p_after", "calls"} as numerical_gradient_trace does.
    """
    fn = get_function(namespace, "hessian")
    f, _ = _scalar_and_gradient(function, params or {})
    calls = [0]
    p = np.array(p, dtype=np.float64)
    value = fn(_counted(f, calls), p) if eps is None else fn(_counted(f, calls), p, eps)
    return {"value": value, "p_after": p, "calls": calls[0]}


def gd_path_trace(namespace: dict, function: str, p0, lr, steps, momentum=None, noise=None,
                  params=None) -> dict:
    """The student's gd_path(grad_fn, p0, lr, steps[, momentum][, noise]) with grad_fn the named
    test function's analytic gradient. `momentum=None` / `noise=None` leave that argument out, so
    the student's defaults are what is tested.

    Returns {"value": the path as returned, "p0_after": the array passed as p0 after the call,
    "calls": how many times grad_fn was called}.
    """
    fn = get_function(namespace, "gd_path")
    _, grad = _scalar_and_gradient(function, params or {})
    calls = [0]
    p0 = np.array(p0, dtype=np.float64)
    kwargs = {}
    if momentum is not None:
        kwargs["momentum"] = momentum
    if noise is not None:
        kwargs["noise"] = np.array(noise, dtype=np.float64)
    value = fn(_counted(grad, calls), p0, lr, steps, **kwargs)
    return {"value": value, "p0_after": p0, "calls": calls[0]}
