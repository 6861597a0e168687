"""Checks for q06_bias_variance.

polynomial_features, fit_least_squares and bias_variance_decomposition take plain arrays and are
compared with the oracle; on a mismatch the pitfall variants name the mistake. The inputs are
built so that each classic mistake shows: a y far from zero (a penalised intercept cannot reach
it), prediction curves above the truth in one half and below it in the other (a bias averaged
before squaring cancels), curves that wiggle along x but hardly move between data sets (a variance
taken along x is large, the true one small). One check also measures the expected test error of a
simulation directly, with fresh noisy targets, and asks that bias^2 + variance + noise match it
within sampling error.

simulate_predictions takes a function and a random generator, which cannot cross into the grading
process: a harness of autograder/harnesses/q06_bias_variance.py builds both from a name and a seed
in the worker, calls the student's function and reports its predictions, whether numpy's global
generator moved and the generator's next draw; the oracle runs the same harness on the references
(nb.trace) and with each pitfall variant (nb.variant_traces). Inputs come from nb.rng / nb.seed.
"""
import numpy as np
import pytest

from whiteboard.grading.compare import mismatch, show


def vander(x, degree):
    """Design matrices for the fitting checks (inputs, built here: not the student's function)."""
    return np.asarray(x, dtype=np.float64)[:, None] ** np.arange(degree + 1)


def curve_data(nb, k, n, degree, offset=0.0):
    rng = nb.rng(k)
    x = rng.uniform(-1, 1, n)
    y = offset + np.sin(3 * x) + 0.5 * x ** 2 + 0.1 * rng.normal(size=n)
    return vander(x, degree), y


# ---- polynomial_features -------------------------------------------------------------------------

@pytest.mark.grades("polynomial_features")
class TestPolynomialFeatures:
    @pytest.mark.points(1)
    def test_cubic(self, nb):
        """degree 3 on 7 points"""
        nb.expect("polynomial_features", nb.rng(0).uniform(-2, 2, 7), 3)

    @pytest.mark.points(1)
    def test_degree_zero_and_one(self, nb):
        """degree 0 is a column of ones; degree 1 adds x"""
        x = nb.rng(1).uniform(-2, 2, 5)
        nb.expect("polynomial_features", x, 0)
        nb.expect("polynomial_features", x, 1)


# ---- fit_least_squares ---------------------------------------------------------------------------

@pytest.mark.grades("fit_least_squares")
class TestFitLeastSquares:
    @pytest.mark.points(2)
    def test_least_squares(self, nb):
        """ridge = 0: the least-squares fit of a cubic to 20 points"""
        nb.expect("fit_least_squares", *curve_data(nb, 10, 20, 3))

    @pytest.mark.points(1)
    def test_minimum_norm(self, nb):
        """more coefficients than points: the minimum-norm solution"""
        nb.expect("fit_least_squares", *curve_data(nb, 11, 4, 6))

    @pytest.mark.points(3)
    def test_ridge_leaves_the_intercept_free(self, nb):
        """ridge > 0 penalises every coefficient but the intercept"""
        X, y = curve_data(nb, 12, 25, 4, offset=3.0)
        nb.expect("fit_least_squares", X, y, ridge=round(float(nb.rng(13).uniform(0.5, 3.0)), 3))

    @pytest.mark.points(1)
    def test_huge_ridge_fits_the_mean(self, nb):
        """a huge ridge flattens the curve to the mean of y, not to 0"""
        X, y = curve_data(nb, 14, 15, 2, offset=float(nb.rng(15).uniform(2.0, 6.0)))
        nb.expect("fit_least_squares", X, y, 1e4)


# ---- bias_variance_decomposition -----------------------------------------------------------------

def truth(n_test):
    x = np.linspace(-1, 1, n_test)
    return x, np.sin(2 * x)


@pytest.mark.grades("bias_variance_decomposition")
class TestBiasVarianceDecomposition:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        """30 data sets' predictions at 12 test points"""
        rng = nb.rng(20)
        x, f = truth(12)
        predictions = f + 0.3 * x + rng.normal(scale=0.4, size=(30, 12))
        nb.expect("bias_variance_decomposition", predictions, f, 0.25)

    @pytest.mark.points(2)
    def test_bias_above_and_below(self, nb):
        """the mean prediction is above the truth on one side and below on the other"""
        rng = nb.rng(21)
        x, f = truth(16)
        tilt = rng.uniform(0.5, 1.0)
        predictions = f + tilt * x + rng.normal(scale=0.1, size=(25, 16))
        nb.expect("bias_variance_decomposition", predictions, f, 0.04)

    @pytest.mark.points(2)
    def test_variance_is_across_data_sets(self, nb):
        """curves that wiggle along x but hardly change between data sets"""
        rng = nb.rng(22)
        x, f = truth(20)
        predictions = f + 0.05 + rng.normal(scale=0.05, size=(40, 20))
        nb.expect("bias_variance_decomposition", predictions, f, 0.1)

    @pytest.mark.points(2)
    def test_decomposition_holds_on_a_simulation(self, nb):
        """bias^2 + variance + noise equals the test error measured on fresh noisy targets"""
        rng = nb.rng(23)
        n_datasets, n_train, noise_std, degree = 1000, 12, 0.3, 3
        x_test = np.linspace(-1, 1, 12)
        f_true = np.sin(2 * x_test)
        # 1000 least-squares cubics, each fitted to its own noisy sample of sin(2x)
        x = rng.uniform(-1, 1, (n_datasets, n_train))
        y = np.sin(2 * x) + rng.normal(0, noise_std, x.shape)
        X = x[..., None] ** np.arange(degree + 1)
        w = np.linalg.solve(np.swapaxes(X, 1, 2) @ X, np.swapaxes(X, 1, 2) @ y[..., None])[..., 0]
        predictions = w @ vander(x_test, degree).T
        got = nb.expect("bias_variance_decomposition", predictions, f_true, noise_std ** 2)
        # the expected test error measured directly: new targets at the test points
        y_new = f_true + rng.normal(0, noise_std, predictions.shape)
        errors = ((predictions - y_new) ** 2).mean(axis=1)
        measured, se = errors.mean(), errors.std(ddof=1) / np.sqrt(n_datasets)
        if abs(float(got["expected_mse"]) - measured) > 5 * se:
            raise nb.fail("wrong-value", f"bias_variance_decomposition on {n_datasets} cubic fits "
                          f"of sin(2x) (noise std {noise_std}) gave expected_mse = "
                          f"{float(got['expected_mse']):.5f}, but the squared error against fresh "
                          f"noisy targets measures {measured:.5f} +- {se:.5f}.")


# ---- simulate_predictions ------------------------------------------------------------------------

def sim_params(nb, k, f_name, degree, n_datasets, n_train, noise_std, lo, hi, n_test):
    rng = nb.rng(k)
    a, b = lo + rng.uniform(-0.2, 0.2), hi + rng.uniform(-0.2, 0.2)
    return dict(f_name=f_name, degree=degree, n_datasets=n_datasets, n_train=n_train,
                noise_std=noise_std, x_test=np.linspace(a, b, n_test), seed=nb.seed(k))


def run_simulation(nb, params):
    called = (f"simulate_predictions(f, degree={params['degree']}, n_datasets={params['n_datasets']}, "
              f"n_train={params['n_train']}, noise_std={params['noise_std']}, x_test, rng) with f "
              f"the {params['f_name']} function, x_test {params['x_test'].size} points from "
              f"{params['x_test'][0]:.3f} to {params['x_test'][-1]:.3f} and "
              f"rng = np.random.default_rng({params['seed']})")
    got = nb.run("simulate_predictions", "simulate_trace", params)
    if got["x_test_modified"]:
        raise nb.fail("mutates-input", f"{called}\nchanged x_test in place.")
    if got["global_rng_used"]:
        raise nb.fail("not-drawn-from-rng", f"{called}\ndrew from numpy's global generator "
                      "(np.random.uniform / np.random.normal / np.random.rand ...).")
    return got, called


def expect_simulation(nb, params):
    got, called = run_simulation(nb, params)
    want = nb.trace("simulate_trace", params, "simulate_predictions")
    problem = mismatch(got["predictions"], want["predictions"], rtol=1e-6, atol=1e-8)
    if problem is None:
        return got, want, called
    if np.isclose(got["next_draw"], np.random.default_rng(params["seed"]).random()):
        raise nb.fail("not-drawn-from-rng", f"{called}\nnever drew from `rng`: its first number "
                      "was still there after the call.")

    def same(g, v):
        return mismatch(g["predictions"], v["predictions"], rtol=1e-6, atol=1e-8) is None

    label = nb.match_variant(got, nb.variant_traces("simulate_trace", params, "simulate_predictions"),
                             same) or problem[0]
    raise nb.fail(label, f"{called}\n  expected: {show(want['predictions'])}\n  got:      "
                  f"{show(got['predictions'])}\n  ({problem[1]})")


@pytest.mark.grades("simulate_predictions")
class TestSimulatePredictions:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        """6 cubic fits to noisy samples of a sine, drawn from rng in the contract's order"""
        expect_simulation(nb, sim_params(nb, 30, "sin", 3, 6, 15, 0.3, 0.0, 1.0, 20))

    @pytest.mark.points(2)
    def test_draws_only_from_rng(self, nb):
        """every random number comes from rng, as many as the contract draws"""
        got, want, called = expect_simulation(nb, sim_params(nb, 31, "linear", 2, 4, 10, 0.2,
                                                             -1.0, 1.0, 9))
        if got["next_draw"] != want["next_draw"]:
            raise nb.fail("rng-draw-order", f"{called}\nleft `rng` in another state than the "
                          "contract's draws do (rng.random() afterwards gave "
                          f"{got['next_draw']:.6f}, expected {want['next_draw']:.6f}): it drew "
                          "more or fewer numbers than n_train uniforms and n_train normals per "
                          "data set.")

    @pytest.mark.points(1)
    def test_straight_line_fits_a_cubic(self, nb):
        """degree 1 on a cubic curve over a wider interval"""
        expect_simulation(nb, sim_params(nb, 32, "cubic", 1, 5, 12, 0.5, -1.5, 1.5, 11))
