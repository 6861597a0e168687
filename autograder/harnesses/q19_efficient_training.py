"""Harnesses for q19_efficient_training: accumulation, LoRA and loss scaling on built objects.

They run in the worker next to the student's notebook (and in the parent on the references, or on
a pitfall variant put in the namespace under the student's name, for the expected trace). Each
builds seeded, instrumented objects, calls the student's function or class and returns plain data.
Nothing here knows the right answer.

    accumulation_trace   train_with_accumulation on a small MLP (no dropout, no batch norm) with
                         an instrumented SGD; returns the losses it returned and the final weights
    lora_trace           LoRALinear built around a seeded nn.Linear: what it kept and froze, its
                         shapes and initial update, its forward with given lora_A / lora_B, and
                         the layer merged() returns
    loss_scaler_trace    DynamicLossScaler over a scripted run of steps, some with a planted inf
                         or NaN gradient: the scale, the return value of step(), whether the
                         optimizer stepped and with which gradients, after every step
"""
from __future__ import annotations

import torch
from torch import nn

from whiteboard.worker.harness import as_float, get_function, plain_tensor


def _seeded_(module: nn.Module, generator: torch.Generator, scale: float = 0.5) -> nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return module


# ---- train_with_accumulation ----------------------------------------------------------------------

class TracedMLP(nn.Module):
    """Linear-Tanh-Linear that records its forward calls (mode) and model.zero_grad()."""

    def __init__(self, events: list, seed: int, d_in: int = 4, hidden: int = 6, d_out: int = 2):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, d_out))
        _seeded_(self, torch.Generator().manual_seed(int(seed)))
        self._events = events

    def forward(self, x):
        self._events.append(["forward", bool(self.training)])
        return self.body(x)

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad"])
        super().zero_grad(set_to_none)


class TracedSGD(torch.optim.SGD):
    """SGD that records zero_grad() and step(), with the global gradient norm each step saw."""

    def __init__(self, params, events: list, lr: float, momentum: float = 0.0):
        super().__init__(params, lr=lr, momentum=momentum)
        self._events = events

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad"])
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        grads = [p.grad.detach().double() for g in self.param_groups for p in g["params"]
                 if p.grad is not None]
        norm = float(sum((g ** 2).sum() for g in grads) ** 0.5) if grads else 0.0
        self._events.append(["step", norm])
        return super().step(closure)


def _watch_backward(model: nn.Module, events: list) -> None:
    """Record ["backward"] once per backward pass through the model's parameters."""
    params = list(model.parameters())
    pending = {"left": 0}

    def hook(grad):
        if pending["left"] == 0:
            pending["left"] = len(params)
            events.append(["backward"])
        pending["left"] -= 1

    for p in params:
        p.register_hook(hook)


def accumulation_batches(seed: int, n_micro: int, micro_size: int, d_in: int = 4, d_out: int = 2):
    """The micro-batches: a list of (x, y) regression pairs of equal size."""
    g = torch.Generator().manual_seed(int(seed) + 1000)
    return [(torch.randn(micro_size, d_in, generator=g), torch.randn(micro_size, d_out, generator=g))
            for _ in range(int(n_micro))]


def accumulation_trace(namespace: dict, seed: int = 0, n_micro: int = 5, micro_size: int = 3,
                       accum_steps: int = 2, lr: float = 0.1, momentum: float = 0.0) -> dict:
    """The student's train_with_accumulation on a traced MLP, MSE loss and traced SGD.

    Returns {"losses": [float or None per element] or None, "returned_type", "element_types",
    "weights": [tensors], "events": [...]}; the model starts in train mode with no gradients.
    """
    fn = get_function(namespace, "train_with_accumulation")
    events: list = []
    model = TracedMLP(events, seed)
    model.train()
    optimizer = TracedSGD(model.parameters(), events, lr=lr, momentum=momentum)
    _watch_backward(model, events)
    batches = accumulation_batches(seed, n_micro, micro_size)
    value = fn(model, batches, nn.MSELoss(), optimizer, int(accum_steps))
    out = {"returned_type": type(value).__name__, "losses": None, "element_types": [],
           "events": events, "weights": [plain_tensor(p) for p in model.parameters()]}
    if isinstance(value, (list, tuple)):
        out["losses"] = [as_float(v) for v in value]
        out["element_types"] = [type(v).__name__ for v in value]
    return out


# ---- LoRALinear -------------------------------------------------------------------------------------

def lora_trace(namespace: dict, in_features: int, out_features: int, r: int, alpha: float,
               bias: bool = True, seed: int = 0, x=None, lora_A=None, lora_B=None) -> dict:
    """Build LoRALinear(base, r, alpha) around a seeded nn.Linear and report what it does.

    `x` (n, in_features), `lora_A` (r, in_features) and `lora_B` (out_features, r) default to
    seeded tensors. The forward after construction is run with autograd on and back-propagated,
    to see which parameters receive gradients.
    """
    cls = get_function(namespace, "LoRALinear")
    g = torch.Generator().manual_seed(int(seed))
    base = _seeded_(nn.Linear(int(in_features), int(out_features), bias=bool(bias)), g)
    x = torch.randn(5, in_features, generator=g) if x is None else torch.as_tensor(x).float()
    A = torch.randn(r, in_features, generator=g) if lora_A is None else torch.as_tensor(lora_A)
    B = torch.randn(out_features, r, generator=g) if lora_B is None else torch.as_tensor(lora_B)
    w0 = plain_tensor(base.weight)
    b0 = None if base.bias is None else plain_tensor(base.bias)
    torch.manual_seed(int(seed))            # the student's random init of lora_A
    module = cls(base, int(r), alpha)

    def base_unchanged():
        return bool(torch.equal(base.weight.detach(), w0)
                    and (b0 is None or torch.equal(base.bias.detach(), b0)))

    lora_a = getattr(module, "lora_A", None)
    lora_b = getattr(module, "lora_B", None)
    out = {
        "base_kept": getattr(module, "base", None) is base,
        "base_requires_grad": {n: bool(p.requires_grad) for n, p in base.named_parameters()},
        "trainable": sorted(n for n, p in module.named_parameters() if p.requires_grad),
        "lora_A_shape": list(lora_a.shape) if isinstance(lora_a, torch.Tensor) else None,
        "lora_B_shape": list(lora_b.shape) if isinstance(lora_b, torch.Tensor) else None,
        "lora_A_zero": bool((lora_a == 0).all()) if isinstance(lora_a, torch.Tensor) else None,
        "lora_B_zero": bool((lora_b == 0).all()) if isinstance(lora_b, torch.Tensor) else None,
        "base_out": None, "out_initial": None, "received_grad": [], "problems": [],
        "out": None, "merged": None,
    }
    with torch.no_grad():
        out["base_out"] = plain_tensor(base(x))
    y = module(x)
    out["out_initial"] = plain_tensor(y)
    if y.requires_grad:
        (y ** 2).sum().backward()
    out["received_grad"] = sorted(n for n, p in module.named_parameters()
                                  if p.grad is not None and bool(p.grad.abs().sum() > 0))
    module.zero_grad(set_to_none=True)
    if out["lora_A_shape"] != [r, in_features] or out["lora_B_shape"] != [out_features, r]:
        out["problems"].append(f"lora_A has shape {out['lora_A_shape']} and lora_B "
                               f"{out['lora_B_shape']}; expected {[r, in_features]} and "
                               f"{[out_features, r]}")
        return out
    with torch.no_grad():
        lora_a.copy_(A)
        lora_b.copy_(B)
        out["out"] = plain_tensor(module(x))
    try:
        merged = module.merged()
    except Exception as exc:  # noqa: BLE001 - a broken merged() must not hide the forward's trace
        out["merged"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return out
    info = {"is_linear": isinstance(merged, nn.Linear), "is_base": merged is base,
            "base_unchanged": base_unchanged(), "type": type(merged).__name__, "error": None,
            "weight": None, "bias": None, "has_bias": None, "out": None, "adapter_out_after": None}
    if isinstance(merged, nn.Module):
        weight, b = getattr(merged, "weight", None), getattr(merged, "bias", None)
        info["weight"] = plain_tensor(weight) if isinstance(weight, torch.Tensor) else None
        info["has_bias"] = isinstance(b, torch.Tensor)
        info["bias"] = plain_tensor(b) if isinstance(b, torch.Tensor) else None
        with torch.no_grad():
            info["out"] = plain_tensor(merged(x))
    with torch.no_grad():
        info["adapter_out_after"] = plain_tensor(module(x))
    out["merged"] = info
    return out


# ---- DynamicLossScaler ------------------------------------------------------------------------------

class StepRecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of the gradients it was asked to step with."""

    def __init__(self, params, lr: float):
        super().__init__(params, lr=lr)
        self.seen: list = []

    def step(self, closure=None):
        self.seen.append(torch.cat([p.grad.detach().reshape(-1).clone()
                                    for g in self.param_groups for p in g["params"]
                                    if p.grad is not None]))
        return super().step(closure)


def _returned_flag(value):
    """step()'s return value: True, False, None, or the name of its type if it is none of these."""
    if value is None or isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_" or (isinstance(value, torch.Tensor) and value.numel() == 1
                                           and value.dtype == torch.bool):
        return bool(value)
    return type(value).__name__


def loss_scaler_trace(namespace: dict, script: list, init_scale: float = 65536.0,
                      growth_factor: float = 2.0, backoff_factor: float = 0.5,
                      growth_interval: int = 3, seed: int = 0, lr: float = 0.05) -> dict:
    """Run DynamicLossScaler(init_scale, growth_factor, backoff_factor, growth_interval) over
    `script`, a list of "ok", "inf" or "nan": after each backward of the scaled loss an inf (or
    NaN) is planted in one gradient entry for "inf" ("nan") steps, then scaler.step(optimizer).

    Per step: {"kind", "scale_factor" (scaled loss / loss), "returned" (True, False, None or a
    type name), "stepped", "seen_grads" (what optimizer.step saw, or None), "weights_changed",
    "weights_finite", "scale" (get_scale() after the step)}; also the final weights.
    """
    cls = get_function(namespace, "DynamicLossScaler")
    g = torch.Generator().manual_seed(int(seed))
    model = _seeded_(nn.Linear(3, 2), g)
    optimizer = StepRecordingSGD(model.parameters(), lr=lr)
    scaler = cls(init_scale, growth_factor, backoff_factor, growth_interval)
    steps = []
    for i, kind in enumerate(script):
        x, y = torch.randn(4, 3, generator=g), torch.randn(4, 2, generator=g)
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        scaled = scaler.scale(loss)
        factor = as_float(scaled)
        factor = None if factor is None else factor / float(loss.detach())
        scaled.backward()
        with torch.no_grad():
            if kind == "inf":
                model.weight.grad[i % 2, i % 3] = float("inf")
            elif kind == "nan":
                model.bias.grad[i % 2] = float("nan")
        before = [plain_tensor(p) for p in model.parameters()]
        n_seen = len(optimizer.seen)
        returned = scaler.step(optimizer)
        stepped = len(optimizer.seen) > n_seen
        after = [plain_tensor(p) for p in model.parameters()]
        steps.append({
            "kind": kind, "scale_factor": factor,
            "returned": _returned_flag(returned),
            "stepped": stepped, "seen_grads": optimizer.seen[-1] if stepped else None,
            "weights_changed": any(not torch.equal(a, b) for a, b in zip(before, after)),
            "weights_finite": all(bool(torch.isfinite(a).all()) for a in after),
            "scale": as_float(scaler.get_scale()),
        })
    return {"steps": steps, "weights": [plain_tensor(p) for p in model.parameters()]}
