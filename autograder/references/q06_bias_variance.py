"""q06_bias_variance: reference answers and the classic mistakes as code. Never leaves the instructor."""
import numpy as np

from autograder.labels.q06_bias_variance import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# simulate_predictions builds its design matrices and fits with these two.
STANDINS = ("polynomial_features", "fit_least_squares")


def _vector(x):
    return np.asarray(x, dtype=np.float64).reshape(-1)


def polynomial_features(x, degree):
    """x (n,) -> (n, degree + 1) with columns 1, x, x^2, ..., x^degree."""
    x = _vector(x)
    return x[:, None] ** np.arange(int(degree) + 1)


# ---- fit_least_squares ---------------------------------------------------------------------------

def _stacked_lstsq(X, y, penalty_rows):
    """lstsq of [X; P] w = [y; 0]: minimises ||Xw - y||^2 + ||P w||^2, minimum norm when singular."""
    A = np.vstack([X, penalty_rows])
    b = np.concatenate([y, np.zeros(penalty_rows.shape[0])])
    return np.linalg.lstsq(A, b, rcond=None)[0]


def fit_least_squares(X, y, ridge=0.0):
    """X (n, d), y (n,) -> w (d,) minimising ||Xw - y||^2 + ridge * ||w[1:]||^2.

    Column 0 is the intercept and is not penalised. With ridge == 0 this is np.linalg.lstsq, the
    minimum-norm solution when X is rank-deficient. The penalty is written as extra rows of the
    least-squares system rather than as normal equations, which would square X's condition number.
    """
    X = np.asarray(X, dtype=np.float64)
    y = _vector(y)
    if ridge == 0:
        return np.linalg.lstsq(X, y, rcond=None)[0]
    d = X.shape[1]
    return _stacked_lstsq(X, y, np.sqrt(ridge) * np.eye(d)[1:])


@PITFALLS.variant("fit_least_squares", "ridge-penalizes-intercept")
def fit_least_squares_penalising_all(X, y, ridge=0.0):
    X = np.asarray(X, dtype=np.float64)
    y = _vector(y)
    if ridge == 0:
        return np.linalg.lstsq(X, y, rcond=None)[0]
    return _stacked_lstsq(X, y, np.sqrt(ridge) * np.eye(X.shape[1]))


# ---- bias_variance_decomposition ------------------------------------------------------------------

def _result(bias2, variance, noise_var, expected_mse=None):
    noise = float(noise_var)
    mse = bias2 + variance + noise if expected_mse is None else expected_mse
    return {"bias2": float(bias2), "variance": float(variance), "noise": noise,
            "expected_mse": float(mse)}


def bias_variance_decomposition(predictions, f_true, noise_var):
    """predictions (n_datasets, n_test), f_true (n_test,) -> dict of floats.

    bias2    = mean over test points of (mean over data sets of the prediction - f_true)^2
    variance = mean over test points of the variance over data sets (ddof 0)
    noise    = noise_var;  expected_mse = bias2 + variance + noise
    """
    P = np.asarray(predictions, dtype=np.float64)
    f = _vector(f_true)
    bias2 = np.mean((P.mean(axis=0) - f) ** 2)
    variance = np.mean(P.var(axis=0))
    return _result(bias2, variance, noise_var)


def _with_one_wrong_piece(label, wrong_bias2=None, wrong_variance=None):
    """Register two variants for a mistake in bias2 or variance: one whose expected_mse adds up the
    (wrong) pieces, one whose expected_mse was measured directly as mean((P - f)^2) + noise (a
    student may do either; the measured one is right whatever the pieces are)."""
    def pieces(predictions, f_true):
        P = np.asarray(predictions, dtype=np.float64)
        f = _vector(f_true)
        bias2 = np.mean((P.mean(axis=0) - f) ** 2) if wrong_bias2 is None else wrong_bias2(P, f)
        variance = np.mean(P.var(axis=0)) if wrong_variance is None else wrong_variance(P)
        return P, f, bias2, variance

    def added_up(predictions, f_true, noise_var):
        _, _, bias2, variance = pieces(predictions, f_true)
        return _result(bias2, variance, noise_var)

    def measured(predictions, f_true, noise_var):
        P, f, bias2, variance = pieces(predictions, f_true)
        return _result(bias2, variance, noise_var, np.mean((P - f) ** 2) + float(noise_var))

    PITFALLS.variant("bias_variance_decomposition", label)(added_up)
    PITFALLS.variant("bias_variance_decomposition", label)(measured)


# variance along x (per data set, then averaged), of the mean curve, or of every prediction at once
_with_one_wrong_piece("variance-over-test-points", wrong_variance=lambda P: np.mean(P.var(axis=1)))
_with_one_wrong_piece("variance-over-test-points", wrong_variance=lambda P: np.var(P.mean(axis=0)))
_with_one_wrong_piece("variance-over-test-points", wrong_variance=lambda P: np.var(P))
# the bias averaged before squaring, not squared at all, or its absolute value averaged
_with_one_wrong_piece("bias-not-squared-pointwise", wrong_bias2=lambda P, f: np.mean(P.mean(0) - f) ** 2)
_with_one_wrong_piece("bias-not-squared-pointwise", wrong_bias2=lambda P, f: np.mean(P.mean(0) - f))
_with_one_wrong_piece("bias-not-squared-pointwise", wrong_bias2=lambda P, f: np.mean(np.abs(P.mean(0) - f)))
# torch.var / pandas default: the unbiased estimate
_with_one_wrong_piece("variance-ddof-1", wrong_variance=lambda P: np.mean(P.var(axis=0, ddof=1)))


# ---- simulate_predictions -------------------------------------------------------------------------

def simulate_predictions(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    """Fit a degree-`degree` polynomial to each of n_datasets fresh noisy samples of f.

    For each data set in turn: x = rng.uniform(x_test.min(), x_test.max(), n_train), then
    y = f(x) + rng.normal(0, noise_std, n_train); fit by least squares and predict at x_test.
    Returns (n_datasets, n_test). All randomness comes from `rng`.
    """
    return _simulate(f, degree, n_datasets, n_train, noise_std, x_test, rng, _draw_in_turn)


def _draw_in_turn(rng, lo, hi, n_datasets, n_train, noise_std):
    for _ in range(int(n_datasets)):
        x = rng.uniform(lo, hi, n_train)
        yield x, rng.normal(0, noise_std, n_train)


def _simulate(f, degree, n_datasets, n_train, noise_std, x_test, rng, draws):
    """The simulation with the data sets' (x, noise) drawn by `draws` (a variant changes only that).
    Fits and features come from the namespace's fit_least_squares / polynomial_features."""
    x_test = _vector(x_test)
    lo, hi = x_test.min(), x_test.max()
    X_test = polynomial_features(x_test, degree)
    out = np.empty((int(n_datasets), x_test.size))
    for i, (x, noise) in enumerate(draws(rng, lo, hi, n_datasets, n_train, noise_std)):
        y = f(x) + noise
        w = fit_least_squares(polynomial_features(x, degree), y)
        out[i] = X_test @ np.asarray(w, dtype=np.float64)
    return out


def _all_x_first(rng, lo, hi, n_datasets, n_train, noise_std):
    xs = rng.uniform(lo, hi, (int(n_datasets), n_train))
    noise = rng.normal(0, noise_std, (int(n_datasets), n_train))
    return zip(xs, noise)


def _noise_first(rng, lo, hi, n_datasets, n_train, noise_std):
    for _ in range(int(n_datasets)):
        noise = rng.normal(0, noise_std, n_train)
        yield rng.uniform(lo, hi, n_train), noise


@PITFALLS.variant("simulate_predictions", "rng-draw-order")
def simulate_all_x_first(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    return _simulate(f, degree, n_datasets, n_train, noise_std, x_test, rng, _all_x_first)


@PITFALLS.variant("simulate_predictions", "rng-draw-order")
def simulate_noise_first(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    return _simulate(f, degree, n_datasets, n_train, noise_std, x_test, rng, _noise_first)
