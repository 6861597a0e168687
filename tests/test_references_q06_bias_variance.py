"""q06: the references agree with numpy/scikit-learn, the decomposition holds on the kit's
simulation, and every mutant / alternative in tests/mutants/q06_bias_variance.py behaves as labelled."""
import copy

import numpy as np
import pytest

from autograder.harnesses import q06_bias_variance as H
from autograder.references import q06_bias_variance as R
from mutants.q06_bias_variance import ALTERNATIVES, MUTANTS
from whiteboard.grading.compare import mismatch

SETUP = "import numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"


def namespace(source=None):
    ns = dict(vars(R))
    exec(SETUP, ns)
    if source:
        exec(source, ns)
    return ns


def design(seed, n=20, degree=4):
    x = np.random.default_rng(seed).uniform(-1, 1, n)
    y = np.sin(3 * x) + 0.1 * np.random.default_rng(seed + 1).normal(size=n)
    return R.polynomial_features(x, degree), y


def rank_deficient(seed):
    X, y = design(seed, n=15, degree=3)
    return np.column_stack([X, X[:, 2]]), y        # a repeated column


def underdetermined(seed):
    x = np.random.default_rng(seed).uniform(-1, 1, 4)
    return R.polynomial_features(x, 6), np.cos(x)  # 4 points, 7 coefficients


def predictions(seed, noise_var):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(30, 12)) + np.linspace(-1, 1, 12)
    return (P, np.random.default_rng(seed + 50).normal(size=12), noise_var), {}


CASES = {
    "polynomial_features": [((np.random.default_rng(0).uniform(-2, 2, 7), d), {}) for d in (0, 1, 3, 5)],
    "fit_least_squares": [(design(1), {}), (design(2), {"ridge": 0.5}), (design(3, degree=5), {"ridge": 3.0}),
                          (rank_deficient(4), {}), (underdetermined(5), {}),
                          (rank_deficient(6), {"ridge": 0.2})],
    "bias_variance_decomposition": [predictions(7, 0.25), predictions(8, 0.0), predictions(9, 1.5)],
}

SIM_CASES = [dict(f_name="sin", degree=3, n_datasets=12, n_train=15, noise_std=0.3,
                  x_test=np.linspace(0, 1, 25), seed=1),
             dict(f_name="cubic", degree=1, n_datasets=8, n_train=10, noise_std=0.5,
                  x_test=np.linspace(-1.5, 1.5, 11), seed=2),
             dict(f_name="linear", degree=6, n_datasets=5, n_train=20, noise_std=0.1,
                  x_test=np.linspace(-1, 1, 9), seed=3)]


def run(ns, fn, args, kwargs):
    return ns[fn](*copy.deepcopy(args), **copy.deepcopy(kwargs))


# ---- the references against numpy / scikit-learn ------------------------------------------------

def test_polynomial_features_is_vander():
    x = np.random.default_rng(0).normal(size=9)
    for d in range(7):
        assert np.allclose(R.polynomial_features(x, d), np.vander(x, d + 1, increasing=True))
    assert R.polynomial_features(np.zeros(3), 2).tolist() == [[1, 0, 0]] * 3


def test_least_squares_is_lstsq_and_minimum_norm():
    for X, y in (design(1), rank_deficient(4), underdetermined(5)):
        assert np.allclose(R.fit_least_squares(X, y), np.linalg.lstsq(X, y, rcond=None)[0])
        assert np.allclose(R.fit_least_squares(X, y), np.linalg.pinv(X) @ y)


def test_ridge_leaves_intercept_free_as_sklearn_ridge_with_intercept():
    from sklearn.linear_model import Ridge

    for seed, ridge in ((2, 0.5), (3, 3.0), (4, 40.0)):
        X, y = design(seed, degree=5)
        w = R.fit_least_squares(X, y, ridge)
        model = Ridge(alpha=ridge, fit_intercept=True, tol=1e-12).fit(X[:, 1:], y)
        assert np.allclose(w, np.r_[model.intercept_, model.coef_], rtol=1e-7, atol=1e-9)
        D = ridge * np.eye(X.shape[1])
        D[0, 0] = 0
        assert np.allclose(w, np.linalg.solve(X.T @ X + D, X.T @ y))
    # a huge penalty flattens the curve to the mean of y, not to zero
    X, y = design(5)
    assert np.allclose(R.fit_least_squares(X, y, 1e12), np.r_[y.mean(), np.zeros(X.shape[1] - 1)], atol=1e-6)


def test_decomposition_definitions():
    P, f, nv = CASES["bias_variance_decomposition"][0][0]
    out = R.bias_variance_decomposition(P, f, nv)
    assert set(out) == {"bias2", "variance", "noise", "expected_mse"}
    assert np.isclose(out["bias2"], np.mean((P.mean(0) - f) ** 2))
    assert np.isclose(out["variance"], np.mean(np.var(P, axis=0)))
    # with ddof 0 the identity is exact: mean squared error against f = bias^2 + variance
    assert np.isclose(out["expected_mse"], np.mean((P - f) ** 2) + nv)


@pytest.mark.parametrize("degree", [1, 3, 9])
def test_decomposition_holds_on_the_simulation(degree):
    """bias^2 + variance + noise equals the measured expected test MSE within sampling error."""
    rng = np.random.default_rng(100 + degree)
    f = H.TRUE_FUNCTIONS["sin"]
    x_test = np.linspace(0, 1, 40)
    noise_std, n_datasets = 0.3, 3000
    P = R.simulate_predictions(f, degree, n_datasets, 25, noise_std, x_test, rng)
    out = R.bias_variance_decomposition(P, f(x_test), noise_std ** 2)
    y_new = f(x_test) + rng.normal(0, noise_std, P.shape)        # fresh test targets
    errors = ((P - y_new) ** 2).mean(axis=1)                      # one test MSE per data set
    measured, se = errors.mean(), errors.std(ddof=1) / np.sqrt(n_datasets)
    assert abs(measured - out["expected_mse"]) < 4 * se + 1e-12, (measured, out, se)


def test_u_shape_bias_falls_variance_rises():
    f = H.TRUE_FUNCTIONS["sin"]
    x_test = np.linspace(0, 1, 40)
    parts = []
    for degree in (1, 3, 5, 9):
        P = R.simulate_predictions(f, degree, 400, 15, 0.3, x_test, np.random.default_rng(degree))
        parts.append(R.bias_variance_decomposition(P, f(x_test), 0.09))
    assert parts[0]["bias2"] > parts[1]["bias2"]            # underfitting: bias dominates
    assert parts[-1]["variance"] > 5 * parts[1]["variance"]  # overfitting: variance dominates
    mse = [p["expected_mse"] for p in parts]
    assert mse[0] > min(mse) < mse[-1]


def test_simulation_draws_only_from_rng_in_the_catalogue_order():
    case = SIM_CASES[0]
    trace = H.simulate_trace(namespace(), **case)
    assert not trace["global_rng_used"] and not trace["x_test_modified"]
    rng = np.random.default_rng(case["seed"])
    f = H.TRUE_FUNCTIONS[case["f_name"]]
    lo, hi = case["x_test"].min(), case["x_test"].max()
    for row in trace["predictions"]:
        x = rng.uniform(lo, hi, case["n_train"])
        y = f(x) + rng.normal(0, case["noise_std"], case["n_train"])
        w = np.polyfit(x, y, case["degree"])
        assert np.allclose(row, np.polyval(w, case["x_test"]))
    assert trace["next_draw"] == rng.random()


# ---- mutants and alternatives ---------------------------------------------------------------------

def _variants(fn, label):
    return [v for lab, v in R.PITFALLS.variants.get(fn, []) if lab == label]


@pytest.mark.parametrize("label,fn,source", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_reproduces_a_variant_of_its_label(label, fn, source):
    ns = namespace(source)
    if fn == "simulate_predictions":
        traces = [H.simulate_trace(ns, **case) for case in SIM_CASES]
        if label == "not-drawn-from-rng":
            assert all(t["global_rng_used"] for t in traces)
            return
        for case, t in zip(SIM_CASES, traces):
            want = H.simulate_trace(namespace(), **case)
            assert mismatch(t["predictions"], want["predictions"]) is not None
            assert any(mismatch(t["predictions"], H.simulate_trace(namespace() | {fn: v}, **case)
                                ["predictions"]) is None for v in _variants(fn, label))
        return
    variants = _variants(fn, label)
    assert variants, f"no variant registered under {label}"
    differing = 0
    for args, kwargs in CASES[fn]:
        got = run(ns, fn, args, kwargs)
        if mismatch(got, getattr(R, fn)(*args, **kwargs)) is None:
            continue
        differing += 1
        assert any(mismatch(got, v(*copy.deepcopy(args), **kwargs), equal_nan=True) is None
                   for v in variants), f"{label}: no variant reproduces {got}"
    assert differing, f"{label}: the mutant agrees with the reference on every case"


@pytest.mark.parametrize("fn,source", ALTERNATIVES, ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_alternative_equals_reference(fn, source):
    ns = namespace(source)
    if fn == "simulate_predictions":
        for case in SIM_CASES:
            got, want = H.simulate_trace(ns, **case), H.simulate_trace(namespace(), **case)
            assert mismatch(got, want) is None
        return
    for args, kwargs in CASES[fn]:
        assert mismatch(run(ns, fn, args, kwargs), getattr(R, fn)(*args, **kwargs)) is None


def test_every_function_has_two_alternatives_and_every_label_a_mutant():
    from collections import Counter

    counts = Counter(fn for fn, _ in ALTERNATIVES)
    assert all(counts[f] >= 2 for f in R.LABELS.functions), counts
    assert R.LABELS.required <= {label for label, *_ in MUTANTS}
