"""q06 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
The notebook's setup cell did `import numpy as np` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("ridge-penalizes-intercept", "fit_least_squares", '''
def fit_least_squares(X, y, ridge=0.0):
    if ridge == 0:
        return np.linalg.lstsq(X, y, rcond=None)[0]
    d = X.shape[1]
    return np.linalg.solve(X.T @ X + ridge * np.eye(d), X.T @ y)
'''),
    ("variance-over-test-points", "bias_variance_decomposition", '''
def bias_variance_decomposition(predictions, f_true, noise_var):
    avg = predictions.mean(axis=0)
    bias2 = np.mean((avg - f_true) ** 2)
    variance = predictions.var(axis=1).mean()      # spread along x, per data set
    return {"bias2": bias2, "variance": variance, "noise": noise_var,
            "expected_mse": bias2 + variance + noise_var}
'''),
    ("bias-not-squared-pointwise", "bias_variance_decomposition", '''
def bias_variance_decomposition(predictions, f_true, noise_var):
    mean_pred = np.mean(predictions, axis=0)
    bias = np.mean(mean_pred - f_true)
    bias2 = bias ** 2
    variance = np.mean(np.var(predictions, axis=0))
    return dict(bias2=bias2, variance=variance, noise=noise_var,
                expected_mse=bias2 + variance + noise_var)
'''),
    ("variance-ddof-1", "bias_variance_decomposition", '''
import torch
def bias_variance_decomposition(predictions, f_true, noise_var):
    P = torch.as_tensor(predictions)
    f = torch.as_tensor(f_true)
    bias2 = ((P.mean(0) - f) ** 2).mean().item()
    variance = P.var(0).mean().item()               # torch.var is unbiased by default
    return {"bias2": bias2, "variance": variance, "noise": float(noise_var),
            "expected_mse": bias2 + variance + float(noise_var)}
'''),
    ("rng-draw-order", "simulate_predictions", '''
def simulate_predictions(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    # all the inputs at once, then all the noise: vectorised, but another experiment for the seed
    xs = rng.uniform(x_test.min(), x_test.max(), size=(n_datasets, n_train))
    noise = rng.normal(0, noise_std, size=(n_datasets, n_train))
    X_test = polynomial_features(x_test, degree)
    return np.stack([X_test @ fit_least_squares(polynomial_features(x, degree), f(x) + e)
                     for x, e in zip(xs, noise)])
'''),
    ("not-drawn-from-rng", "simulate_predictions", '''
def simulate_predictions(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    out = []
    for _ in range(n_datasets):
        x = np.random.uniform(x_test.min(), x_test.max(), n_train)
        y = f(x) + np.random.normal(0, noise_std, n_train)
        w = fit_least_squares(polynomial_features(x, degree), y)
        out.append(polynomial_features(x_test, degree) @ w)
    return np.array(out)
'''),
    ("bias-not-squared-pointwise", "bias_variance_decomposition", '''
def bias_variance_decomposition(predictions, f_true, noise_var):
    bias = np.mean(np.abs(predictions.mean(axis=0) - f_true))     # average absolute bias, never squared
    variance = predictions.var(axis=0).mean()
    return {"bias2": bias, "variance": variance, "noise": noise_var,
            "expected_mse": bias + variance + noise_var}
'''),
]

ALTERNATIVES = [
    ("polynomial_features", '''
def polynomial_features(x, degree):
    return np.vander(x, degree + 1, increasing=True)
'''),
    ("polynomial_features", '''
def polynomial_features(x, degree):
    cols = [np.ones_like(x)]
    for k in range(degree):
        cols.append(cols[-1] * x)
    return np.stack(cols, axis=1)
'''),
    ("polynomial_features", '''
def polynomial_features(x, degree):
    return np.power.outer(np.asarray(x, dtype=float), np.arange(degree + 1))
'''),
    ("fit_least_squares", '''
def fit_least_squares(X, y, ridge=0.0):
    if ridge == 0:
        return np.linalg.pinv(X) @ y
    penalty = ridge * np.eye(X.shape[1])
    penalty[0, 0] = 0.0              # the intercept is free
    return np.linalg.solve(X.T @ X + penalty, X.T @ y)
'''),
    ("fit_least_squares", '''
import scipy.linalg
from sklearn.linear_model import Ridge
def fit_least_squares(X, y, ridge=0.0):
    if ridge == 0:
        return scipy.linalg.lstsq(X, y)[0]
    # column 0 is the constant feature 1: let sklearn fit it as an unpenalised intercept
    model = Ridge(alpha=ridge, fit_intercept=True).fit(X[:, 1:], y)
    return np.r_[model.intercept_, model.coef_]
'''),
    ("fit_least_squares", '''
def fit_least_squares(X, y, ridge=0.0):
    d = X.shape[1]
    A = np.vstack([X, np.sqrt(ridge) * np.eye(d)[1:]])
    b = np.concatenate([y, np.zeros(d - 1)])
    w, *_ = np.linalg.lstsq(A, b, rcond=None)
    return w
'''),
    ("bias_variance_decomposition", '''
def bias_variance_decomposition(predictions, f_true, noise_var):
    n_datasets, n_test = predictions.shape
    bias2 = variance = 0.0
    for j in range(n_test):
        col = predictions[:, j]
        m = sum(col) / n_datasets
        bias2 += (m - f_true[j]) ** 2
        variance += sum((c - m) ** 2 for c in col) / n_datasets
    bias2, variance = bias2 / n_test, variance / n_test
    return {"bias2": bias2, "variance": variance, "noise": noise_var,
            "expected_mse": bias2 + variance + noise_var}
'''),
    ("bias_variance_decomposition", '''
import torch
def bias_variance_decomposition(predictions, f_true, noise_var):
    P, f = torch.tensor(predictions), torch.tensor(f_true)
    out = {"bias2": ((P.mean(0) - f) ** 2).mean().item(),
           "variance": P.var(0, unbiased=False).mean().item(),
           "noise": float(noise_var)}
    # the expected squared error measured directly: equal to bias2 + variance + noise
    out["expected_mse"] = ((P - f) ** 2).mean().item() + noise_var
    return out
'''),
    ("simulate_predictions", '''
def simulate_predictions(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    preds = []
    for _ in range(n_datasets):
        x = rng.uniform(low=x_test.min(), high=x_test.max(), size=n_train)
        y = f(x) + rng.normal(loc=0.0, scale=noise_std, size=n_train)
        coef = np.polyfit(x, y, degree)
        preds.append(np.polyval(coef, x_test))
    return np.array(preds)
'''),
    ("simulate_predictions", '''
def simulate_predictions(f, degree, n_datasets, n_train, noise_std, x_test, rng):
    lo, hi = float(np.min(x_test)), float(np.max(x_test))
    Phi_test = polynomial_features(x_test, degree)
    out = np.zeros((n_datasets, len(x_test)))
    for d in range(n_datasets):
        xs = rng.uniform(lo, hi, n_train)
        noise = rng.normal(0, noise_std, n_train)
        w = fit_least_squares(polynomial_features(xs, degree), f(xs) + noise)
        out[d] = Phi_test @ w
    return out
'''),
]
