"""Harnesses for q02_backpropagation: the checks that need the student's own objects.

- mlp_backward takes the cache of the student's own mlp_forward, whose layout only the student
  knows: `mlp_trace` runs `logits, cache = mlp_forward(params, x)` then
  `grads = mlp_backward(params, cache, dlogits)` in the notebook process and returns both results.
- grad_check takes a Python callable `f`, which cannot cross the process boundary:
  `grad_check_trace` builds `f` from a test function named by a string (with its constants as
  plain arrays) and calls the student's grad_check with it.

Test functions for grad_check (float64):
    "quadratic"    f(x) = 0.5 x.A.x + b.x              (x of shape (d,); params A (d, d), b (d,))
    "wavy"         f(x) = sum(w * sin(k * x)) + 0.5 * sum(x**2)   (params w shaped like x, k)
    "softmax_ce"   f(x) = mean cross-entropy of logits x (B, C) with integer labels y (B,)
Nothing here knows the right answer.
"""
from __future__ import annotations

import numpy as np

from whiteboard.worker.harness import get_function


def _scalar_function(name: str, params: dict):
    if name == "quadratic":
        A = np.asarray(params["A"], dtype=np.float64)
        b = np.asarray(params["b"], dtype=np.float64)
        return lambda x: float(0.5 * np.asarray(x) @ A @ np.asarray(x) + b @ np.asarray(x))
    if name == "wavy":
        w = np.asarray(params["w"], dtype=np.float64)
        k = float(params.get("k", 1.0))
        return lambda x: float(np.sum(w * np.sin(k * np.asarray(x))) + 0.5 * np.sum(np.asarray(x) ** 2))
    if name == "softmax_ce":
        y = np.asarray(params["y"], dtype=np.int64)

        def f(x):
            z = np.asarray(x, dtype=np.float64)
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-logp[np.arange(len(y)), y].mean())
        return f
    raise ValueError(f"unknown test function {name!r}")


def grad_check_trace(namespace: dict, function: str, x, analytic_grad, eps=None, params=None) -> dict:
    """The student's grad_check(f, x, analytic_grad[, eps]) with f the named test function.

    Returns {"value": what it returned, "x_after": the array passed as x after the call,
    "grad_after": the analytic_grad passed, after the call, "calls": calls of f}.
    """
    fn = get_function(namespace, "grad_check")
    f = _scalar_function(function, params or {})
    calls = [0]

    def counted(v):
        calls[0] += 1
        return f(v)

    x = np.array(x, dtype=np.float64)
    analytic = np.array(analytic_grad, dtype=np.float64)
    value = fn(counted, x, analytic) if eps is None else fn(counted, x, analytic, eps)
    return {"value": value, "x_after": x, "grad_after": analytic, "calls": calls[0]}


def mlp_trace(namespace: dict, params: dict, x, dlogits=None, backward: bool = True) -> dict:
    """The student's forward then backward pass on the same MLP, their own cache in between.

    backward=False runs the forward pass only (the check of mlp_forward: a broken mlp_backward
    must not cost it points); dlogits is needed only for the backward pass.
    Returns {"logits", "grads" (as mlp_backward returned them; None without the backward pass),
    "changed": the names of the inputs (params keys, "x", "dlogits") modified in place,
    "changed_by_forward": those already modified when the forward pass returned}.
    """
    forward = get_function(namespace, "mlp_forward")
    run_backward = get_function(namespace, "mlp_backward") if backward else None
    given = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    passed = {k: v.copy() for k, v in given.items()}
    x_given = np.array(x, dtype=np.float64)
    d_given = np.array(0.0 if dlogits is None else dlogits, dtype=np.float64)
    x_passed, d_passed = x_given.copy(), d_given.copy()
    out = forward(passed, x_passed)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError("mlp_forward must return a pair (logits, cache), "
                        f"it returned {type(out).__name__}")
    logits, cache = out
    by_forward = [k for k in given if not np.array_equal(given[k], passed[k])]
    by_forward += ["x"] if not np.array_equal(x_given, x_passed) else []
    # a copy: the backward pass may not change what we report
    logits = logits.detach().clone() if hasattr(logits, "detach") else np.array(logits, copy=True)
    grads = run_backward(passed, cache, d_passed) if backward else None
    changed = [k for k in given if not np.array_equal(given[k], passed[k])]
    changed += [name for name, a, b in (("x", x_given, x_passed), ("dlogits", d_given, d_passed))
                if not np.array_equal(a, b)]
    return {"logits": logits, "grads": grads, "changed": changed, "changed_by_forward": by_forward}
