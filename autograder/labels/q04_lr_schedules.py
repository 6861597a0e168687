"""q04_lr_schedules: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("constant_lr", "step_decay_lr", "exponential_lr", "cosine_lr", "warmup_cosine_lr",
               "one_cycle_lr", "sgdr_lr", "linear_scaled_lr", "make_warmup_cosine_scheduler"),
    catalogue={
        "off-by-one-decay": (
            "the learning rate drops one step too early or too late: StepLR multiplies by gamma "
            "exactly when step reaches a multiple of step_size.",
            "step counts the steps already taken, from 0: use gamma ** (step // step_size) and "
            "check that steps 0 .. step_size-1 still use base_lr."),
        "cosine-period-wrong": (
            "the cosine has the wrong period: it must fall from base_lr to min_lr once, over exactly "
            "total_steps steps (half a cosine wave).",
            "Use cos(pi * step / total_steps): 1 at step 0, -1 at step total_steps."),
        "ignores-min-lr": (
            "the schedule does not end at min_lr: the cosine must swing between base_lr and min_lr.",
            "min_lr + (base_lr - min_lr) * (1 + cos(...)) / 2, and min_lr once the schedule is over."),
        "warmup-off-by-one": (
            "the warmup counts from 1: at step 0 the learning rate must be 0 and it reaches base_lr "
            "at step warmup_steps.",
            "During warmup use base_lr * step / warmup_steps."),
        "decay-ignores-warmup": (
            "the cosine after the warmup is measured from step 0 or over total_steps, so it does not "
            "start at base_lr right after the warmup or does not reach min_lr at total_steps.",
            "After the warmup use progress = (step - warmup_steps) / (total_steps - warmup_steps)."),
        "lambda-returns-lr": (
            "the function given to LambdaLR returns a learning rate, but LambdaLR multiplies what "
            "it returns by each group's base lr, so every lr was multiplied by a base lr twice.",
            "Return a factor: warmup_cosine_lr(step, total_steps, warmup_steps, 1.0, min_lr_ratio)."),
    },
    uses=(),
    extra={
        "not-clamped-after-end": (
            "past total_steps the cosine keeps going and the learning rate climbs back up.",
            "Return min_lr for step >= total_steps."),
    },
)
