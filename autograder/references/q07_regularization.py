"""q07_regularization: reference answers and the classic mistakes as code. Never leaves the instructor."""
import numpy as np
import torch
from torch import nn

from autograder.labels.q07_regularization import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# The grading plugin sets torch to one thread only when torch is imported before the checks are
# collected, which these checks do not do; with the default pool every tiny F.batch_norm in the
# grading parent costs ~0.2 s instead of ~0.1 ms. The references run tiny tensors: one thread.
torch.set_num_threads(1)
# lasso_ista's proximal step is soft_threshold; a penalty may be reused by other functions.
STANDINS = ("soft_threshold", "l1_penalty", "l2_penalty")


def _np(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


# ---- penalties ------------------------------------------------------------------------------------

def l1_penalty(w, lam):
    """lam * sum |w| (a float)."""
    return float(lam * np.sum(np.abs(_np(w))))


def l2_penalty(w, lam):
    """0.5 * lam * sum w^2 (a float): its gradient is lam * w."""
    return float(0.5 * lam * np.sum(_np(w) ** 2))


@PITFALLS.variant("l2_penalty", "l2-missing-half")
def l2_penalty_without_half(w, lam):
    return float(lam * np.sum(_np(w) ** 2))


# ---- soft_threshold -------------------------------------------------------------------------------

def soft_threshold(w, t):
    """The proximal operator of t * ||.||_1: sign(w) * max(|w| - t, 0), elementwise."""
    w = _np(w)
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


@PITFALLS.variant("soft_threshold", "threshold-one-sided")
def soft_threshold_positive_side_only(w, t):
    return np.maximum(_np(w) - t, 0.0)


@PITFALLS.variant("soft_threshold", "hard-threshold")
def hard_threshold(w, t):
    w = _np(w)
    return np.where(np.abs(w) > t, w, 0.0)


# ---- lasso_ista -----------------------------------------------------------------------------------

def lasso_ista(X, y, lam, lr, steps):
    """ISTA for (1/2n)||Xw - y||^2 + lam ||w||_1, from w = 0, no intercept. Returns w (d,).

    Each step: a gradient step on the smooth part, then the proximal step of lr * lam * ||.||_1.
    """
    X, y = _np(X), _np(y).reshape(-1)
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    for _ in range(int(steps)):
        w = soft_threshold(w - lr * X.T @ (X @ w - y) / n, lr * lam)
    return np.asarray(w, dtype=np.float64)


@PITFALLS.variant("lasso_ista", "subgradient-no-exact-zeros")
def lasso_subgradient(X, y, lam, lr, steps):
    X, y = _np(X), _np(y).reshape(-1)
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    for _ in range(int(steps)):
        w = w - lr * (X.T @ (X @ w - y) / n + lam * np.sign(w))
    return w


@PITFALLS.variant("lasso_ista", "threshold-not-scaled-by-lr")
def lasso_threshold_lam(X, y, lam, lr, steps):
    X, y = _np(X), _np(y).reshape(-1)
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    for _ in range(int(steps)):
        w = soft_threshold(w - lr * X.T @ (X @ w - y) / n, lam)
    return np.asarray(w, dtype=np.float64)


def sklearn_lasso(X, y, lam):
    """Not a student function: scikit-learn's Lasso(alpha=lam, fit_intercept=False) solved to
    convergence, whose objective (1/2n)||Xw - y||^2 + lam ||w||_1 is lasso_ista's. The check asks
    the oracle for it to know where the exact zeros are."""
    from sklearn.linear_model import Lasso

    X, y = _np(X), _np(y).reshape(-1)
    model = Lasso(alpha=float(lam), fit_intercept=False, tol=1e-12, max_iter=200_000)
    return np.asarray(model.fit(X, y).coef_, dtype=np.float64)


# ---- ridge_closed_form ----------------------------------------------------------------------------

def ridge_closed_form(X, y, lam):
    """argmin (1/2n)||Xw - y||^2 + (lam/2)||w||^2, every coefficient penalised: scikit-learn's
    Ridge(alpha=n * lam, fit_intercept=False), the ground truth the exercise names (its objective
    ||Xw - y||^2 + alpha ||w||^2 is 2n times ours). In closed form, solve(X^T X + n lam I, X^T y)."""
    from sklearn.linear_model import Ridge

    X, y = _np(X), _np(y).reshape(-1)
    model = Ridge(alpha=X.shape[0] * float(lam), fit_intercept=False, solver="cholesky")
    return np.asarray(model.fit(X, y).coef_, dtype=np.float64)


@PITFALLS.variant("ridge_closed_form", "missing-n-scaling")
def ridge_without_n(X, y, lam):
    X, y = _np(X), _np(y).reshape(-1)
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


@PITFALLS.variant("ridge_closed_form", "missing-n-scaling")
def ridge_gram_scaled_but_not_rhs(X, y, lam):
    # X^T X / n + lam I on the left, X^T y without its 1/n on the right: n times too large
    X, y = _np(X), _np(y).reshape(-1)
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + lam * np.eye(d), X.T @ y)


# ---- dropout (graded on properties through harnesses.q07_regularization.dropout_trace) -------------

def dropout(x, p, training, generator):
    """Inverted dropout: keep each element with probability 1 - p (drawn only from `generator`),
    scale the kept ones by 1 / (1 - p). x unchanged when not training or p == 0; zeros when p == 1."""
    if not training or p == 0:
        return x
    if p >= 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, dtype=torch.float64) >= p
    return x * keep.to(x.dtype) / (1 - p)


# ---- decay_param_groups ---------------------------------------------------------------------------

_DECAYED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def decay_param_groups(model, weight_decay):
    """Two AdamW groups: the weight of every Linear/Conv{1,2,3}d with `weight_decay`, every other
    parameter (biases, norms, embeddings, free parameters) with 0.0; each parameter exactly once."""
    decayed = set()
    for module in model.modules():
        if isinstance(module, _DECAYED) and isinstance(getattr(module, "weight", None), nn.Parameter):
            decayed.add(id(module.weight))
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        (decay if id(param) in decayed else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


@PITFALLS.variant("decay_param_groups", "decay-on-bias-and-norm")
def decay_everything_but_biases(model, weight_decay):
    # name-based split: norm gains and embedding tables still decayed
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@PITFALLS.variant("decay_param_groups", "decay-on-bias-and-norm")
def decay_every_matrix(model, weight_decay):
    # the "p.dim() >= 2" rule: embedding tables decayed
    params = list(model.parameters())
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


@PITFALLS.variant("decay_param_groups", "decay-on-bias-and-norm")
def decay_all(model, weight_decay):
    return [{"params": list(model.parameters()), "weight_decay": weight_decay},
            {"params": [], "weight_decay": 0.0}]


@PITFALLS.variant("decay_param_groups", "matrix-weights-not-decayed")
def decay_linear_only(model, weight_decay):
    linear = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    params = list(model.parameters())
    return [{"params": [p for p in params if id(p) in linear], "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) not in linear], "weight_decay": 0.0}]
