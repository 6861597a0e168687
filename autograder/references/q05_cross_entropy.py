"""q05 cross-entropy: the reference implementations and the classic mistakes, as code.

Each reference function is what the student is asked to write. Each `@PITFALLS.variant` below it is
the same function written with one well-known mistake; when a student's answer is wrong, the
variant that reproduces it names the mistake.
"""
import numpy as np

from whiteboard.checks import Pitfalls

LABELS = {
    "unstable-softmax": ("exp() of a large logit overflows to inf, and inf / inf is NaN.",
                         "Subtract each row's maximum before exponentiating: softmax(z) equals "
                         "softmax(z - z.max(axis, keepdims=True)), and then no exponent is positive."),
    "softmax-wrong-axis": ("the probabilities were normalised over the wrong axis, so they do not sum "
                           "to 1 along `axis`.",
                           "Pass `axis` to both max and sum, with keepdims=True: "
                           "e.sum(axis=axis, keepdims=True)."),
    "log-of-softmax": ("log(softmax(z)) underflows: a probability of exp(-1000) is stored as 0.0, and "
                       "log(0) is -inf.",
                       "Use the log-sum-exp identity: log_softmax(z) = z - m - log(sum(exp(z - m))) "
                       "with m the maximum, which never takes the log of 0."),
    "sum-not-mean": ("the per-example losses were summed, not averaged, so the loss grows with the "
                     "batch size.",
                     "Return the mean over the batch: losses.mean()."),
    "double-softmax": ("softmax was applied to the logits before a cross-entropy that applies softmax "
                       "itself, so the probabilities were squashed twice.",
                       "Pass raw logits: the cross-entropy's own log_softmax does the normalising."),
    "grad-missing-batch-mean": ("the gradient was not divided by the batch size, but the loss is a mean.",
                                "Divide (softmax - onehot) by B, the number of examples."),
    "grad-sign-flipped": ("the gradient has the wrong sign: it is onehot - softmax.",
                          "dL/dz = softmax(z) - onehot(y): raising the true class's logit lowers the loss."),
    "grad-missing-onehot": ("the one-hot target was not subtracted: that is the gradient of sum(log "
                            "sum exp(z)), not of the cross-entropy.",
                            "Subtract 1 at each example's true class: g[np.arange(B), y] -= 1."),
    "unstable-bce": ("log(sigmoid(x)) and log(1 - sigmoid(x)) become log(0) = -inf once sigmoid "
                     "saturates (|x| above about 37).",
                     "Use the stable form max(x, 0) - x*y + log(1 + exp(-|x|)) (np.logaddexp helps)."),
    "smoothing-over-k-minus-1": ("the smoothing mass was spread over the K-1 wrong classes; PyTorch "
                                 "spreads it over all K classes.",
                                 "Target distribution: (1 - eps) * onehot + eps / K for every class "
                                 "(the true class gets 1 - eps + eps/K)."),
}

PITFALLS = Pitfalls(LABELS)

# A student's function that calls another of these gets the reference instead (charged once).
STANDINS = ("softmax", "log_softmax", "cross_entropy")


def softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@PITFALLS.variant("softmax", "unstable-softmax")
def softmax_without_shift(z, axis=-1):
    e = np.exp(np.asarray(z, dtype=np.float64))
    return e / e.sum(axis=axis, keepdims=True)


def _normalised_elsewhere(probs, z, axis):
    """True when `probs` sums to 1 over some axis other than `axis` (or over everything)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != np.shape(z) or np.allclose(p.sum(axis=axis), 1.0):
        return False
    others = [a for a in range(p.ndim) if a != axis % p.ndim]
    return any(np.allclose(p.sum(axis=a), 1.0) for a in others) or np.isclose(p.sum(), 1.0)


@PITFALLS.detector("softmax", "softmax-wrong-axis")
def softmax_sums_to_one_elsewhere(got, z, axis=-1):
    return _normalised_elsewhere(got, z, axis)


def log_softmax(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@PITFALLS.variant("log_softmax", "log-of-softmax")
def log_of_softmax(z, axis=-1):
    return np.log(softmax(z, axis))


@PITFALLS.variant("log_softmax", "unstable-softmax")
def log_softmax_without_shift(z, axis=-1):
    z = np.asarray(z, dtype=np.float64)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@PITFALLS.detector("log_softmax", "softmax-wrong-axis")
def log_softmax_sums_to_one_elsewhere(got, z, axis=-1):
    return _normalised_elsewhere(np.exp(np.asarray(got, dtype=np.float64)), z, axis)


def _picked(logp, targets):
    return logp[np.arange(len(targets)), np.asarray(targets)]


def cross_entropy(logits, targets):
    return float(-_picked(log_softmax(logits), targets).mean())


@PITFALLS.variant("cross_entropy", "sum-not-mean")
def cross_entropy_sum(logits, targets):
    return float(-_picked(log_softmax(logits), targets).sum())


@PITFALLS.variant("cross_entropy", "double-softmax")
def cross_entropy_of_probabilities(logits, targets):
    return cross_entropy(softmax(logits), targets)


@PITFALLS.variant("cross_entropy", "log-of-softmax")
def cross_entropy_log_of_softmax(logits, targets):
    with np.errstate(divide="ignore"):
        return float(-_picked(np.log(softmax(logits)), targets).mean())


def _onehot(targets, num_classes):
    out = np.zeros((len(targets), num_classes))
    out[np.arange(len(targets)), np.asarray(targets)] = 1.0
    return out


def cross_entropy_grad(logits, targets):
    logits = np.asarray(logits, dtype=np.float64)
    return (softmax(logits) - _onehot(targets, logits.shape[1])) / logits.shape[0]


@PITFALLS.variant("cross_entropy_grad", "grad-missing-batch-mean")
def cross_entropy_grad_no_mean(logits, targets):
    return cross_entropy_grad(logits, targets) * np.shape(logits)[0]


@PITFALLS.variant("cross_entropy_grad", "grad-sign-flipped")
def cross_entropy_grad_flipped(logits, targets):
    return -cross_entropy_grad(logits, targets)


@PITFALLS.variant("cross_entropy_grad", "grad-missing-onehot")
def cross_entropy_grad_no_onehot(logits, targets):
    return softmax(logits) / np.shape(logits)[0]


def binary_cross_entropy_with_logits(logits, targets):
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    return float(np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))))


@PITFALLS.variant("binary_cross_entropy_with_logits", "unstable-bce")
def bce_through_sigmoid(logits, targets):
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    p = 1 / (1 + np.exp(-x))
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


@PITFALLS.variant("binary_cross_entropy_with_logits", "unstable-bce")
def bce_softplus_without_abs(logits, targets):
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    return float(np.mean(np.log(1 + np.exp(-x)) + (1 - y) * x))


def label_smoothing_cross_entropy(logits, targets, smoothing):
    logp = log_softmax(logits)
    k = logp.shape[1]
    target = (1 - smoothing) * _onehot(targets, k) + smoothing / k
    return float(-(target * logp).sum(axis=1).mean())


@PITFALLS.variant("label_smoothing_cross_entropy", "smoothing-over-k-minus-1")
def label_smoothing_over_k_minus_1(logits, targets, smoothing):
    logp = log_softmax(logits)
    k = logp.shape[1]
    onehot = _onehot(targets, k)
    target = (1 - smoothing) * onehot + smoothing / (k - 1) * (1 - onehot)
    return float(-(target * logp).sum(axis=1).mean())


@PITFALLS.variant("label_smoothing_cross_entropy", "sum-not-mean")
def label_smoothing_sum(logits, targets, smoothing):
    return label_smoothing_cross_entropy(logits, targets, smoothing) * np.shape(logits)[0]
