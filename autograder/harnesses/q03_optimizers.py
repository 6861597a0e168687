"""Harness for q03_optimizers: run one update rule for many steps, feeding its own state back.

The optimizer state (momentum's v, RMSProp's s, Adam's m and v) is the student's own: any form
that gives the same weights passes (torch's buffer, an lr-scaled or negated velocity). So the
check does not compare states; it runs the student's function for every step, passing back what
the previous call returned, and compares the weights. One call of this harness does all the steps.
Nothing here knows the right answer.
"""
from __future__ import annotations

import copy

import numpy as np

from whiteboard.worker.harness import get_function

# rule -> (function, names of the state arrays it takes after (w, g), whether it takes t)
RULES = {
    "sgd": ("sgd_update", (), False),
    "momentum": ("momentum_update", ("v",), False),
    "adagrad": ("adagrad_update", ("s",), False),
    "rmsprop": ("rmsprop_update", ("s",), False),
    "adam": ("adam_update", ("m", "v"), True),
    "adamw": ("adamw_update", ("m", "v"), True),
}


def _changed(before, after) -> bool:
    try:
        return not np.array_equal(np.asarray(before), np.asarray(after))
    except (TypeError, ValueError, RuntimeError):
        return True


def run_updates(namespace: dict, rule: str, w0, grads, kwargs=None, A=None) -> dict:
    """Run the student's update rule for len(grads) steps from w0.

    rule: a key of RULES. w0: (d,) start. grads: (steps, d); the gradient at step t is grads[t]
    plus A @ w when A (d, d) is given (a quadratic bowl, so the gradient follows the weights).
    kwargs: the rule's hyperparameters, "lr" included (lr is passed positionally, the others by
    name); the states start as zeros_like(w0) and t counts from 1.

    Returns {"weights": (steps + 1, d) the weights after each step, row 0 = w0 (a list when the
    shapes do not stack), "mutated": the names of arguments some call changed in place}.
    """
    name, state_names, takes_t = RULES[rule]
    fn = get_function(namespace, name)
    kwargs = dict(kwargs or {})
    lr = kwargs.pop("lr")
    w = np.array(w0, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    A = None if A is None else np.asarray(A, dtype=np.float64)
    state = [np.zeros_like(w) for _ in state_names]
    weights = [w.copy()]
    mutated: set = set()
    for t in range(len(grads)):
        g = grads[t] + (A @ w if A is not None else 0.0)
        passed = [w.copy(), g.copy()] + state
        before = [w.copy(), g.copy()] + [copy.deepcopy(s) for s in state]
        args = passed + ([t + 1] if takes_t else []) + [lr]
        out = fn(*args, **kwargs)
        for arg_name, b, a in zip(("w", "g") + state_names, before, passed):
            if _changed(b, a):
                mutated.add(arg_name)
        if state_names:
            if not isinstance(out, (tuple, list)) or len(out) != 1 + len(state_names):
                raise TypeError(f"{name} must return a tuple (w, {', '.join(state_names)}); "
                                f"it returned {type(out).__name__}")
            w_new, state = out[0], list(out[1:])
        else:
            w_new = out
        w = np.array(w_new, dtype=np.float64)
        weights.append(w.copy())
    try:
        stacked = np.stack(weights)
    except ValueError:
        stacked = weights
    return {"weights": stacked, "mutated": sorted(mutated)}
