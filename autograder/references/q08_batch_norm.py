"""q08_batch_norm: reference answers and the classic mistakes as code. Never leaves the instructor.

The references of batchnorm_forward and batchnorm_backward are PyTorch itself
(torch.nn.functional.batch_norm in float64, and autograd through it): that is the ground truth the
exercise names. The pitfall variants are written in NumPy around private helpers (a variant never
calls the function it imitates by name: a harness swaps it in under that name).
"""
import numpy as np
import torch
import torch.nn.functional as F

from autograder.labels.q08_batch_norm import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# The grading plugin sets torch to one thread only when torch is imported before the checks are
# collected, which these checks do not do; with the default pool every tiny F.batch_norm in the
# grading parent costs ~0.2 s instead of ~0.1 ms. The references run tiny tensors: one thread.
torch.set_num_threads(1)
# plain arrays in, plain arrays out: another graded function that calls it gets the reference
STANDINS = ("batchnorm_forward",)


def _np(a):
    if a is None:
        return None
    if type(a).__module__.startswith("torch"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _axes(x):
    """The axes batch norm reduces over: every axis but the channel axis 1."""
    return (0,) + tuple(range(2, x.ndim))


def _channel(v, ndim):
    """A per-channel vector (C,) shaped to broadcast against (N, C, ...)."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def _count(x):
    """m, the number of values each channel's statistics are taken over."""
    return x.size // x.shape[1]


def _normalise(x, mean, var, gamma, beta, eps):
    d = x.ndim
    x_hat = (x - _channel(mean, d)) / np.sqrt(_channel(var, d) + eps)
    return _channel(gamma, d) * x_hat + _channel(beta, d)


def _inputs(x, gamma, beta, running_mean, running_var):
    return _np(x), _np(gamma), _np(beta), _np(running_mean), _np(running_var)


# ---- batchnorm_forward ----------------------------------------------------------------------------

def _tensor(a):
    """A float64 tensor holding a copy of `a` (F.batch_norm updates running statistics in place)."""
    return torch.tensor(_np(a), dtype=torch.float64)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch norm exactly as torch.nn.functional.batch_norm, for x (N, C) or (N, C, H, W).

    Returns (out, new_running_mean, new_running_var) as float64 arrays; the inputs are not
    modified (F.batch_norm updates the running statistics in place: it gets copies).
    """
    rm, rv = _tensor(running_mean), _tensor(running_var)
    with torch.no_grad():
        out = F.batch_norm(_tensor(x), rm, rv, _tensor(gamma), _tensor(beta), training=bool(training),
                           momentum=float(momentum), eps=float(eps))
    return out.numpy(), rm.numpy(), rv.numpy()


def _forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """The same in NumPy, for the variants: training normalises with the batch's per-channel mean
    and biased variance and moves the running estimates towards the batch's mean and unbiased
    variance, running = (1 - momentum) * running + momentum * batch_statistic; evaluation
    normalises with the running estimates and returns them unchanged."""
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    if not training:
        return _normalise(x, rm, rv, gamma, beta, eps), rm.copy(), rv.copy()
    axes, m = _axes(x), _count(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    new_rm = (1 - momentum) * rm + momentum * mean
    new_rv = (1 - momentum) * rv + momentum * var * m / (m - 1)
    return _normalise(x, mean, var, gamma, beta, eps), new_rm, new_rv


@PITFALLS.variant("batchnorm_forward", "unbiased-var-in-normalization")
def bn_forward_unbiased_normalisation(x, gamma, beta, running_mean, running_var, training,
                                      momentum=0.1, eps=1e-5):
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    if not training:
        return _normalise(x, rm, rv, gamma, beta, eps), rm.copy(), rv.copy()
    axes = _axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=1)
    return (_normalise(x, mean, var, gamma, beta, eps), (1 - momentum) * rm + momentum * mean,
            (1 - momentum) * rv + momentum * var)


@PITFALLS.variant("batchnorm_forward", "biased-var-in-running-stats")
def bn_forward_biased_running_var(x, gamma, beta, running_mean, running_var, training,
                                  momentum=0.1, eps=1e-5):
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    if not training:
        return _normalise(x, rm, rv, gamma, beta, eps), rm.copy(), rv.copy()
    axes = _axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return (_normalise(x, mean, var, gamma, beta, eps), (1 - momentum) * rm + momentum * mean,
            (1 - momentum) * rv + momentum * var)


@PITFALLS.variant("batchnorm_forward", "running-stats-not-updated")
def bn_forward_frozen_running(x, gamma, beta, running_mean, running_var, training,
                              momentum=0.1, eps=1e-5):
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    if not training:
        return _normalise(x, rm, rv, gamma, beta, eps), rm.copy(), rv.copy()
    axes = _axes(x)
    return _normalise(x, x.mean(axis=axes), x.var(axis=axes), gamma, beta, eps), rm.copy(), rv.copy()


@PITFALLS.variant("batchnorm_forward", "batch-stats-in-eval")
def bn_forward_batch_stats_in_eval(x, gamma, beta, running_mean, running_var, training,
                                   momentum=0.1, eps=1e-5):
    if training:
        return _forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    axes = _axes(x)
    return _normalise(x, x.mean(axis=axes), x.var(axis=axes), gamma, beta, eps), rm.copy(), rv.copy()


@PITFALLS.variant("batchnorm_forward", "batch-stats-in-eval")
def bn_forward_ignores_mode(x, gamma, beta, running_mean, running_var, training,
                            momentum=0.1, eps=1e-5):
    # the training branch whatever `training` says: batch statistics, running estimates updated
    return _forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)


@PITFALLS.variant("batchnorm_forward", "eval-returns-updated-running-stats")
def bn_forward_updates_running_in_eval(x, gamma, beta, running_mean, running_var, training,
                                       momentum=0.1, eps=1e-5):
    if training:
        return _forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)
    out, _, _ = _forward(x, gamma, beta, running_mean, running_var, False, momentum, eps)
    _, rm, rv = _forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)
    return out, rm, rv


@PITFALLS.variant("batchnorm_forward", "momentum-reversed")
def bn_forward_keras_momentum(x, gamma, beta, running_mean, running_var, training,
                              momentum=0.1, eps=1e-5):
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    if not training:
        return _normalise(x, rm, rv, gamma, beta, eps), rm.copy(), rv.copy()
    axes, m = _axes(x), _count(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return (_normalise(x, mean, var, gamma, beta, eps), momentum * rm + (1 - momentum) * mean,
            momentum * rv + (1 - momentum) * var * m / (m - 1))


@PITFALLS.variant("batchnorm_forward", "wrong-reduction-axes")
def bn_forward_reshape_without_transpose(x, gamma, beta, running_mean, running_var, training,
                                         momentum=0.1, eps=1e-5):
    # (N, C, H, W).reshape(-1, C) without moving C last: each "channel" mixes channels and positions
    x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
    c = x.shape[1]
    flat = x.reshape(-1, c)
    if not training:
        return (_normalise(flat, rm, rv, gamma, beta, eps).reshape(x.shape), rm.copy(), rv.copy())
    m = flat.shape[0]
    mean, var = flat.mean(axis=0), flat.var(axis=0)
    return (_normalise(flat, mean, var, gamma, beta, eps).reshape(x.shape),
            (1 - momentum) * rm + momentum * mean, (1 - momentum) * rv + momentum * var * m / (m - 1))


def _wrong_axes_output(axes):
    """The output of batch norm whose statistics were taken over `axes` (those x has, keepdims).
    The running statistics such code returns have no sensible shape, so they are masked (compared
    in part). Refuses to run where `axes` would be right or empty (then it explains nothing)."""
    def variant(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        x, gamma, beta, rm, rv = _inputs(x, gamma, beta, running_mean, running_var)
        ax = tuple(a for a in axes if a < x.ndim)
        if not training or not ax or ax == _axes(x):
            raise ValueError("not a wrong reduction for this input")
        mean, var = x.mean(axis=ax, keepdims=True), x.var(axis=ax, keepdims=True)
        d = x.ndim
        out = _channel(gamma, d) * (x - mean) / np.sqrt(var + eps) + _channel(beta, d)
        return out, np.ma.masked_all(rm.shape), np.ma.masked_all(rv.shape)
    return variant


# statistics over N only (one per channel and position), per example (layer-norm style),
# per example and channel (instance-norm style)
PITFALLS.variant("batchnorm_forward", "wrong-reduction-axes")(_wrong_axes_output((0,)))
PITFALLS.variant("batchnorm_forward", "wrong-reduction-axes")(_wrong_axes_output((1, 2, 3)))
PITFALLS.variant("batchnorm_forward", "wrong-reduction-axes")(_wrong_axes_output((2, 3)))


# ---- batchnorm_backward ---------------------------------------------------------------------------

def batchnorm_backward(dout, x, gamma, eps=1e-5):
    """Training-mode batch norm backward for x (N, C): (dx, dgamma, dbeta), by autograd through
    torch.nn.functional.batch_norm (float64). The batch statistics are part of the graph."""
    xt = _tensor(x).requires_grad_(True)
    g = _tensor(gamma).requires_grad_(True)
    b = torch.zeros_like(g, requires_grad=True)
    with torch.enable_grad():
        out = F.batch_norm(xt, None, None, g, b, training=True, eps=float(eps))
        out.backward(_tensor(dout))
    return xt.grad.numpy(), g.grad.numpy(), b.grad.numpy()


def _backward(dout, x, gamma, eps=1e-5):
    """The same in closed form (NumPy), for the variants. With x_hat = (x - mean) / std over the
    batch: dbeta = sum(dout), dgamma = sum(dout * x_hat),
    dx = gamma / (N * std) * (N * dout - sum(dout) - x_hat * sum(dout * x_hat))."""
    dout, x, gamma = _np(dout), _np(x), _np(gamma)
    axes, m, d = _axes(x), _count(x), x.ndim
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    std = np.sqrt(var + eps)
    x_hat = (x - _channel(mean, d)) / _channel(std, d)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx = _channel(gamma / (m * std), d) * (m * dout - _channel(dbeta, d) - x_hat * _channel(dgamma, d))
    return dx, dgamma, dbeta


@PITFALLS.variant("batchnorm_backward", "backward-ignores-batch-stats")
def bn_backward_constant_stats(dout, x, gamma, eps=1e-5):
    dout, x, gamma = _np(dout), _np(x), _np(gamma)
    _, dgamma, dbeta = _backward(dout, x, gamma, eps)
    axes, d = _axes(x), x.ndim
    std = np.sqrt(x.var(axis=axes) + eps)
    return dout * _channel(gamma / std, d), dgamma, dbeta


@PITFALLS.variant("batchnorm_backward", "backward-ignores-batch-stats")
def bn_backward_constant_variance(dout, x, gamma, eps=1e-5):
    # the mean's path kept, the variance's dropped
    dout, x, gamma = _np(dout), _np(x), _np(gamma)
    _, dgamma, dbeta = _backward(dout, x, gamma, eps)
    axes, d = _axes(x), x.ndim
    std = np.sqrt(x.var(axis=axes) + eps)
    return _channel(gamma / std, d) * (dout - dout.mean(axis=axes, keepdims=True)), dgamma, dbeta


# ---- fold_batchnorm -------------------------------------------------------------------------------

def _fold(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps, scale_of, use_mean=True):
    w = _np(conv_weight)
    gamma, beta, rm, rv = _np(gamma), _np(beta), _np(running_mean), _np(running_var)
    b = np.zeros(w.shape[0]) if conv_bias is None else _np(conv_bias)
    scale = scale_of(gamma, rv, eps)
    weight = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    bias = ((b - rm) if use_mean else b) * scale + beta
    return weight, bias


def fold_batchnorm(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    """The conv (weight (C_out, C_in, kh, kw), bias (C_out,)) equal to conv followed by eval-mode BN:
    weight' = weight * gamma / sqrt(var + eps) per output channel,
    bias'   = (bias - mean) * gamma / sqrt(var + eps) + beta. conv_bias may be None (no bias)."""
    return _fold(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps,
                 lambda g, v, e: g / np.sqrt(v + e))


@PITFALLS.variant("fold_batchnorm", "fold-bias-ignores-running-mean")
def fold_without_mean(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    return _fold(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps,
                 lambda g, v, e: g / np.sqrt(v + e), use_mean=False)


@PITFALLS.variant("fold_batchnorm", "fold-uses-variance-not-std")
def fold_by_variance(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps=1e-5):
    return _fold(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps,
                 lambda g, v, e: g / (v + e))
