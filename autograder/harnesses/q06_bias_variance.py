"""Harnesses for q06_bias_variance: simulate_predictions takes a function and a random generator.

Neither can cross the process boundary, so the check sends a name and a seed: the harness builds
the true function and `np.random.default_rng(seed)` here, calls the student's simulate_predictions
(whose calls to polynomial_features / fit_least_squares are answered by whatever the namespace
holds) and reports plain data. It never computes an expected value.
"""
from __future__ import annotations

import numpy as np

from whiteboard.worker.harness import get_function

# The true functions a check may name. Each works on arrays, elementwise.
TRUE_FUNCTIONS = {
    "sin": lambda x: np.sin(2 * np.pi * x),
    "cubic": lambda x: x ** 3 - x,
    "linear": lambda x: 2.0 * x + 1.0,
}


def _global_state():
    state = np.random.get_state()
    return state[1].copy(), state[2]


def simulate_trace(namespace: dict, f_name: str, degree: int, n_datasets: int, n_train: int,
                   noise_std: float, x_test, seed: int = 0) -> dict:
    """The student's simulate_predictions(f, degree, n_datasets, n_train, noise_std, x_test, rng).

    Returns:
        predictions       what the function returned (as it returned it)
        f_calls           the shape of the argument of each call of f, in order
        global_rng_used   True when numpy's global random state moved (np.random.* was used
                          instead of `rng`)
        next_draw         rng.random() after the call: equal to the reference's when the student
                          drew exactly as many numbers, of the same kinds, from `rng`
        x_test_modified   True when the function changed x_test in place
    """
    fn = get_function(namespace, "simulate_predictions")
    true_f = TRUE_FUNCTIONS[f_name]
    calls: list = []

    def f(x):
        calls.append(list(np.shape(x)))
        return true_f(np.asarray(x, dtype=np.float64))

    x_test = np.asarray(x_test, dtype=np.float64)
    x_given = x_test.copy()
    rng = np.random.default_rng(seed)
    before = _global_state()
    value = fn(f, int(degree), int(n_datasets), int(n_train), float(noise_std), x_given, rng)
    after = _global_state()
    moved = not (np.array_equal(before[0], after[0]) and before[1] == after[1])
    if not isinstance(value, np.ndarray) and type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    return {"predictions": value, "f_calls": calls, "global_rng_used": bool(moved),
            "next_draw": float(rng.random()), "x_test_modified": not np.array_equal(x_given, x_test)}
