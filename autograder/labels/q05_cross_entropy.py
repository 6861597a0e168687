"""q05_cross_entropy: the functions a student writes and the mistakes its checks can name."""
import numpy as np

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("softmax", "log_softmax", "cross_entropy", "cross_entropy_grad",
               "binary_cross_entropy_with_logits", "label_smoothing_cross_entropy"),
    catalogue={
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
},
)


def _normalised_elsewhere(probs, z, axis):
    """True when `probs` sums to 1 over some axis other than `axis` (or over everything)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != np.shape(z) or np.allclose(p.sum(axis=axis), 1.0):
        return False
    others = [a for a in range(p.ndim) if a != axis % p.ndim]
    return any(np.allclose(p.sum(axis=a), 1.0) for a in others) or np.isclose(p.sum(), 1.0)


@LABELS.detector("softmax", "softmax-wrong-axis")
def softmax_sums_to_one_elsewhere(got, z, axis=-1):
    return _normalised_elsewhere(got, z, axis)


@LABELS.detector("log_softmax", "softmax-wrong-axis")
def log_softmax_sums_to_one_elsewhere(got, z, axis=-1):
    return _normalised_elsewhere(np.exp(np.asarray(got, dtype=np.float64)), z, axis)
