"""q08 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
The notebook's setup cell did `import numpy as np`, `import torch`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("unbiased-var-in-normalization", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mu = x.mean(axis=axes)
        var = x.var(axis=axes, ddof=1)            # "the sample variance"
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var = (1 - momentum) * running_var + momentum * var
    else:
        mu, var = running_mean, running_var
    xhat = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * xhat + beta.reshape(shape), running_mean, running_var
'''),
    ("biased-var-in-running-stats", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = tuple(i for i in range(x.ndim) if i != 1)
    if training:
        mu = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        new_mean = (1 - momentum) * running_mean + momentum * mu.ravel()
        new_var = (1 - momentum) * running_var + momentum * var.ravel()
    else:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mu, var = running_mean.reshape(shape), running_var.reshape(shape)
        new_mean, new_var = running_mean.copy(), running_var.copy()
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = gamma.reshape(shape) * (x - mu) / np.sqrt(var + eps) + beta.reshape(shape)
    return out, new_mean, new_var
'''),
    ("running-stats-not-updated", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mu, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mu, var = running_mean, running_var
    out = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    out = out * gamma.reshape(shape) + beta.reshape(shape)
    return out, running_mean, running_var
'''),
    ("batch-stats-in-eval", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    if training:
        m = x.size // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    out = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * out + beta.reshape(shape), running_mean, running_var
'''),
    ("momentum-reversed", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        n = x.size / x.shape[1]
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var * n / (n - 1)
    else:
        mu, var = running_mean, running_var
    y = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * y + beta.reshape(shape), running_mean, running_var
'''),
    ("wrong-reduction-axes", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    N, C = x.shape[0], x.shape[1]
    flat = x.reshape(-1, C)                      # flatten everything but the channels
    if training:
        mu, var = flat.mean(axis=0), flat.var(axis=0)
        m = flat.shape[0]
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mu, var = running_mean, running_var
    out = gamma * (flat - mu) / np.sqrt(var + eps) + beta
    return out.reshape(x.shape), running_mean, running_var
'''),
    ("mutates-input", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        m = x.size // x.shape[1]
        running_mean *= 1 - momentum                 # updated in place, like a buffer
        running_mean += momentum * mu
        running_var *= 1 - momentum
        running_var += momentum * var * m / (m - 1)
    else:
        mu, var = running_mean, running_var
    out = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * out + beta.reshape(shape), running_mean, running_var
'''),
    ("backward-ignores-batch-stats", "batchnorm_backward", '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = dout * gamma / np.sqrt(var + eps)       # as if mu and var were constants
    return dx, dgamma, dbeta
'''),
    ("eval-returns-updated-running-stats", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    m = x.size // x.shape[1]
    new_mean = (1 - momentum) * running_mean + momentum * mu
    new_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    if not training:
        mu, var = running_mean, running_var
    out = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * out + beta.reshape(shape), new_mean, new_var
'''),
    ("fold-bias-ignores-running-mean", "fold_batchnorm", '''
def fold_batchnorm(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    scale = gamma / np.sqrt(running_var + eps)
    bias = np.zeros_like(gamma) if conv_bias is None else conv_bias
    return conv_weight * scale[:, None, None, None], bias * scale + beta
'''),
    ("fold-uses-variance-not-std", "fold_batchnorm", '''
def fold_batchnorm(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    scale = gamma / (running_var + eps)          # the variance, not the standard deviation
    return conv_weight * scale.reshape(-1, 1, 1, 1), (conv_bias - running_mean) * scale + beta
'''),
    ("wrong-reduction-axes", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        axes = tuple(range(1, x.ndim))               # per example, like layer norm
        mu = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        m = x.size // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * x.mean(axis=(0,) + tuple(range(2, x.ndim)))
        running_var = (1 - momentum) * running_var + momentum * x.var(axis=(0,) + tuple(range(2, x.ndim)), ddof=1)
    else:
        mu, var = running_mean.reshape(shape), running_var.reshape(shape)
    out = (x - mu) / np.sqrt(var + eps)
    return gamma.reshape(shape) * out + beta.reshape(shape), running_mean, running_var
'''),
    ("batch-stats-in-eval", "batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    # the training branch whatever `training` says
    xt = torch.tensor(x)
    rm, rv = torch.tensor(running_mean), torch.tensor(running_var)
    out = F.batch_norm(xt, rm, rv, torch.tensor(gamma), torch.tensor(beta), training=True,
                       momentum=momentum, eps=eps)
    return out.numpy(), rm.numpy(), rv.numpy()
'''),
]

ALTERNATIVES = [
    ("batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    rm, rv = torch.tensor(running_mean), torch.tensor(running_var)   # F.batch_norm updates these
    out = F.batch_norm(torch.tensor(x), rm, rv, torch.tensor(gamma), torch.tensor(beta),
                       training=training, momentum=momentum, eps=eps)
    return out.numpy(), rm.numpy(), rv.numpy()
'''),
    ("batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    # channels last, then a plain (m, C) batch norm
    xc = np.moveaxis(x, 1, -1)
    flat = xc.reshape(-1, xc.shape[-1])
    if training:
        m = flat.shape[0]
        mean = flat.sum(axis=0) / m
        var = ((flat - mean) ** 2).sum(axis=0) / m
        new_rm = running_mean + momentum * (mean - running_mean)
        new_rv = running_var + momentum * (var * m / (m - 1) - running_var)
    else:
        mean, var = running_mean, running_var
        new_rm, new_rv = running_mean.copy(), running_var.copy()
    out = (xc - mean) / np.sqrt(var + eps) * gamma + beta
    return np.moveaxis(out, -1, 1), new_rm, new_rv
'''),
    ("batchnorm_forward", '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    out = np.empty_like(x, dtype=float)
    new_rm, new_rv = np.array(running_mean, dtype=float), np.array(running_var, dtype=float)
    for c in range(x.shape[1]):
        xs = x[:, c]
        if training:
            mu, var = xs.mean(), xs.var()
            new_rm[c] = (1 - momentum) * running_mean[c] + momentum * mu
            new_rv[c] = (1 - momentum) * running_var[c] + momentum * xs.var(ddof=1)
        else:
            mu, var = running_mean[c], running_var[c]
        out[:, c] = gamma[c] * (xs - mu) / np.sqrt(var + eps) + beta[c]
    return out, new_rm, new_rv
'''),
    ("batchnorm_backward", '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    # CS231n staged backprop through the graph of the forward pass
    N = x.shape[0]
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu ** 2).mean(axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar ** 2
    dvar = 0.5 / sqrtvar * dsqrtvar
    dsq = np.ones_like(x) * dvar / N
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -dx1.sum(axis=0)
    dx2 = np.ones_like(x) * dmu / N
    return dx1 + dx2, dgamma, dbeta
'''),
    ("batchnorm_backward", '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    xt = torch.tensor(x, requires_grad=True)
    g = torch.tensor(gamma, requires_grad=True)
    b = torch.zeros_like(g, requires_grad=True)
    out = F.batch_norm(xt, None, None, g, b, training=True, eps=eps)
    out.backward(torch.tensor(dout))
    return xt.grad.numpy(), g.grad.numpy(), b.grad.numpy()
'''),
    ("batchnorm_backward", '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    N = x.shape[0]
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    dxhat = dout * gamma
    dx = inv_std / N * (N * dxhat - dxhat.sum(axis=0) - x_hat * (dxhat * x_hat).sum(axis=0))
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)
'''),
    ("fold_batchnorm", '''
def fold_batchnorm(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    w = np.empty_like(conv_weight, dtype=float)
    b = np.empty(conv_weight.shape[0])
    for o in range(conv_weight.shape[0]):
        s = gamma[o] / np.sqrt(running_var[o] + eps)
        w[o] = conv_weight[o] * s
        b[o] = ((0.0 if conv_bias is None else conv_bias[o]) - running_mean[o]) * s + beta[o]
    return w, b
'''),
    ("fold_batchnorm", '''
from torch.nn.utils.fusion import fuse_conv_bn_weights
def fold_batchnorm(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    t = lambda a: None if a is None else torch.as_tensor(a, dtype=torch.float64)
    w, b = fuse_conv_bn_weights(t(conv_weight), t(conv_bias), t(running_mean), t(running_var),
                                eps, t(gamma), t(beta))
    return w.detach().numpy(), b.detach().numpy()
'''),
]
