"""q07_regularization: the functions a student writes and the mistakes its checks can name.

`dropout` and `decay_param_groups` are graded through harnesses (autograder/harnesses/
q07_regularization.py): their detectors below receive the harness's trace as `got` and the
harness's parameters as keyword arguments.
"""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("l1_penalty", "l2_penalty", "soft_threshold", "lasso_ista", "ridge_closed_form",
               "dropout", "decay_param_groups"),
    catalogue={
        "subgradient-no-exact-zeros": (
            "the L1 term was handled with a (sub)gradient step, lam * sign(w): weights then jitter "
            "around zero instead of landing on it, so the solution is never exactly sparse.",
            "Take a plain gradient step on the squared error only, then apply soft_threshold(w, "
            "lr * lam): the proximal step sets every small weight to exactly 0."),
        "threshold-not-scaled-by-lr": (
            "the soft threshold used lam instead of lr * lam, so each step shrinks the weights by "
            "the full penalty whatever the step size.",
            "The proximal step of lr * lam * ||w||_1 is soft_threshold(w, lr * lam): scale the "
            "threshold by the learning rate."),
        "missing-n-scaling": (
            "the closed form ignores the 1/(2n) in front of the squared error, so the penalty is "
            "n times too weak (or too strong) compared with the objective.",
            "Setting the gradient of (1/2n)||Xw - y||^2 + (lam/2)||w||^2 to zero gives "
            "(X^T X + n * lam * I) w = X^T y; solve that."),
        "non-inverted-dropout": (
            "the kept activations were not scaled by 1/(1 - p) during training (or the output was "
            "scaled by 1 - p at evaluation instead), so the expected activation changes between "
            "training and evaluation.",
            "Inverted dropout: in training return x * mask / (1 - p); in evaluation return x "
            "unchanged."),
        "dropout-in-eval": (
            "units were still dropped when training is False, so evaluation is noisy and "
            "predictions change from call to call.",
            "When training is False (or p == 0) return x unchanged, before drawing any mask."),
        "keep-prob-confusion": (
            "p was used as the probability of keeping a unit, but p is the probability of "
            "dropping it: about a fraction p of the units survived instead of 1 - p.",
            "Keep a unit where a uniform draw is >= p (probability 1 - p) and scale the kept ones "
            "by 1 / (1 - p)."),
        "decay-on-bias-and-norm": (
            "weight decay was applied to biases, normalisation scales/shifts or embeddings; "
            "shrinking those towards zero does not regularise the function and can hurt "
            "(a LayerNorm gain pulled to 0 silences its layer).",
            "Decay only the `weight` of nn.Linear and nn.Conv1d/2d/3d modules (check the module "
            "type with isinstance while walking model.named_modules()); put every other parameter "
            "in a group with weight_decay 0.0."),
    },
    uses=(),
    extra={
        "l2-missing-half": (
            "the L2 penalty was lam * sum(w^2); the exercise's convention is 0.5 * lam * sum(w^2), "
            "whose gradient is simply lam * w.",
            "Multiply by 0.5."),
        "threshold-one-sided": (
            "negative weights were clipped to zero instead of being shrunk towards zero: "
            "max(w - t, 0) only handles the positive side.",
            "soft_threshold(w, t) = sign(w) * max(|w| - t, 0)."),
        "hard-threshold": (
            "small weights were zeroed but the large ones were left as they are; the proximal "
            "operator of t*||w||_1 also shrinks the survivors by t.",
            "soft_threshold(w, t) = sign(w) * max(|w| - t, 0)."),
        "dropout-global-rng": (
            "the mask was drawn from PyTorch's global random generator (torch.rand without "
            "generator=, torch.nn.functional.dropout, nn.Dropout), not from `generator`, so the "
            "same seed does not give the same mask.",
            "Pass generator=generator to torch.rand / torch.bernoulli."),
        "matrix-weights-not-decayed": (
            "the weight of some nn.Linear or nn.Conv layer ended up in the group without weight "
            "decay.",
            "Put the `weight` of every nn.Linear, nn.Conv1d, nn.Conv2d and nn.Conv3d (nested "
            "ones too) in the decay group."),
    },
)


# ---- dropout: properties of the trace of harnesses.q07_regularization.dropout_trace ----------------

def _scales(got):
    return [float(s) for s in (got.get("kept_scales") or [])]


@LABELS.detector("dropout", "dropout-in-eval")
def drops_in_eval(got, p=0.5, training=True, **_):
    """Zeros (or a random pattern) when training is False."""
    return (not training) and float(p) > 0 and not got.get("equals_input") \
        and got.get("keep_rate") is not None and got["keep_rate"] < 1.0


@LABELS.detector("dropout", "non-inverted-dropout")
def not_rescaled(got, p=0.5, training=True, **_):
    """Training: the kept values come out unchanged. Evaluation: everything scaled by 1 - p."""
    p = float(p)
    scales = _scales(got)
    if training and 0 < p < 1:
        return len(scales) == 1 and abs(scales[0] - 1.0) < 1e-3
    if not training and 0 < p < 1:
        return got.get("keep_rate") == 1.0 and len(scales) == 1 and abs(scales[0] - (1 - p)) < 1e-3
    return False


@LABELS.detector("dropout", "keep-prob-confusion")
def keeps_p_not_one_minus_p(got, p=0.5, training=True, n=None, **_):
    """About a fraction p survived (p far enough from 1/2 to tell), or the survivors were scaled by 1/p."""
    p = float(p)
    if not training or not 0 < p < 1:
        return False
    rate, scales = got.get("keep_rate"), _scales(got)
    size = float(n or got.get("n") or 1)
    spread = 5 * (p * (1 - p) / size) ** 0.5 + 1e-9
    near_p = rate is not None and abs(rate - p) < spread and abs(rate - (1 - p)) > spread
    by_one_over_p = len(scales) == 1 and abs(scales[0] - 1 / p) < 1e-3 * (1 / p) and abs(p - 0.5) > 1e-9
    return near_p or by_one_over_p


@LABELS.detector("dropout", "dropout-global-rng")
def uses_global_rng(got, **_):
    return bool(got.get("global_rng_used")) and not got.get("generator_used")


# ---- decay_param_groups: properties of the trace of decay_groups_trace ---------------------------

_MATRIX_MODULES = ("Linear", "Conv1d", "Conv2d", "Conv3d")


def _decays(got):
    """(parameter description, the weight decay it got) for every parameter placed exactly once."""
    for param in got.get("parameters", []):
        wd = (got.get("decay_of") or {}).get(param["name"])
        if isinstance(wd, (int, float)) and not isinstance(wd, bool):
            yield param, float(wd)


@LABELS.detector("decay_param_groups", "decay-on-bias-and-norm")
def decays_a_bias_norm_or_embedding(got, **_):
    return any(wd != 0.0 and not (p["module"] in _MATRIX_MODULES and p["attr"] == "weight")
               for p, wd in _decays(got))


@LABELS.detector("decay_param_groups", "matrix-weights-not-decayed")
def leaves_a_matrix_weight_undecayed(got, **_):
    return any(wd == 0.0 and p["module"] in _MATRIX_MODULES and p["attr"] == "weight"
               for p, wd in _decays(got))
