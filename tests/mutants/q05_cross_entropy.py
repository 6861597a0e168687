"""q05 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
"""

MUTANTS = [
    ("unstable-softmax", "softmax", '''
def softmax(z, axis=-1):
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)
'''),
    ("softmax-wrong-axis", "softmax", '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
'''),
    ("mutates-input", "softmax", '''
def softmax(z, axis=-1):
    z -= z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z
'''),
    ("log-of-softmax", "log_softmax", '''
def log_softmax(z, axis=-1):
    m = z.max(axis=axis, keepdims=True)
    e = np.exp(z - m)
    return np.log(e / e.sum(axis=axis, keepdims=True))
'''),
    ("sum-not-mean", "cross_entropy", '''
def cross_entropy(logits, targets):
    logp = log_softmax(logits, axis=1)
    return float(-logp[np.arange(len(targets)), targets].sum())
'''),
    ("double-softmax", "cross_entropy", '''
def cross_entropy(logits, targets):
    probs = softmax(logits, axis=1)
    logp = log_softmax(probs, axis=1)
    return float(-logp[np.arange(len(targets)), targets].mean())
'''),
    ("grad-missing-batch-mean", "cross_entropy_grad", '''
def cross_entropy_grad(logits, targets):
    g = softmax(logits, axis=1)
    g[np.arange(len(targets)), targets] -= 1
    return g
'''),
    ("grad-sign-flipped", "cross_entropy_grad", '''
def cross_entropy_grad(logits, targets):
    onehot = np.eye(logits.shape[1])[targets]
    return (onehot - softmax(logits, axis=1)) / len(targets)
'''),
    ("grad-missing-onehot", "cross_entropy_grad", '''
def cross_entropy_grad(logits, targets):
    return softmax(logits, axis=1) / logits.shape[0]
'''),
    ("unstable-bce", "binary_cross_entropy_with_logits", '''
def binary_cross_entropy_with_logits(logits, targets):
    p = 1.0 / (1.0 + np.exp(-logits))
    return float(np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p))))
'''),
    ("smoothing-over-k-minus-1", "label_smoothing_cross_entropy", '''
def label_smoothing_cross_entropy(logits, targets, smoothing):
    logp = log_softmax(logits, axis=1)
    k = logp.shape[1]
    onehot = np.eye(k)[targets]
    q = onehot * (1 - smoothing) + (1 - onehot) * smoothing / (k - 1)
    return float(-(q * logp).sum(axis=1).mean())
'''),
]

ALTERNATIVES = [
    ("softmax", '''
import torch
def softmax(z, axis=-1):
    return torch.softmax(torch.as_tensor(z), dim=axis)
'''),
    ("softmax", '''
def softmax(z, axis=-1):
    z = np.moveaxis(z, axis, -1)
    out = np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))
    return np.moveaxis(out, -1, axis)
'''),
    ("log_softmax", '''
def log_softmax(z, axis=-1):
    return z - np.logaddexp.reduce(z, axis=axis, keepdims=True)
'''),
    ("cross_entropy", '''
def cross_entropy(logits, targets):
    total = 0.0
    for row, y in zip(logits, targets):
        m = row.max()
        total += m + np.log(np.exp(row - m).sum()) - row[y]
    return total / len(targets)
'''),
    ("cross_entropy_grad", '''
def cross_entropy_grad(logits, targets):
    onehot = np.zeros_like(logits)
    onehot[np.arange(len(targets)), targets] = 1.0
    return (np.exp(log_softmax(logits, axis=1)) - onehot) / len(logits)
'''),
    ("binary_cross_entropy_with_logits", '''
def binary_cross_entropy_with_logits(logits, targets):
    # -y log s(x) - (1-y) log(1-s(x)) = y softplus(-x) + (1-y) softplus(x)
    return float(np.mean(targets * np.logaddexp(0, -logits) + (1 - targets) * np.logaddexp(0, logits)))
'''),
    ("label_smoothing_cross_entropy", '''
import torch
import torch.nn.functional as F
def label_smoothing_cross_entropy(logits, targets, smoothing):
    return F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(targets), label_smoothing=smoothing).item()
'''),
    ("log_softmax", '''
import torch
def log_softmax(z, axis=-1):
    # float32 inside a numpy function: within float32's tolerance
    return torch.log_softmax(torch.tensor(z, dtype=torch.float32), dim=axis).numpy()
'''),
    ("cross_entropy", '''
def cross_entropy(logits, targets):
    # CS231n style: shift, exponentiate, normalise, pick
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = logits.shape[0]
    return -np.sum(log_probs[np.arange(N), targets]) / N
'''),
    ("cross_entropy_grad", '''
def cross_entropy_grad(logits, targets):
    B, C = logits.shape
    grad = np.zeros((B, C))
    for i in range(B):
        p = np.exp(logits[i] - logits[i].max())
        p /= p.sum()
        for k in range(C):
            grad[i, k] = (p[k] - (1.0 if k == targets[i] else 0.0)) / B
    return grad
'''),
    ("binary_cross_entropy_with_logits", '''
import torch
import torch.nn.functional as F
def binary_cross_entropy_with_logits(logits, targets):
    return F.binary_cross_entropy_with_logits(torch.as_tensor(logits), torch.as_tensor(targets)).item()
'''),
    ("label_smoothing_cross_entropy", '''
def label_smoothing_cross_entropy(logits, targets, smoothing):
    # (1 - eps) * NLL of the true class + eps * mean over classes of -log p
    logp = log_softmax(logits, axis=1)
    nll = -logp[np.arange(len(targets)), targets]
    uniform = -logp.mean(axis=1)
    return float(((1 - smoothing) * nll + smoothing * uniform).mean())
'''),
]
