"""q02 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np` and `import matplotlib.pyplot as plt`; a source that
needs anything else imports it itself. mlp_backward reads the cache of the notebook's own
mlp_forward, so the alternatives for those two redefine both functions together (their own cache).
"""

MUTANTS = [
    ("bias-grad-not-summed", "linear_backward", '''
def linear_backward(dout, x, W):
    dx = np.dot(dout, W.T)
    dW = np.dot(x.T, dout)
    db = dout * 1.0          # one bias gradient per example
    return dx, dW, db
'''),
    ("weight-grad-transposed", "linear_backward", '''
def linear_backward(dout, x, W):
    dx = np.matmul(dout, W.T)
    dW = np.matmul(dout.T, x)
    db = np.sum(dout, axis=0)
    return dx, dW, db
'''),
    ("bias-grad-averaged", "linear_backward", '''
def linear_backward(dout, x, W):
    dx = dout @ W.T
    dW = x.T @ dout
    db = np.mean(dout, axis=0)
    return dx, dW, db
'''),
    ("relu-mask-wrong", "relu_backward", '''
def relu_backward(dout, z):
    dx = dout.copy()
    dx[z < 0] = 0            # lets the gradient through at z == 0
    return dx
'''),
    ("mutates-input", "relu_backward", '''
def relu_backward(dout, z):
    dx = dout
    dx[z <= 0] = 0
    return dx
'''),
    ("grad-missing-batch-mean", "softmax_cross_entropy", '''
def softmax_cross_entropy(logits, y):
    N = logits.shape[0]
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted), axis=1, keepdims=True)
    log_probs = shifted - np.log(Z)
    probs = np.exp(log_probs)
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx
'''),
    ("unstable-softmax", "softmax_cross_entropy", '''
def softmax_cross_entropy(logits, y):
    B = len(y)
    exps = np.exp(logits)
    probs = exps / exps.sum(axis=1, keepdims=True)
    loss = np.mean(-np.log(probs[range(B), y]))
    grad = probs.copy()
    grad[range(B), y] -= 1
    return loss, grad / B
'''),
    ("shared-grad-overwritten", "tied_weights_grad", '''
def tied_weights_grad(x, W, dout):
    h = x @ W
    dW = h.T @ dout          # gradient from the second use
    dh = dout @ W.T
    dW = x.T @ dh            # gradient from the first use replaces it
    return dW
'''),
    ("sum-not-mean", "softmax_cross_entropy", '''
def softmax_cross_entropy(logits, y):
    z = logits - logits.max(1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    d = np.exp(lp)
    d[np.arange(len(y)), y] -= 1
    return float(-lp[np.arange(len(y)), y].sum()), d
'''),
    # norms instead of the largest entry-wise error
    ("relative-error-formula", "grad_check", '''
def grad_check(f, x, analytic_grad, eps=1e-6):
    n = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        a, b = x.copy(), x.copy()
        a[i] += eps
        b[i] -= eps
        n[i] = (f(a) - f(b)) / (2 * eps)
    return float(np.linalg.norm(analytic_grad - n) / (np.linalg.norm(analytic_grad) + np.linalg.norm(n)))
'''),
    # no floor: 0 / 0 where both gradients are 0
    ("relative-error-formula", "grad_check", '''
def grad_check(f, x, analytic_grad, eps=1e-6):
    n = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        a, b = x.copy(), x.copy()
        a[i] += eps
        b[i] -= eps
        n[i] = (f(a) - f(b)) / (2 * eps)
    return float(np.max(np.abs(analytic_grad - n) / (np.abs(analytic_grad) + np.abs(n))))
'''),
    ("forward-difference", "grad_check", '''
def grad_check(f, x, analytic_grad, eps=1e-6):
    n = np.zeros_like(x)
    f0 = f(x)
    for i in np.ndindex(x.shape):
        a = x.copy()
        a[i] += eps
        n[i] = (f(a) - f0) / eps
    return float(np.max(np.abs(analytic_grad - n) / np.maximum(1e-8, np.abs(analytic_grad) + np.abs(n))))
'''),
]

ALTERNATIVES = [
    ("linear_backward", '''
def linear_backward(dout, x, W):
    dx = np.einsum("bh,dh->bd", dout, W)
    dW = np.einsum("bd,bh->dh", x, dout)
    db = np.einsum("bh->h", dout)
    return dx, dW, db
'''),
    ("linear_backward", '''
import torch

def linear_backward(dout, x, W):
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.zeros(W.shape[1], dtype=Wt.dtype, requires_grad=True)
    out = xt @ Wt + bt
    out.backward(torch.as_tensor(dout))
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()
'''),
    ("relu_backward", '''
def relu_backward(dout, z):
    return dout * (z > 0)
'''),
    ("relu_backward", '''
def relu_backward(dout, z):
    return dout * np.heaviside(z, 0.0)
'''),
    ("relu_backward", '''
def relu_backward(dout, z):
    dx = np.array(dout, copy=True)
    dx[z <= 0] = 0.0
    return dx
'''),
    ("softmax_cross_entropy", '''
from scipy.special import logsumexp

def softmax_cross_entropy(logits, y):
    B = logits.shape[0]
    logp = logits - logsumexp(logits, axis=1, keepdims=True)
    loss = -logp[np.arange(B), y].mean()
    onehot = np.eye(logits.shape[1])[y]
    return float(loss), (np.exp(logp) - onehot) / B
'''),
    ("softmax_cross_entropy", '''
import torch
import torch.nn.functional as F

def softmax_cross_entropy(logits, y):
    z = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(z, torch.as_tensor(y, dtype=torch.long))
    loss.backward()
    return loss.item(), z.grad.numpy()
'''),
    # CS231n's softmax_loss: shifted probabilities, then -log of the true class's probability
    ("softmax_cross_entropy", '''
def softmax_cross_entropy(logits, y):
    shifted_logits = logits - np.max(logits, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    probs = np.exp(shifted_logits) / Z
    N = logits.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
'''),
    # layers in a loop, cache as a dict
    ("mlp_forward", '''
def mlp_forward(params, x):
    cache = {"a0": x}
    a = x
    for i in (1, 2, 3):
        z = a @ params[f"W{i}"] + params[f"b{i}"]
        cache[f"z{i}"] = z
        a = np.maximum(z, 0) if i < 3 else z
        cache[f"a{i}"] = a
    return a, cache

def mlp_backward(params, cache, dlogits):
    grads = {}
    dz = dlogits
    for i in (3, 2, 1):
        grads[f"W{i}"] = cache[f"a{i - 1}"].T @ dz
        grads[f"b{i}"] = dz.sum(axis=0)
        if i > 1:
            dz = (dz @ params[f"W{i}"].T) * (cache[f"z{i - 1}"] > 0)
    return grads
'''),
    # torch autograd does the backward pass: the cache holds the graph
    ("mlp_forward", '''
import torch

def mlp_forward(params, x):
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.relu(torch.as_tensor(x) @ tp["W1"] + tp["b1"])
    h = torch.relu(h @ tp["W2"] + tp["b2"])
    out = h @ tp["W3"] + tp["b3"]
    return out.detach().numpy(), (tp, out)

def mlp_backward(params, cache, dlogits):
    tp, out = cache
    out.backward(torch.as_tensor(dlogits))
    return {k: t.grad.numpy() for k, t in tp.items()}
'''),
    # CS231n layer caches, backward through the notebook's own linear_backward and relu_backward
    ("mlp_backward", '''
def mlp_forward(params, x):
    caches = []
    a = x
    for i in range(1, 4):
        W, b = params["W%d" % i], params["b%d" % i]
        z = a.dot(W) + b
        caches.append((a, W, z))
        a = np.maximum(0, z) if i < 3 else z
    return a, caches

def mlp_backward(params, cache, dlogits):
    grads = {}
    d = dlogits
    for i in range(3, 0, -1):
        a, W, z = cache[i - 1]
        if i < 3:
            d = relu_backward(d, z)
        d, grads["W%d" % i], grads["b%d" % i] = linear_backward(d, a, W)
    return grads
'''),
    ("mlp_backward", '''
def mlp_forward(params, x):
    z1 = np.einsum("bd,dh->bh", x, params["W1"]) + params["b1"]
    a1 = z1.clip(min=0)
    z2 = np.einsum("bd,dh->bh", a1, params["W2"]) + params["b2"]
    a2 = z2.clip(min=0)
    return a2 @ params["W3"] + params["b3"], [x, z1, a1, z2, a2]

def mlp_backward(params, cache, dlogits):
    x, z1, a1, z2, a2 = cache
    g = {"W3": a2.T @ dlogits, "b3": dlogits.sum(0)}
    d2 = (dlogits @ params["W3"].T) * (z2 > 0)
    g["W2"], g["b2"] = a1.T @ d2, d2.sum(0)
    d1 = (d2 @ params["W2"].T) * (z1 > 0)
    g["W1"], g["b1"] = x.T @ d1, d1.sum(0)
    return g
'''),
    # CS231n's eval_numerical_gradient (perturb in place, restore) and rel_error
    ("grad_check", '''
def grad_check(f, x, analytic_grad, eps=1e-6):
    num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + eps
        fxph = f(x)
        x[ix] = old - eps
        fxmh = f(x)
        x[ix] = old
        num[ix] = (fxph - fxmh) / (2 * eps)
        it.iternext()
    return np.max(np.abs(analytic_grad - num) / np.maximum(1e-8, np.abs(analytic_grad) + np.abs(num)))
'''),
    ("grad_check", '''
def grad_check(f, x, analytic_grad, eps=1e-6):
    flat = x.reshape(-1).astype(np.float64)
    errs = []
    for i, a in enumerate(analytic_grad.reshape(-1)):
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        n = (f(up.reshape(x.shape)) - f(down.reshape(x.shape))) / (2 * eps)
        errs.append(abs(a - n) / max(1e-8, abs(a) + abs(n)))
    return max(errs)
'''),
    ("tied_weights_grad", '''
def tied_weights_grad(x, W, dout):
    h = x @ W
    dh, dW_second, _ = linear_backward(dout, h, W)
    _, dW_first, _ = linear_backward(dh, x, W)
    return dW_first + dW_second
'''),
    ("tied_weights_grad", '''
import torch

def tied_weights_grad(x, W, dout):
    Wt = torch.tensor(W, requires_grad=True)
    xt = torch.as_tensor(x)
    y = (xt @ Wt) @ Wt
    y.backward(torch.as_tensor(dout))
    return Wt.grad.numpy()
'''),
    ("tied_weights_grad", '''
def tied_weights_grad(x, W, dout):
    dW = np.zeros_like(W)
    h = np.einsum("bi,ij->bj", x, W)
    dW += np.einsum("bi,bj->ij", h, dout)
    dW += np.einsum("bi,bk,jk->ij", x, dout, W)
    return dW
'''),

    # a logsumexp written out, the loss left as a NumPy float
    ("softmax_cross_entropy", '''
def softmax_cross_entropy(logits, y):
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    loss = np.mean(lse - logits[np.arange(len(y)), y])
    p = np.exp(logits - lse[:, None])
    p[np.arange(len(y)), y] -= 1
    return loss, p / len(y)
'''),
]
