"""q07 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
The notebook's setup cell did `import numpy as np`, `import torch`, `from torch import nn`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("subgradient-no-exact-zeros", "lasso_ista", '''
def lasso_ista(X, y, lam, lr, steps):
    n, d = X.shape
    w = np.zeros(d)
    for _ in range(steps):
        grad = X.T @ (X @ w - y) / n + lam * np.sign(w)   # subgradient of the L1 term
        w -= lr * grad
    return w
'''),
    ("threshold-not-scaled-by-lr", "lasso_ista", '''
def lasso_ista(X, y, lam, lr, steps):
    n = len(y)
    w = np.zeros(X.shape[1])
    for step in range(steps):
        z = w - lr * (X.T @ (X @ w - y)) / n
        w = soft_threshold(z, lam)
    return w
'''),
    ("missing-n-scaling", "ridge_closed_form", '''
def ridge_closed_form(X, y, lam):
    d = X.shape[1]
    return np.linalg.inv(X.T @ X + lam * np.eye(d)) @ X.T @ y
'''),
    ("non-inverted-dropout", "dropout", '''
def dropout(x, p, training, generator):
    if not training:
        return x
    mask = (torch.rand(x.shape, generator=generator) > p).to(x.dtype)
    return x * mask
'''),
    ("dropout-in-eval", "dropout", '''
def dropout(x, p, training, generator):
    if p == 1:
        return torch.zeros_like(x)
    mask = torch.rand(x.shape, generator=generator) >= p
    return x * mask / (1 - p)
'''),
    ("keep-prob-confusion", "dropout", '''
def dropout(x, p, training, generator):
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator) < p     # p read as the keep probability
    return x * keep / p
'''),
    ("decay-on-bias-and-norm", "decay_param_groups", '''
def decay_param_groups(model, weight_decay):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if "bias" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
'''),
    ("l2-missing-half", "l2_penalty", '''
def l2_penalty(w, lam):
    return lam * np.sum(w ** 2)
'''),
    ("threshold-one-sided", "soft_threshold", '''
def soft_threshold(w, t):
    return np.maximum(w - t, 0)
'''),
    ("dropout-global-rng", "dropout", '''
def dropout(x, p, training, generator):
    return F.dropout(x, p=p, training=training)
'''),
    ("matrix-weights-not-decayed", "decay_param_groups", '''
def decay_param_groups(model, weight_decay):
    decay = set()
    for m in model.modules():
        if isinstance(m, nn.Linear):
            decay.add(m.weight)
    rest = [p for p in model.parameters() if p not in decay]
    return [{"params": list(decay), "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]
'''),
    ("non-inverted-dropout", "dropout", '''
def dropout(x, p, training, generator):
    # the "classic" convention: drop in training, scale by the keep probability at evaluation
    if not training:
        return x * (1 - p)
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator) >= p
    return torch.where(keep, x, torch.zeros_like(x))
'''),
]

ALTERNATIVES = [
    ("l1_penalty", '''
def l1_penalty(w, lam):
    return lam * np.linalg.norm(np.ravel(w), ord=1)
'''),
    ("l1_penalty", '''
def l1_penalty(w, lam):
    return (lam * torch.as_tensor(w).abs().sum()).item()
'''),
    ("l2_penalty", '''
def l2_penalty(w, lam):
    w = np.ravel(w)
    return 0.5 * lam * np.dot(w, w)
'''),
    ("l2_penalty", '''
def l2_penalty(w, lam):
    return lam / 2 * np.linalg.norm(w) ** 2
'''),
    ("soft_threshold", '''
def soft_threshold(w, t):
    return np.where(w > t, w - t, np.where(w < -t, w + t, 0.0))
'''),
    ("soft_threshold", '''
def soft_threshold(w, t):
    return w - np.clip(w, -t, t)
'''),
    ("soft_threshold", '''
def soft_threshold(w, t):
    return F.softshrink(torch.as_tensor(w, dtype=torch.float64), t).numpy()
'''),
    ("lasso_ista", '''
def lasso_ista(X, y, lam, lr, steps):
    n = X.shape[0]
    gram, xty = X.T @ X / n, X.T @ y / n
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        w = soft_threshold(w - lr * (gram @ w - xty), lr * lam)
    return w
'''),
    ("lasso_ista", '''
def lasso_ista(X, y, lam, lr, steps):
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    w = torch.zeros(Xt.shape[1], dtype=torch.float64)
    for _ in range(steps):
        z = w - lr * Xt.T @ (Xt @ w - yt) / Xt.shape[0]
        w = torch.sign(z) * torch.clamp(z.abs() - lr * lam, min=0)
    return w.numpy()
'''),
    ("ridge_closed_form", '''
def ridge_closed_form(X, y, lam):
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + lam * np.eye(d), X.T @ y / n)
'''),
    ("ridge_closed_form", '''
from sklearn.linear_model import Ridge
def ridge_closed_form(X, y, lam):
    # sklearn minimises ||y - Xw||^2 + alpha ||w||^2: alpha = n * lam
    return Ridge(alpha=len(y) * lam, fit_intercept=False).fit(X, y).coef_
'''),
    ("ridge_closed_form", '''
def ridge_closed_form(X, y, lam):
    n, d = X.shape
    A = np.vstack([X, np.sqrt(n * lam) * np.eye(d)])
    b = np.concatenate([y, np.zeros(d)])
    return np.linalg.lstsq(A, b, rcond=None)[0]
'''),
    ("dropout", '''
def dropout(x, p, training, generator):
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    mask = torch.bernoulli(torch.full_like(x, 1 - p), generator=generator)
    return mask * x / (1 - p)
'''),
    ("dropout", '''
def dropout(x, p, training, generator):
    if not training or p == 0.0:
        return x.clone()
    if p >= 1.0:
        return x * 0
    keep = torch.empty_like(x).bernoulli_(1 - p, generator=generator)
    return x * keep * (1.0 / (1.0 - p))
'''),
    ("dropout", '''
def dropout(x, p, training, generator):
    if training and p > 0:
        u = torch.rand(*x.shape, generator=generator)
        scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
        return torch.where(u < p, torch.zeros_like(x), x * scale)
    return x
'''),
    ("decay_param_groups", '''
def decay_param_groups(model, weight_decay):
    # minGPT style: classify every parameter by the module that owns it
    decay, no_decay = set(), set()
    for mn, m in model.named_modules():
        for pn, p in m.named_parameters(recurse=False):
            full = f"{mn}.{pn}" if mn else pn
            if pn == "weight" and isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                decay.add(full)
            else:
                no_decay.add(full)
    params = dict(model.named_parameters())
    return [{"params": [params[n] for n in sorted(decay)], "weight_decay": weight_decay},
            {"params": [params[n] for n in sorted(no_decay)], "weight_decay": 0.0}]
'''),
    ("decay_param_groups", '''
def decay_param_groups(model, weight_decay):
    wanted = {id(m.weight) for m in model.modules()
              if type(m) in (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)}
    no_decay = [p for p in model.parameters() if id(p) not in wanted]
    decay = [p for p in model.parameters() if id(p) in wanted]
    return [dict(params=no_decay, weight_decay=0.0), dict(params=decay, weight_decay=weight_decay)]
'''),
]
