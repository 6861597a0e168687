"""q03_optimizers: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "adam_update",
               "adamw_update", "optimizer_state_floats"),
    catalogue={
        "momentum-dampened": (
            "the velocity is an average, momentum * v + (1 - momentum) * g, so every step is about "
            "ten times shorter than torch.optim.SGD's (dampening = 0).",
            "Accumulate the full gradient: v = momentum * v + g."),
        "nesterov-wrong": (
            "the Nesterov step is not torch's: with nesterov=True the step uses the gradient plus "
            "momentum times the NEW velocity (and plain momentum otherwise).",
            "Update v = momentum * v + g first, then step along g + momentum * v."),
        "rmsprop-no-ema": (
            "the squared-gradient average is not an exponential moving average: it keeps growing "
            "(that is Adagrad) or forgets everything but the last gradient.",
            "s = alpha * s + (1 - alpha) * g**2."),
        "eps-inside-sqrt": (
            "eps was added inside the square root; torch adds it after: g / (sqrt(s) + eps).",
            "Take the square root first, then add eps to the denominator."),
        "adam-no-bias-correction": (
            "the moments were not bias-corrected, so the first steps are far too small (m and v "
            "start at 0).",
            "Divide by 1 - beta1**t and 1 - beta2**t: m_hat = m / (1 - beta1**t), "
            "v_hat = v / (1 - beta2**t)."),
        "adam-decoupled-decay": (
            "Adam's weight decay was applied to the weights directly (that is AdamW); "
            "torch.optim.Adam adds weight_decay * w to the gradient before the moments.",
            "g = g + weight_decay * w, then update m and v with that g."),
        "adam-step-zero-based": (
            "the bias correction used t + 1 (or counted t from 0), but t is already the 1-based "
            "number of this step.",
            "Use 1 - beta**t with the t you are given: at the first step t = 1."),
        "adamw-coupled-decay": (
            "AdamW's decay was added to the gradient (that is Adam's L2 penalty), so it is rescaled "
            "by the adaptive denominator instead of shrinking every weight by the same factor.",
            "Shrink the weights first, w = w * (1 - lr * weight_decay), and keep the decay out of g."),
    },
    uses=("forbidden-api", "mutates-input"),
    extra={
        "adam-eps-hat": (
            "the bias corrections were folded into the step size, lr * sqrt(1 - beta2**t) / "
            "(1 - beta1**t) times m / (sqrt(v) + eps) (the Adam paper's 'efficient' form). That moves "
            "eps: it is added to the uncorrected sqrt(v), so it weighs up to 1 / sqrt(1 - beta2**t) "
            "times more than in torch.optim, which adds it to sqrt(v_hat). The steps differ most "
            "where gradients are small.",
            "Keep the corrections on the moments: m_hat / (sqrt(v_hat) + eps), or, in the folded "
            "form, add eps * sqrt(1 - beta2**t) instead of eps."),
    },
)

# torch.optim does the exercise for you: each update rule is graded with these watched (a call
# through any of them is `forbidden-api`, even when the values are right).
_OPTIM = ("torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW", "torch.optim.Adagrad",
          "torch.optim.RMSprop", "torch.optim.NAdam", "torch.optim.RAdam", "torch.optim.Adamax",
          "torch.optim.Adadelta", "torch.optim.ASGD", "torch.optim.Rprop", "torch.optim.LBFGS",
          "torch.optim.sgd.SGD", "torch.optim.adam.Adam", "torch.optim.adamw.AdamW",
          "torch.optim.adagrad.Adagrad", "torch.optim.rmsprop.RMSprop",
          "torch.optim.sgd.sgd", "torch.optim.adam.adam", "torch.optim.adamw.adamw",
          "torch.optim.adagrad.adagrad", "torch.optim.rmsprop.rmsprop",
          "torch.optim._functional.sgd", "torch.optim._functional.adam",
          "torch.optim._functional.adamw", "torch.optim._functional.adagrad",
          "torch.optim._functional.rmsprop")
FORBIDDEN = {f: _OPTIM for f in LABELS.functions}
