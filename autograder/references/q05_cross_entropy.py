"""q05 cross-entropy: the reference implementations and the classic mistakes, as code.

Each reference function is what the student is asked to write. Each `@PITFALLS.variant` below it is
the same function written with one well-known mistake; when a student's answer is wrong, the
variant that reproduces it names the mistake.
"""
import numpy as np

from autograder.labels.q05_cross_entropy import LABELS
from whiteboard.grading.pitfalls import Pitfalls

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
