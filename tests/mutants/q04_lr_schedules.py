"""q04 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import math`, `import numpy as np`, `import torch`, `from torch import nn`
and `import matplotlib.pyplot as plt`; the sources import what they use anyway.
"""

MUTANTS = [
    ("off-by-one-decay", "step_decay_lr", '''
def step_decay_lr(step, base_lr, step_size, gamma=0.1):
    lr = base_lr
    for s in range(step + 1):          # counts step 0 as a decay point
        if s % step_size == 0:
            lr *= gamma
    return lr
'''),
    ("cosine-period-wrong", "cosine_lr", '''
import numpy as np

def cosine_lr(step, total_steps, base_lr, min_lr=0.0):
    if step >= total_steps:
        return min_lr
    t = step / total_steps
    return float(min_lr + 0.5 * (base_lr - min_lr) * (1 + np.cos(2 * np.pi * t)))
'''),
    ("ignores-min-lr", "cosine_lr", '''
import math

def cosine_lr(step, total_steps, base_lr, min_lr=0.0):
    step = min(step, total_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
'''),
    ("warmup-off-by-one", "warmup_cosine_lr", '''
import math

def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
'''),
    ("decay-ignores-warmup", "warmup_cosine_lr", '''
def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return cosine_lr(step, total_steps, base_lr, min_lr)
'''),
    ("lambda-returns-lr", "make_warmup_cosine_scheduler", '''
import functools
import torch

def make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    lambdas = []
    for group in optimizer.param_groups:
        lr = group["lr"]
        lambdas.append(functools.partial(warmup_cosine_lr, total_steps=total_steps,
                                         warmup_steps=warmup_steps, base_lr=lr,
                                         min_lr=lr * min_lr_ratio))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambdas)
'''),
    ("not-clamped-after-end", "cosine_lr", '''
import math

def cosine_lr(step, total_steps, base_lr, min_lr=0.0):
    return min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * step / total_steps))
'''),
    ("off-by-one-decay", "step_decay_lr", '''
def step_decay_lr(step, base_lr, step_size, gamma=0.1):
    return base_lr * gamma ** ((step + 1) // step_size)
'''),
    ("warmup-off-by-one", "warmup_cosine_lr", '''
import math

def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * (step + 1) / (warmup_steps + 1)
    if step >= total_steps:
        return min_lr
    p = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * p)) / 2
'''),
    # the cosine after the warmup measured over total_steps
    ("decay-ignores-warmup", "warmup_cosine_lr", '''
import math

def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / total_steps
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2
'''),
    ("ignores-min-lr", "sgdr_lr", '''
import math

def sgdr_lr(step, base_lr, t0, t_mult=1, min_lr=0.0):
    t, period = step, t0
    while t >= period:
        t -= period
        period *= t_mult
    return base_lr * (1 + math.cos(math.pi * t / period)) / 2
'''),
]

ALTERNATIVES = [
    ("constant_lr", '''
def constant_lr(step, base_lr):
    return base_lr
'''),
    ("constant_lr", '''
def constant_lr(step, base_lr):
    return float(base_lr) * 1.0
'''),
    ("step_decay_lr", '''
import math

def step_decay_lr(step, base_lr, step_size, gamma=0.1):
    return base_lr * math.pow(gamma, step // step_size)
'''),
    # StepLR's own recursive form
    ("step_decay_lr", '''
def step_decay_lr(step, base_lr, step_size, gamma=0.1):
    lr = base_lr
    for s in range(1, step + 1):
        if s % step_size == 0:
            lr = lr * gamma
    return lr
'''),
    ("exponential_lr", '''
import math

def exponential_lr(step, base_lr, gamma):
    return base_lr * math.exp(step * math.log(gamma))
'''),
    ("exponential_lr", '''
import numpy as np

def exponential_lr(step, base_lr, gamma):
    return float(base_lr * np.power(gamma, step))
'''),
    ("cosine_lr", '''
import numpy as np

def cosine_lr(step, total_steps, base_lr, min_lr=0.0):
    progress = min(step / total_steps, 1.0)
    return float(min_lr + 0.5 * (base_lr - min_lr) * (1 + np.cos(np.pi * progress)))
'''),
    ("cosine_lr", '''
import math

def cosine_lr(step, total_steps, base_lr, min_lr=0.0):
    if step >= total_steps:
        return min_lr
    decay = 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    return min_lr + (base_lr - min_lr) * decay
'''),
    # seed 004's get_lr with a floor, built on the notebook's own cosine_lr
    ("warmup_cosine_lr", '''
def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return cosine_lr(step - warmup_steps, total_steps - warmup_steps, base_lr, min_lr)
'''),
    # nanoGPT's get_lr, with the warmup counted from step 0 as the catalogue asks
    ("warmup_cosine_lr", '''
import math

def warmup_cosine_lr(step, total_steps, warmup_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    if step > total_steps:
        return min_lr
    decay_ratio = (step - warmup_steps) / (total_steps - warmup_steps)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (base_lr - min_lr)
'''),
    ("one_cycle_lr", '''
import math

def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    start = max_lr / div_factor
    end = start / final_div_factor
    peak = pct_start * total_steps - 1
    if step <= peak:
        pct, hi, lo = step / peak, max_lr, start
    else:
        pct, hi, lo = (step - peak) / (total_steps - 1 - peak), end, max_lr
    # cosine from lo (pct = 0) to hi (pct = 1)
    return hi + (lo - hi) / 2 * (1 + math.cos(math.pi * pct))
'''),
    ("one_cycle_lr", '''
import numpy as np

def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    phases = [(pct_start * total_steps - 1, initial_lr, max_lr), (total_steps - 1, max_lr, min_lr)]
    start_step = 0.0
    for i, (end_step, lr_from, lr_to) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step)
            return float(lr_to + (lr_from - lr_to) / 2 * (np.cos(np.pi * pct) + 1))
        start_step = end_step
'''),
    # torch's own scheduler replayed from step 0 at every call: correct, and quadratic in the run
    # (about 15 s of one call for 1,000 steps), which the check's time limit must allow
    ("one_cycle_lr", '''
import torch

def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total_steps,
                                                pct_start=pct_start, div_factor=div_factor,
                                                final_div_factor=final_div_factor)
    for _ in range(step):
        opt.step()
        sched.step()
    return opt.param_groups[0]["lr"]
'''),
    ("sgdr_lr", '''
import math

def sgdr_lr(step, base_lr, t0, t_mult=1, min_lr=0.0):
    if t_mult == 1:
        t_cur, t_i = step % t0, t0
    else:
        t_cur, t_i = step, t0
        while t_cur >= t_i:
            t_cur -= t_i
            t_i *= t_mult
    return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
'''),
    # step the way the scheduler does: one step at a time
    ("sgdr_lr", '''
import math

def sgdr_lr(step, base_lr, t0, t_mult=1, min_lr=0.0):
    t_cur, t_i = 0, t0
    for _ in range(step):
        t_cur += 1
        if t_cur >= t_i:
            t_cur = t_cur % t_i
            t_i = t_i * t_mult
    return cosine_lr(t_cur, t_i, base_lr, min_lr)
'''),
    ("linear_scaled_lr", '''
def linear_scaled_lr(base_lr, base_batch_size, batch_size):
    return base_lr * (batch_size / base_batch_size)
'''),
    ("linear_scaled_lr", '''
def linear_scaled_lr(base_lr, base_batch_size, batch_size):
    scale = batch_size / base_batch_size
    return scale * base_lr
'''),
    ("make_warmup_cosine_scheduler", '''
import functools
import torch

def make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    factor = functools.partial(warmup_cosine_lr, total_steps=total_steps, warmup_steps=warmup_steps,
                               base_lr=1.0, min_lr=min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)
'''),
    ("make_warmup_cosine_scheduler", '''
import math
from torch.optim.lr_scheduler import LambdaLR

def make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    def lr_lambda(step):
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        if step >= total_steps:
            return min_lr_ratio
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return LambdaLR(optimizer, lr_lambda)
'''),
    ("make_warmup_cosine_scheduler", '''
import torch

def make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    def factor(step):
        return warmup_cosine_lr(step, total_steps, warmup_steps, 1.0, min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor] * len(optimizer.param_groups))
'''),

    # ExponentialLR's own recursion
    ("exponential_lr", '''
def exponential_lr(step, base_lr, gamma):
    lr = base_lr
    for _ in range(step):
        lr *= gamma
    return lr
'''),
    # the factor written out, without warmup_cosine_lr
    ("make_warmup_cosine_scheduler", '''
import math
import torch

def make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, min_lr_ratio=0.0):
    def f(step):
        if step < warmup_steps:
            return step / warmup_steps
        if step >= total_steps:
            return min_lr_ratio
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=f)
'''),
]
