"""q04_lr_schedules: reference answers and the classic mistakes as code. Never leaves the instructor.

`step` is the 0-based number of optimizer steps already taken, so schedule(step) is the lr that a
torch scheduler holds after `step` calls of scheduler.step(). The schedules the catalogue defines
"as" a torch scheduler (step_decay_lr: StepLR, exponential_lr: ExponentialLR, one_cycle_lr:
OneCycleLR, sgdr_lr: CosineAnnealingWarmRestarts) ARE that scheduler: the reference runs it on a
one-parameter SGD and reads the lr after `step` scheduler steps (each run is kept and extended, so
a 1,000-step check costs 1,000 scheduler steps, not 500,000). cosine_lr and warmup_cosine_lr are
the catalogue's closed forms (tests/ shows CosineAnnealingLR and the LambdaLR agree), and
make_warmup_cosine_scheduler is a LambdaLR, checked through autograder/harnesses/q04_lr_schedules.py
(two param groups with different base lrs). The closed forms below the torch-backed references
(_step_decay, ...) are written in torch's operation order and serve the variants.
"""
import math
import warnings

import torch

from autograder.labels.q04_lr_schedules import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)

# warmup_cosine_lr is often built on cosine_lr, and make_warmup_cosine_scheduler on warmup_cosine_lr.
STANDINS = ("constant_lr", "step_decay_lr", "exponential_lr", "cosine_lr", "warmup_cosine_lr")


# ---- constant, step, exponential --------------------------------------------------------------

def constant_lr(step, base_lr):
    return float(base_lr)


# ---- torch's schedulers, run once per setting and extended as needed ----------------------------

_RUNS: dict = {}


def _scheduled(kind, step, closed_form, **kw):
    """The lr torch's scheduler `kind` holds after `step` scheduler steps (closed_form() where the
    scheduler refuses to go, e.g. OneCycleLR past total_steps)."""
    step = int(step)
    key = (kind, tuple(sorted((k, repr(v)) for k, v in kw.items())))
    if key not in _RUNS:
        if len(_RUNS) > 2000:
            _RUNS.clear()
        _RUNS[key] = [None, None, []]
    run = _RUNS[key]
    if run[0] is None:
        run[0] = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=float(kw.get("base_lr", kw.get("max_lr"))))
        run[1] = _make_scheduler(kind, run[0], kw)
        run[2].append(float(run[0].param_groups[0]["lr"]))
    opt, sched, lrs = run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(lrs) <= step:
            try:
                opt.step()
                sched.step()
            except ValueError:   # OneCycleLR: "Tried to step N times. The specified number of total steps is M"
                return closed_form()
            lrs.append(float(opt.param_groups[0]["lr"]))
    return lrs[step]


def _make_scheduler(kind, opt, kw):
    L = torch.optim.lr_scheduler
    if kind == "step":
        return L.StepLR(opt, step_size=kw["step_size"], gamma=kw["gamma"])
    if kind == "exponential":
        return L.ExponentialLR(opt, gamma=kw["gamma"])
    if kind == "one_cycle":
        return L.OneCycleLR(opt, max_lr=kw["max_lr"], total_steps=kw["total_steps"],
                            pct_start=kw["pct_start"], div_factor=kw["div_factor"],
                            final_div_factor=kw["final_div_factor"], anneal_strategy="cos",
                            cycle_momentum=False, three_phase=False)
    if kind == "sgdr":
        return L.CosineAnnealingWarmRestarts(opt, T_0=kw["t0"], T_mult=kw["t_mult"], eta_min=kw["min_lr"])
    raise ValueError(kind)


def step_decay_lr(step, base_lr, step_size, gamma=0.1):
    """torch.optim.lr_scheduler.StepLR: the lr after `step` scheduler steps."""
    return _scheduled("step", step, lambda: _step_decay(step, base_lr, step_size, gamma),
                      base_lr=base_lr, step_size=step_size, gamma=gamma)


def _step_decay(step, base_lr, step_size, gamma):
    """StepLR's closed form: base_lr * gamma ** (number of completed step_size periods)."""
    return float(base_lr * gamma ** (step // step_size))


@PITFALLS.variant("step_decay_lr", "off-by-one-decay")
def step_decay_lr_early(step, base_lr, step_size, gamma=0.1):
    return float(base_lr * gamma ** ((step + 1) // step_size))


@PITFALLS.variant("step_decay_lr", "off-by-one-decay")
def step_decay_lr_ceil(step, base_lr, step_size, gamma=0.1):
    return float(base_lr * gamma ** math.ceil(step / step_size))


@PITFALLS.variant("step_decay_lr", "off-by-one-decay")
def step_decay_lr_late(step, base_lr, step_size, gamma=0.1):
    return float(base_lr * gamma ** (max(step - 1, 0) // step_size))


@PITFALLS.variant("step_decay_lr", "off-by-one-decay")
def step_decay_lr_decays_at_zero(step, base_lr, step_size, gamma=0.1):
    return float(base_lr * gamma ** (step // step_size + 1))


def exponential_lr(step, base_lr, gamma):
    """torch.optim.lr_scheduler.ExponentialLR: the lr after `step` scheduler steps."""
    return _scheduled("exponential", step, lambda: float(base_lr * gamma ** step),
                      base_lr=base_lr, gamma=gamma)


# ---- cosine --------------------------------------------------------------------------------------

def _cosine(progress, base_lr, min_lr):
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2


def cosine_lr(step, total_steps, base_lr, min_lr=0.0):
    """Half a cosine from base_lr (step 0) to min_lr (step total_steps); min_lr from then on."""
    return _cosine_lr(step, total_steps, base_lr, min_lr)


def _cosine_lr(step, total_steps, base_lr, min_lr):
    # variants call the private forms, never a public name: in a harness trace the variant
    # takes that name in the namespace and would call itself
    if step >= total_steps:
        return float(min_lr)
    return float(_cosine(step / total_steps, base_lr, min_lr))


@PITFALLS.variant("cosine_lr", "cosine-period-wrong")
def cosine_lr_full_period(step, total_steps, base_lr, min_lr=0.0):
    if step >= total_steps:
        return float(min_lr)
    return float(_cosine(2 * step / total_steps, base_lr, min_lr))


@PITFALLS.variant("cosine_lr", "cosine-period-wrong")
def cosine_lr_total_minus_one(step, total_steps, base_lr, min_lr=0.0):
    if step >= total_steps:
        return float(min_lr)
    return float(_cosine(step / (total_steps - 1), base_lr, min_lr))


@PITFALLS.variant("cosine_lr", "cosine-period-wrong")
def cosine_lr_quarter_period(step, total_steps, base_lr, min_lr=0.0):
    if step >= total_steps:
        return float(min_lr)
    return float(_cosine(step / (2 * total_steps), base_lr, min_lr))


@PITFALLS.variant("cosine_lr", "ignores-min-lr")
def cosine_lr_to_zero(step, total_steps, base_lr, min_lr=0.0):
    return _cosine_lr(step, total_steps, base_lr, 0.0)


@PITFALLS.variant("cosine_lr", "ignores-min-lr")
def cosine_lr_min_added_unscaled(step, total_steps, base_lr, min_lr=0.0):
    if step >= total_steps:
        return float(min_lr)
    return float(min_lr + base_lr * (1 + math.cos(math.pi * step / total_steps)) / 2)


@PITFALLS.variant("cosine_lr", "not-clamped-after-end")
def cosine_lr_unclamped(step, total_steps, base_lr, min_lr=0.0):
    return float(_cosine(step / total_steps, base_lr, min_lr))


# ---- warmup + cosine ---------------------------------------------------------------------------------

def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    """Linear warmup base_lr * step / warmup_steps, then a cosine from base_lr to min_lr over the
    remaining total_steps - warmup_steps steps, then min_lr (step >= total_steps)."""
    if step < warmup_steps:
        return float(base_lr * step / warmup_steps)
    if step >= total_steps:
        return float(min_lr)
    return float(_cosine((step - warmup_steps) / (total_steps - warmup_steps), base_lr, min_lr))


def _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr, warm, progress, clamp=True):
    if step < warmup_steps:
        return float(warm(step, warmup_steps, base_lr))
    if clamp and step >= total_steps:
        return float(min_lr)
    return float(_cosine(progress(step, total_steps, warmup_steps), base_lr, min_lr))


def _linear_warmup(step, warmup_steps, base_lr):
    return base_lr * step / warmup_steps


def _after_warmup(step, total_steps, warmup_steps):
    return (step - warmup_steps) / (total_steps - warmup_steps)


@PITFALLS.variant("warmup_cosine_lr", "warmup-off-by-one")
def warmup_cosine_lr_warmup_from_one(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr,
                           lambda s, w, b: b * (s + 1) / w, _after_warmup)


@PITFALLS.variant("warmup_cosine_lr", "warmup-off-by-one")
def warmup_cosine_lr_warmup_over_w_plus_one(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr,
                           lambda s, w, b: b * (s + 1) / (w + 1), _after_warmup)


@PITFALLS.variant("warmup_cosine_lr", "decay-ignores-warmup")
def warmup_cosine_lr_decay_from_zero(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr, _linear_warmup,
                           lambda s, t, w: s / t)


@PITFALLS.variant("warmup_cosine_lr", "decay-ignores-warmup")
def warmup_cosine_lr_decay_over_total(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr, _linear_warmup,
                           lambda s, t, w: (s - w) / t)


@PITFALLS.variant("warmup_cosine_lr", "ignores-min-lr")
def warmup_cosine_lr_to_zero(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, 0.0, _linear_warmup, _after_warmup)


@PITFALLS.variant("warmup_cosine_lr", "cosine-period-wrong")
def warmup_cosine_lr_full_period(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr, _linear_warmup,
                           lambda s, t, w: 2 * (s - w) / (t - w))


@PITFALLS.variant("warmup_cosine_lr", "not-clamped-after-end")
def warmup_cosine_lr_unclamped(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    return _warmup_variant(step, total_steps, warmup_steps, base_lr, min_lr, _linear_warmup,
                           _after_warmup, clamp=False)


# ---- one cycle, SGDR, linear scaling ------------------------------------------------------------------

def _annealing_cos(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    """torch.optim.lr_scheduler.OneCycleLR (anneal_strategy="cos", two phases): the lr after `step`
    scheduler steps."""
    return _scheduled("one_cycle", step,
                      lambda: _one_cycle(step, total_steps, max_lr, pct_start, div_factor, final_div_factor),
                      max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                      div_factor=div_factor, final_div_factor=final_div_factor)


def _one_cycle(step, total_steps, max_lr, pct_start, div_factor, final_div_factor):
    """OneCycleLR's closed form: max_lr/div_factor up to max_lr by step pct_start*total_steps - 1,
    then down to max_lr/div_factor/final_div_factor at total_steps - 1."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    end_up = float(pct_start * total_steps) - 1
    if step <= end_up:
        return float(_annealing_cos(initial_lr, max_lr, step / end_up))
    return float(_annealing_cos(max_lr, min_lr, (step - end_up) / (total_steps - 1 - end_up)))


def sgdr_lr(step, base_lr, t0, t_mult=1, min_lr=0.0):
    """torch.optim.lr_scheduler.CosineAnnealingWarmRestarts: a cosine from base_lr towards min_lr
    over t0 steps, restarted at base_lr, each period t_mult times longer than the one before."""
    return _scheduled("sgdr", step, lambda: _sgdr(step, base_lr, t0, t_mult, min_lr),
                      base_lr=base_lr, t0=t0, t_mult=t_mult, min_lr=min_lr)


def _sgdr(step, base_lr, t0, t_mult, min_lr):
    t_cur, t_i = step, t0
    while t_cur >= t_i:         # integers: exact, where a log-based cycle index can round wrongly
        t_cur -= t_i
        t_i *= t_mult
    return float(min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)


@PITFALLS.variant("sgdr_lr", "ignores-min-lr")
def sgdr_lr_to_zero(step, base_lr, t0, t_mult=1, min_lr=0.0):
    return _sgdr(step, base_lr, t0, t_mult, 0.0)


def linear_scaled_lr(base_lr, base_batch_size, batch_size):
    """The linear scaling rule: the lr grows in proportion to the batch size."""
    return float(base_lr * batch_size / base_batch_size)


# ---- make_warmup_cosine_scheduler ---------------------------------------------------------------------

def make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    """A LambdaLR whose factor is warmup_cosine_lr with base 1 and min min_lr_ratio, so each param
    group gets warmup_cosine_lr(step, total_steps, warmup_steps, its base lr, ratio * its base lr)."""
    def factor(step):
        return warmup_cosine_lr(step, total_steps, warmup_steps, 1.0, min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@PITFALLS.variant("make_warmup_cosine_scheduler", "lambda-returns-lr")
def make_scheduler_lambda_returns_first_group_lr(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    base = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine_lr(s, total_steps, warmup_steps, base, min_lr_ratio * base))


@PITFALLS.variant("make_warmup_cosine_scheduler", "lambda-returns-lr")
def make_scheduler_lambda_returns_default_lr(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    base = optimizer.defaults["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine_lr(s, total_steps, warmup_steps, base, min_lr_ratio * base))


@PITFALLS.variant("make_warmup_cosine_scheduler", "lambda-returns-lr")
def make_scheduler_lambda_per_group_lr(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    def lr_of(base):
        return lambda s: warmup_cosine_lr(s, total_steps, warmup_steps, base, min_lr_ratio * base)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, [lr_of(g["lr"]) for g in optimizer.param_groups])


# ---- torch.optim.lr_scheduler itself, for the checks (trusted process only) ----------------------

def torch_lrs(schedule, n_steps, **kw):
    """The lr torch's scheduler holds after 0, 1, ..., n_steps - 1 scheduler steps.

    schedule: "step" (base_lr, step_size, gamma), "exponential" (base_lr, gamma), "cosine"
    (base_lr, total_steps, min_lr: CosineAnnealingLR, equal to cosine_lr up to total_steps),
    "one_cycle" (max_lr, total_steps, pct_start, div_factor, final_div_factor), "sgdr" (base_lr,
    t0, t_mult, min_lr), "warmup_cosine" (base_lr, total_steps, warmup_steps, min_lr_ratio: the
    reference's LambdaLR).
    """
    base = kw.get("base_lr", kw.get("max_lr", 0.1))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    L = torch.optim.lr_scheduler
    if schedule == "step":
        sched = L.StepLR(opt, kw["step_size"], kw.get("gamma", 0.1))
    elif schedule == "exponential":
        sched = L.ExponentialLR(opt, kw["gamma"])
    elif schedule == "cosine":
        sched = L.CosineAnnealingLR(opt, kw["total_steps"], kw.get("min_lr", 0.0))
    elif schedule == "one_cycle":
        sched = L.OneCycleLR(opt, kw["max_lr"], total_steps=kw["total_steps"],
                             pct_start=kw.get("pct_start", 0.3), div_factor=kw.get("div_factor", 25.0),
                             final_div_factor=kw.get("final_div_factor", 1e4), cycle_momentum=False)
    elif schedule == "sgdr":
        sched = L.CosineAnnealingWarmRestarts(opt, kw["t0"], kw.get("t_mult", 1), kw.get("min_lr", 0.0))
    elif schedule == "warmup_cosine":
        sched = make_warmup_cosine_scheduler(opt, kw["total_steps"], kw["warmup_steps"],
                                             kw.get("min_lr_ratio", 0.0))
    else:
        raise ValueError(schedule)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n_steps):
            lrs.append(float(opt.param_groups[0]["lr"]))
            if i < n_steps - 1:   # OneCycleLR refuses to step past total_steps
                opt.step()
                sched.step()
    return lrs
