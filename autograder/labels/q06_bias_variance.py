"""q06_bias_variance: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("polynomial_features", "fit_least_squares", "bias_variance_decomposition",
               "simulate_predictions"),
    catalogue={
        "ridge-penalizes-intercept": (
            "the ridge penalty was applied to every coefficient, the intercept w[0] included, so a "
            "larger penalty also drags the whole curve towards zero instead of only flattening it.",
            "Penalise only w[1:]: add ridge to the diagonal of X^T X everywhere except entry "
            "[0, 0] (or stack sqrt(ridge) * I without its first row under X)."),
        "variance-over-test-points": (
            "the variance was taken across test points (how much the prediction changes along x), "
            "but the variance of the decomposition is across data sets: how much the prediction at "
            "one fixed x changes when the model is trained on another sample.",
            "Take the variance over axis 0 (the data sets) of the (n_datasets, n_test) predictions, "
            "then average that over the test points."),
        "bias-not-squared-pointwise": (
            "the bias was averaged over the test points before squaring (or not squared at all), so "
            "errors above the true curve cancel errors below it.",
            "Square first, then average: np.mean((predictions.mean(0) - f_true) ** 2)."),
    },
    uses=(),
    extra={
        "variance-ddof-1": (
            "the variance across data sets was computed with ddof=1 (the unbiased estimate, the "
            "default of torch.var and pandas); the decomposition uses the plain mean of squared "
            "deviations (ddof=0), which is what makes bias^2 + variance add up exactly.",
            "Use np.var(..., axis=0) (ddof=0), or torch.var(..., unbiased=False)."),
        "rng-draw-order": (
            "the random numbers were drawn from `rng` in another order than the contract's: e.g. "
            "every data set's x first and then all the noise, or the noise before the x of each "
            "data set. Each draw is right on its own, but the same seed gives other data sets.",
            "For each data set in turn: x = rng.uniform(x_test.min(), x_test.max(), n_train), then "
            "y = f(x) + rng.normal(0, noise_std, n_train), then fit; no other draws."),
        "not-drawn-from-rng": (
            "the randomness did not come from the `rng` argument (np.random.uniform / np.random."
            "normal use numpy's global generator; np.random.default_rng() makes a new one), so the "
            "caller's seed does not decide the simulation.",
            "Draw every random number with the generator you were given: rng.uniform(...), "
            "rng.normal(...)."),
    },
)
