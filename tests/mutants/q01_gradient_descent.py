"""q01 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np` and `import matplotlib.pyplot as plt`; a source that
needs anything else imports it itself.
"""

MUTANTS = [
    ("forward-difference", "numerical_gradient", '''
def numerical_gradient(f, p, eps=1e-5):
    grad = np.zeros_like(p, dtype=float)
    f_here = f(p)
    it = np.nditer(p, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        q = p.copy()
        q[i] = q[i] + eps
        grad[i] = (f(q) - f_here) / eps
        it.iternext()
    return grad
'''),
    ("mutates-input", "numerical_gradient", '''
def numerical_gradient(f, p, eps=1e-5):
    grad = np.zeros_like(p, dtype=float)
    it = np.nditer(p, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        old = p[i]
        p[i] = old + eps
        f_plus = f(p)
        p[i] = old - eps
        f_minus = f(p)
        grad[i] = (f_plus - f_minus) / (2 * eps)
        it.iternext()          # forgot p[i] = old: p keeps the last probe
    return grad
'''),
    ("gradient-ascent", "gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = np.array(p0, dtype=float)
    vel = np.zeros_like(p)
    out = np.zeros((steps + 1, p.size))
    out[0] = p
    for t in range(steps):
        g = grad_fn(p)
        if noise is not None:
            g = g + noise[t]
        vel = momentum * vel + g
        p = p + lr * vel
        out[t + 1] = p
    return out
'''),
    ("momentum-on-gradient", "gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = p0.astype(float)
    path = [p]
    for t in range(steps):
        g = grad_fn(p)
        if noise is not None:
            g = g + noise[t]
        update = g + momentum * g      # the momentum term
        p = p - lr * update
        path.append(p)
    return np.stack(path)
'''),
    ("momentum-on-gradient", "gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = np.copy(p0).astype(np.float64)
    prev_g = np.zeros_like(p)
    path = [p.copy()]
    for t in range(steps):
        g = grad_fn(p) + (noise[t] if noise is not None else 0.0)
        p = p - lr * (g + momentum * prev_g)
        prev_g = g
        path.append(p.copy())
    return np.array(path)
'''),
    ("velocity-not-carried", "gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = np.array(p0, dtype=np.float64)
    path = [p.copy()]
    for t in range(steps):
        v = np.zeros_like(p)
        g = grad_fn(p)
        if noise is not None:
            g = g + noise[t]
        v = momentum * v + g
        p = p - lr * v
        path.append(p.copy())
    return np.array(path)
'''),
    ("missing-initial-point", "gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = p0.copy().astype(float)
    v = 0.0
    path = []
    for t in range(steps):
        g = grad_fn(p)
        if noise is not None:
            g = g + noise[t]
        v = momentum * v + g
        p = p - lr * v
        path.append(p.copy())
    return np.array(path)
'''),
    ("determinant-only", "classify_critical_point", '''
def classify_critical_point(hess, tol=1e-8):
    det = np.linalg.det(hess)
    if abs(det) < tol:
        return "degenerate"
    if det < 0:
        return "saddle"
    if hess[0, 0] > 0:
        return "minimum"
    return "maximum"
'''),
    ("uses-min-eigenvalue", "max_stable_lr", '''
def max_stable_lr(hess):
    lam = np.linalg.eigvals(hess).real
    return 2.0 / lam.min()
'''),
    ("missing-factor-2", "max_stable_lr", '''
def max_stable_lr(hess):
    return float(1 / max(np.linalg.eigvalsh(hess)))
'''),
    ("off-by-one-batch", "iterations_per_epoch", '''
def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    if drop_last:
        return n_examples // batch_size
    return n_examples // batch_size + 1
'''),
    # a backward difference is one-sided too
    ("forward-difference", "numerical_gradient", '''
def numerical_gradient(f, p, eps=1e-5):
    g = np.zeros(p.shape)
    for i in np.ndindex(p.shape):
        q = p.copy()
        q[i] -= eps
        g[i] = (f(p) - f(q)) / eps
    return g
'''),
    ("noise-ignored", "gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = np.array(p0, dtype=float)
    v = np.zeros_like(p)
    path = [p.copy()]
    for t in range(steps):
        v = momentum * v + grad_fn(p)
        p = p - lr * v
        path.append(p.copy())
    return np.array(path)
'''),
    # the Jacobian of the numerical gradient with a forward outer difference: H[i, j] != H[j, i]
    ("hessian-not-symmetric", "hessian", '''
def hessian(f, p, eps=1e-4):
    p = np.asarray(p, dtype=float)
    d = p.size
    H = np.zeros((d, d))
    g0 = numerical_gradient(f, p)
    for i in range(d):
        e = np.zeros(d)
        e[i] = eps
        H[i] = (numerical_gradient(f, p + e) - g0) / eps
    return H
'''),
    # "drop_last removes one batch": one short when the last batch is full
    ("off-by-one-batch", "iterations_per_epoch", '''
import math

def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    c = math.ceil(n_examples / batch_size)
    return c - 1 if drop_last else c
'''),
]

ALTERNATIVES = [
    # CS231n's eval_numerical_gradient: perturb in place, restore the saved value exactly
    ("numerical_gradient", '''
def numerical_gradient(f, p, eps=1e-5):
    grad = np.zeros_like(p, dtype=float)
    it = np.nditer(p, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = p[ix]
        p[ix] = oldval + eps
        fxph = f(p)
        p[ix] = oldval - eps
        fxmh = f(p)
        p[ix] = oldval
        grad[ix] = (fxph - fxmh) / (2 * eps)
        it.iternext()
    return grad
'''),
    ("numerical_gradient", '''
def numerical_gradient(f, p, eps=1e-5):
    basis = np.eye(p.size).reshape((p.size,) + p.shape) * eps
    vals = [(f(p + d) - f(p - d)) / (2 * eps) for d in basis]
    return np.array(vals, dtype=np.float64).reshape(p.shape)
'''),
    # perturb and undo by arithmetic: restores p to within one rounding, not always bit for bit
    ("numerical_gradient", '''
def numerical_gradient(f, p, eps=1e-5):
    g = np.zeros(p.shape)
    for i in np.ndindex(*p.shape):
        p[i] += eps
        fp = f(p)
        p[i] -= 2 * eps
        fm = f(p)
        p[i] += eps
        g[i] = (fp - fm) / (2 * eps)
    return g
'''),
    # the lr-scaled velocity form (catalogue: must pass)
    ("gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = np.asarray(p0, dtype=float).copy()
    v = np.zeros_like(p)
    path = [p.copy()]
    for t in range(steps):
        g = grad_fn(p)
        if noise is not None:
            g = g + noise[t]
        v = momentum * v + lr * g
        p = p - v
        path.append(p.copy())
    return np.array(path)
'''),
    # CS231n's sgd_momentum: a negative, lr-scaled velocity, preallocated path
    ("gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    d = len(p0)
    path = np.empty((steps + 1, d))
    path[0] = p0
    x = path[0].copy()
    v = np.zeros(d)
    for t in range(steps):
        dx = grad_fn(x) + (0 if noise is None else noise[t])
        v = momentum * v - lr * dx
        x = x + v
        path[t + 1] = x
    return path
'''),
    # torch.optim.SGD does the stepping (allowed here: nothing is forbidden in q01)
    ("gd_path", '''
import torch

def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    p = torch.tensor(np.asarray(p0, dtype=np.float64), requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    path = [p.detach().numpy().copy()]
    for t in range(steps):
        g = np.asarray(grad_fn(p.detach().numpy().copy()), dtype=np.float64)
        if noise is not None:
            g = g + noise[t]
        p.grad = torch.from_numpy(g)
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.stack(path)
'''),
    # differentiate the numerical gradient, then symmetrise
    ("hessian", '''
def hessian(f, p, eps=1e-4):
    p = np.asarray(p, dtype=float)
    d = p.size
    H = np.zeros((d, d))
    for i in range(d):
        step = np.zeros(d)
        step[i] = eps
        g_plus = numerical_gradient(f, p + step)
        g_minus = numerical_gradient(f, p - step)
        H[i] = (g_plus - g_minus) / (2 * eps)
    return 0.5 * (H + H.T)
'''),
    ("hessian", '''
def hessian(f, p, eps=1e-4):
    n = len(p)
    I = np.eye(n)
    H = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = eps * I[i], eps * I[j]
            H[i, j] = (f(p + ei + ej) - f(p + ei - ej) - f(p - ei + ej) + f(p - ei - ej)) / (4 * eps * eps)
    return (H + H.T) / 2
'''),
    ("classify_critical_point", '''
def classify_critical_point(hess, tol=1e-8):
    eig = np.linalg.eigvals(hess).real
    if np.any(np.abs(eig) <= tol):
        return "degenerate"
    n_pos = int(np.sum(eig > 0))
    if n_pos == len(eig):
        return "minimum"
    if n_pos == 0:
        return "maximum"
    return "saddle"
'''),
    ("classify_critical_point", '''
import torch

def classify_critical_point(hess, tol=1e-8):
    lam = torch.linalg.eigvalsh(torch.as_tensor(hess, dtype=torch.float64))
    if (lam.abs() <= tol).any():
        return "degenerate"
    if (lam > 0).all():
        return "minimum"
    elif (lam < 0).all():
        return "maximum"
    else:
        return "saddle"
'''),
    ("max_stable_lr", '''
def max_stable_lr(hess):
    return 2.0 / np.linalg.eigvals(hess).real.max()
'''),
    # for a positive-definite Hessian the spectral norm is lambda_max
    ("max_stable_lr", '''
def max_stable_lr(hess):
    return 2 / np.linalg.norm(hess, ord=2)
'''),
    ("iterations_per_epoch", '''
import math

def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    if drop_last:
        return math.floor(n_examples / batch_size)
    return math.ceil(n_examples / batch_size)
'''),
    ("iterations_per_epoch", '''
def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    stop = n_examples - batch_size + 1 if drop_last else n_examples
    return len(range(0, stop, batch_size))
'''),
    ("iterations_per_epoch", '''
def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    full, rest = divmod(n_examples, batch_size)
    return full + (1 if rest and not drop_last else 0)
'''),

    # the Jacobian of the numerical gradient, not symmetrised: symmetric to within its error
    ("hessian", '''
def hessian(f, p, eps=1e-4):
    p = np.asarray(p, float)
    d = p.size
    H = np.zeros((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = eps
        H[i] = (numerical_gradient(f, p + e) - numerical_gradient(f, p - e)) / (2 * eps)
    return H
'''),
    ("iterations_per_epoch", '''
import torch

def iterations_per_epoch(n_examples, batch_size, drop_last=False):
    loader = torch.utils.data.DataLoader(range(n_examples), batch_size=batch_size, drop_last=drop_last)
    return len(loader)
'''),
    # a preallocated path, the velocity a Python float at first
    ("gd_path", '''
def gd_path(grad_fn, p0, lr, steps, momentum=0.0, noise=None):
    path = np.zeros((steps + 1, len(p0)))
    path[0] = p0
    v = 0
    for t in range(steps):
        g = grad_fn(path[t])
        if noise is not None:
            g = g + noise[t]
        v = momentum * v + g
        path[t + 1] = path[t] - lr * v
    return path
'''),
]
