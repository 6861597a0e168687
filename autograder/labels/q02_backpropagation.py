"""q02_backpropagation: the functions a student writes and the mistakes its checks can name."""
import numpy as np

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("linear_backward", "relu_backward", "softmax_cross_entropy", "mlp_forward",
               "mlp_backward", "grad_check", "tied_weights_grad"),
    catalogue={
        "bias-grad-not-summed": (
            "db was not summed over the batch: the bias is shared by every example, so each example's "
            "gradient must be added up into one vector of shape (H,).",
            "Sum dout over the batch axis: db = dout.sum(axis=0)."),
        "weight-grad-transposed": (
            "dW is transposed: it has the shape (and layout) of W.T, not of W.",
            "A gradient always has its parameter's shape: W is (D, H), x is (B, D), dout is (B, H), "
            "so dW = x.T @ dout."),
        "bias-grad-averaged": (
            "the gradient was divided by the batch size again; dout already carries the 1/B of the "
            "mean loss, so the parameters' gradients need only a sum.",
            "Sum over the batch (db = dout.sum(axis=0), dW = x.T @ dout) without dividing by B."),
        "relu-mask-wrong": (
            "the ReLU gradient mask is wrong: it must let dout through exactly where the "
            "pre-activation z is positive (and block it at z == 0 and below).",
            "dx = dout * (z > 0): mask with the pre-activation, strictly greater than 0."),
        "grad-missing-batch-mean": (
            "dlogits was not divided by the batch size, but the loss is a mean over the batch.",
            "Divide (softmax - onehot) by B, the number of examples."),
        "unstable-softmax": (
            "exp() of a large logit overflows to inf (and inf / inf is NaN), or a probability that "
            "underflows to 0 is passed to log.",
            "Subtract each row's maximum before exponentiating, and compute the loss as "
            "logsumexp(z) - z[y] rather than -log(softmax)."),
        "shared-grad-overwritten": (
            "W is used twice, in x @ W and again in (x @ W) @ W, but only one use's gradient was "
            "kept: the second contribution overwrote the first (or was never computed).",
            "Backpropagate through both uses and add them: dW = h.T @ dout + x.T @ (dout @ W.T) "
            "with h = x @ W."),
    },
    uses=("mutates-input",),
    extra={
        "sum-not-mean": (
            "the loss (and its gradient) was summed over the batch instead of averaged.",
            "Return the mean loss, and divide dlogits by B to match it."),
        "relative-error-formula": (
            "the relative error is not the one asked for: it is |a - n| / max(1e-8, |a| + |n|) per "
            "entry, and the function returns the largest.",
            "Compute the ratio entry by entry (no norms), with |a| + |n| in the denominator floored "
            "at 1e-8, then take the max."),
        "forward-difference": (
            "the numerical gradient uses a one-sided difference, whose error (about eps) swamps the "
            "small relative errors a correct gradient should show.",
            "Use the central difference (f(x + eps) - f(x - eps)) / (2 * eps)."),
    },
)


def _shapes(got, params):
    """(name, shape of the gradient, shape of the parameter) for the parameters both have."""
    if not isinstance(got, dict) or not isinstance(params, dict):
        return []
    return [(k, tuple(np.shape(got[k])), tuple(np.shape(params[k]))) for k in params if k in got]


@LABELS.detector("mlp_backward", "bias-grad-not-summed")
def bias_grad_per_example(got, params, *args, **kwargs):
    """A bias gradient with one row per example: (B, H) where the bias is (H,)."""
    return any(k.startswith("b") and len(g) == 2 and g[1:] == p for k, g, p in _shapes(got, params))


@LABELS.detector("mlp_backward", "weight-grad-transposed")
def weight_grad_transposed(got, params, *args, **kwargs):
    """A weight gradient shaped like W.T where W is not square."""
    return any(k.startswith("W") and g != p and g == p[::-1] for k, g, p in _shapes(got, params))
