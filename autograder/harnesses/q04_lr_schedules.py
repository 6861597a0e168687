"""Harnesses for q04_lr_schedules.

- `schedule_values`: one schedule function evaluated at many steps in one call (a long run is a
  thousand steps; a round trip per step would cost more than the check).
- `warmup_cosine_scheduler_trace`: make_warmup_cosine_scheduler needs an optimizer. The harness
  builds SGD over two parameter tensors in two param groups with different base lrs, calls the
  student's factory, then steps optimizer and scheduler n_steps times and records every group's lr.
Nothing here knows the right answer.
"""
from __future__ import annotations

import warnings

import torch

from whiteboard.worker.harness import as_float, get_function


def schedule_values(namespace: dict, function: str, steps, args=(), kwargs=None) -> dict:
    """function(step, *args, **kwargs) for every step in steps.

    Returns {"values": a float per step (None where the result is not a number),
    "types": the distinct type names returned}.
    """
    fn = get_function(namespace, function)
    kwargs = dict(kwargs or {})
    values, types = [], set()
    for step in steps:
        out = fn(int(step), *args, **kwargs)
        types.add(type(out).__name__)
        values.append(as_float(out))
    return {"values": values, "types": sorted(types)}


def warmup_cosine_scheduler_trace(namespace: dict, base_lrs=(0.1, 0.01), total_steps=100,
                                  warmup_steps=10, min_lr_ratio=None, n_steps=None) -> dict:
    """The student's make_warmup_cosine_scheduler(optimizer, total_steps, warmup_steps
    [, min_lr_ratio]) on SGD with one param group per base lr.

    Returns {"type": the returned object's class name, "is_lambda_lr": isinstance LambdaLR,
    "lrs": [[lr of each group] at step 0, then after each of n_steps optimizer+scheduler steps]
    (n_steps defaults to total_steps + 5, past the end)}.
    """
    fn = get_function(namespace, "make_warmup_cosine_scheduler")
    n_steps = total_steps + 5 if n_steps is None else n_steps
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3)) for _ in base_lrs]
    groups = [{"params": [p], "lr": float(lr)} for p, lr in zip(params, base_lrs)]
    optimizer = torch.optim.SGD(groups, lr=float(base_lrs[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if min_lr_ratio is None:
            scheduler = fn(optimizer, total_steps, warmup_steps)
        else:
            scheduler = fn(optimizer, total_steps, warmup_steps, min_lr_ratio=min_lr_ratio)
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError("make_warmup_cosine_scheduler must return an lr scheduler (a LambdaLR); "
                            f"it returned {type(scheduler).__name__}")
        lrs = [[float(g["lr"]) for g in optimizer.param_groups]]
        for _ in range(n_steps):
            optimizer.step()   # no gradients: the weights stay put, only the order matters
            scheduler.step()
            lrs.append([float(g["lr"]) for g in optimizer.param_groups])
    return {"type": type(scheduler).__name__,
            "is_lambda_lr": isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR), "lrs": lrs}
