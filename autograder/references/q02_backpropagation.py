"""q02_backpropagation: reference answers and the classic mistakes as code. Never leaves the instructor.

The MLP: x (B, D) -> Linear -> ReLU -> Linear -> ReLU -> Linear -> logits (B, C), mean softmax
cross-entropy; params W1 (D, H1), b1 (H1,), W2 (H1, H2), b2 (H2,), W3 (H2, C), b3 (C,); a layer
computes x @ W + b. mlp_backward is checked through autograder/harnesses/q02_backpropagation.py
(mlp_trace: the student's own forward feeds the student's own backward), grad_check through
grad_check_trace (f is a named test function).
"""
import numpy as np
import torch
import torch.nn.functional as F

from autograder.labels.q02_backpropagation import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)

# mlp_forward is NOT a stand-in: mlp_backward reads the cache of the student's own forward pass.
STANDINS = ("linear_backward", "relu_backward", "softmax_cross_entropy")

# The ground truth of every backward pass is torch.autograd: the references below build the same
# computation as a torch graph in float64 and read the gradients autograd gives. The pitfall
# variants are NumPy, each with its one mistake.


def _f(a):
    return np.asarray(a, dtype=np.float64)


def _leaf(a):
    return torch.tensor(_f(a), dtype=torch.float64, requires_grad=True)


def _np(t):
    return t.detach().numpy().copy()


# ---- linear_backward ------------------------------------------------------------------------------

def linear_backward(dout, x, W):
    """Backward pass of out = x @ W + b.

    dout: (B, H) upstream gradient; x: (B, D) the layer's input; W: (D, H).
    Returns (dx (B, D), dW (D, H), db (H,)).
    """
    x_t, W_t = _leaf(x), _leaf(W)
    b_t = torch.zeros(W_t.shape[1], dtype=torch.float64, requires_grad=True)
    (x_t @ W_t + b_t).backward(torch.as_tensor(_f(dout)))
    return _np(x_t.grad), _np(W_t.grad), _np(b_t.grad)


@PITFALLS.variant("linear_backward", "bias-grad-not-summed")
def linear_backward_bias_per_example(dout, x, W):
    dout, x, W = _f(dout), _f(x), _f(W)
    return dout @ W.T, x.T @ dout, dout.copy()


@PITFALLS.variant("linear_backward", "bias-grad-not-summed")
def linear_backward_bias_summed_over_features(dout, x, W):
    dout, x, W = _f(dout), _f(x), _f(W)
    return dout @ W.T, x.T @ dout, dout.sum(axis=1)


@PITFALLS.variant("linear_backward", "weight-grad-transposed")
def linear_backward_dw_transposed(dout, x, W):
    dout, x, W = _f(dout), _f(x), _f(W)
    return dout @ W.T, dout.T @ x, dout.sum(axis=0)


@PITFALLS.variant("linear_backward", "bias-grad-averaged")
def linear_backward_bias_mean(dout, x, W):
    dout, x, W = _f(dout), _f(x), _f(W)
    return dout @ W.T, x.T @ dout, dout.mean(axis=0)


@PITFALLS.variant("linear_backward", "bias-grad-averaged")
def linear_backward_all_averaged(dout, x, W):
    dout, x, W = _f(dout), _f(x), _f(W)
    return dout @ W.T, x.T @ dout / len(dout), dout.mean(axis=0)


# ---- relu_backward -----------------------------------------------------------------------------

def relu_backward(dout, z):
    """dout where the pre-activation z > 0, else 0 (the gradient at z == 0 is taken as 0, as
    torch.relu's backward does)."""
    z_t = _leaf(z)
    torch.relu(z_t).backward(torch.as_tensor(_f(dout)))
    return _np(z_t.grad)


@PITFALLS.variant("relu_backward", "relu-mask-wrong")
def relu_backward_ge(dout, z):
    return np.where(_f(z) >= 0, _f(dout), 0.0)


@PITFALLS.variant("relu_backward", "relu-mask-wrong")
def relu_backward_masks_dout(dout, z):
    return np.where(_f(dout) > 0, _f(dout), 0.0)


@PITFALLS.variant("relu_backward", "relu-mask-wrong")
def relu_backward_inverted(dout, z):
    return np.where(_f(z) < 0, _f(dout), 0.0)


@PITFALLS.variant("relu_backward", "relu-mask-wrong")
def relu_backward_mask_only(dout, z):
    return (_f(z) > 0).astype(np.float64)


# ---- softmax_cross_entropy ----------------------------------------------------------------------

def softmax_cross_entropy(logits, y):
    """Mean softmax cross-entropy over the batch, computed stably, and its gradient.

    logits: (B, C); y: (B,) integer labels. Returns (loss: float, dlogits: (B, C)), as
    torch.nn.functional.cross_entropy and its autograd gradient.
    """
    z = _leaf(logits)
    loss = F.cross_entropy(z, torch.as_tensor(np.asarray(y, dtype=np.int64)))
    loss.backward()
    return float(loss.item()), _np(z.grad)


def _softmax_cross_entropy(logits, y):
    # variants call this, never the public name (in a harness trace a variant takes that name)
    z = _f(logits)
    y = np.asarray(y, dtype=np.int64)
    B = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(B), y].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(B), y] -= 1.0
    return float(loss), dlogits / B


@PITFALLS.variant("softmax_cross_entropy", "grad-missing-batch-mean")
def softmax_cross_entropy_grad_not_averaged(logits, y):
    loss, dlogits = _softmax_cross_entropy(logits, y)
    return loss, dlogits * len(dlogits)


@PITFALLS.variant("softmax_cross_entropy", "sum-not-mean")
def softmax_cross_entropy_summed(logits, y):
    loss, dlogits = _softmax_cross_entropy(logits, y)
    return loss * len(dlogits), dlogits * len(dlogits)


@PITFALLS.variant("softmax_cross_entropy", "unstable-softmax")
def softmax_cross_entropy_without_shift(logits, y):
    z = _f(logits)
    y = np.asarray(y, dtype=np.int64)
    B = z.shape[0]
    with np.errstate(all="ignore"):
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(B), y]).mean()
    d = p.copy()
    d[np.arange(B), y] -= 1.0
    return float(loss), d / B


@PITFALLS.variant("softmax_cross_entropy", "unstable-softmax")
def softmax_cross_entropy_log_of_probability(logits, y):
    z = _f(logits)
    y = np.asarray(y, dtype=np.int64)
    B = z.shape[0]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        loss = -np.log(p[np.arange(B), y]).mean()
    d = p.copy()
    d[np.arange(B), y] -= 1.0
    return float(loss), d / B


# ---- mlp_forward / mlp_backward -----------------------------------------------------------------------

def mlp_forward(params, x):
    """Forward pass of the 3-layer MLP. Returns (logits (B, C), cache)."""
    x = _f(x)
    z1 = x @ _f(params["W1"]) + _f(params["b1"])
    h1 = np.maximum(z1, 0.0)
    z2 = h1 @ _f(params["W2"]) + _f(params["b2"])
    h2 = np.maximum(z2, 0.0)
    logits = h2 @ _f(params["W3"]) + _f(params["b3"])
    return logits, (x, z1, h1, z2, h2)


def mlp_backward(params, cache, dlogits):
    """Gradients of the loss for every parameter, given dL/dlogits. Same keys and shapes as params.

    torch.autograd on the same network: the forward pass is rebuilt as a torch graph from the
    input kept in the cache, and dlogits is pushed back through it.
    """
    x = cache[0]
    p = {k: _leaf(params[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3")}
    h1 = torch.relu(torch.as_tensor(_f(x)) @ p["W1"] + p["b1"])
    h2 = torch.relu(h1 @ p["W2"] + p["b2"])
    logits = h2 @ p["W3"] + p["b3"]
    logits.backward(torch.as_tensor(_f(dlogits)))
    return {k: _np(t.grad) for k, t in p.items()}


# ---- grad_check -------------------------------------------------------------------------------------

def _numeric_gradient(f, x, eps, central=True):
    x = _f(x)
    grad = np.zeros_like(x)
    f0 = None if central else float(f(x.copy()))
    for idx in np.ndindex(x.shape):
        plus = x.copy()
        plus[idx] += eps
        if central:
            minus = x.copy()
            minus[idx] -= eps
            grad[idx] = (float(f(plus)) - float(f(minus))) / (2 * eps)
        else:
            grad[idx] = (float(f(plus)) - f0) / eps
    return grad


def grad_check(f, x, analytic_grad, eps=1e-6):
    """Largest relative error |a - n| / max(1e-8, |a| + |n|) between the analytic gradient a and a
    central-difference numerical gradient n of the scalar function f at x (x is left unchanged)."""
    a = _f(analytic_grad)
    n = _numeric_gradient(f, x, eps)
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))))


@PITFALLS.variant("grad_check", "forward-difference")
def grad_check_forward_difference(f, x, analytic_grad, eps=1e-6):
    a = _f(analytic_grad)
    n = _numeric_gradient(f, x, eps, central=False)
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))))


@PITFALLS.variant("grad_check", "relative-error-formula")
def grad_check_norm_ratio(f, x, analytic_grad, eps=1e-6):
    a, n = _f(analytic_grad), _numeric_gradient(f, x, eps)
    return float(np.linalg.norm(a - n) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(n)))


@PITFALLS.variant("grad_check", "relative-error-formula")
def grad_check_max_denominator(f, x, analytic_grad, eps=1e-6):
    a, n = _f(analytic_grad), _numeric_gradient(f, x, eps)
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.maximum(np.abs(a), np.abs(n)))))


@PITFALLS.variant("grad_check", "relative-error-formula")
def grad_check_mean_not_max(f, x, analytic_grad, eps=1e-6):
    a, n = _f(analytic_grad), _numeric_gradient(f, x, eps)
    return float(np.mean(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))))


@PITFALLS.variant("grad_check", "relative-error-formula")
def grad_check_relative_to_analytic(f, x, analytic_grad, eps=1e-6):
    a, n = _f(analytic_grad), _numeric_gradient(f, x, eps)
    return float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a))))


@PITFALLS.variant("grad_check", "relative-error-formula")
def grad_check_without_floor(f, x, analytic_grad, eps=1e-6):
    # no 1e-8 floor: an entry where both gradients are exactly 0 gives 0 / 0 = nan
    a, n = _f(analytic_grad), _numeric_gradient(f, x, eps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(np.abs(a - n) / (np.abs(a) + np.abs(n))))


# ---- tied_weights_grad -----------------------------------------------------------------------------

def tied_weights_grad(x, W, dout):
    """dL/dW for y = (x @ W) @ W: both uses of W contribute and the two add up.

    x: (B, D); W: (D, D); dout: (B, D) = dL/dy. Returns dW (D, D).
    """
    W_t = _leaf(W)
    ((torch.as_tensor(_f(x)) @ W_t) @ W_t).backward(torch.as_tensor(_f(dout)))
    return _np(W_t.grad)


@PITFALLS.variant("tied_weights_grad", "shared-grad-overwritten")
def tied_weights_grad_second_use_only(x, W, dout):
    x, W, dout = _f(x), _f(W), _f(dout)
    return (x @ W).T @ dout


@PITFALLS.variant("tied_weights_grad", "shared-grad-overwritten")
def tied_weights_grad_first_use_only(x, W, dout):
    x, W, dout = _f(x), _f(W), _f(dout)
    return x.T @ (dout @ W.T)
