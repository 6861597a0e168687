"""Harnesses for q10_activations.

`elementwise` calls one activation or derivative on the check's tensor and reports, besides the
value, what a plain call cannot: the warnings raised on the way (an exp() that overflowed in NumPy
still gives the right limit, with a RuntimeWarning), the activations called as tensor methods
(x.sigmoid(): a tripwire on torch.sigmoid does not see them) and whether the input changed.

dead_relu_fraction takes a model, which cannot cross the process boundary, so it is built here: a
seeded MLP whose ReLU layers have units made dead on purpose (zero weights and a negative bias; one
with zero weights and zero bias, whose pre-activation is exactly 0), a unit that is always active,
and units that are zero for only some examples. The harness calls the student's function and
reports what it returned and what it left behind; it never computes the fraction itself.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from whiteboard.worker.harness import get_function


_ABSENT = object()


def elementwise(namespace: dict, function: str, x, methods=()) -> dict:
    """Call namespace[function](x) with the tensor methods `methods` watched and warnings recorded.

    Returns value, error (the exception the call raised, described, or None: it is caught here so
    that the forbidden APIs used before it still reach the check), input_modified, warnings (the
    RuntimeWarnings: overflow, invalid value, division by zero) and methods_used (e.g.
    ["Tensor.sigmoid"]).
    """
    fn = get_function(namespace, function)
    x = torch.as_tensor(x)
    passed = x.clone()
    used: list = []
    saved = []
    for name in methods:
        original = getattr(torch.Tensor, name, None)
        if original is None:
            continue
        saved.append((name, torch.Tensor.__dict__.get(name, _ABSENT)))

        def wire(self, *a, _orig=original, _name=name, **k):
            used.append(f"Tensor.{_name}")
            return _orig(self, *a, **k)
        setattr(torch.Tensor, name, wire)
    error = None
    try:
        numpy_warns = np.errstate(over="warn", divide="warn", invalid="warn", under="ignore")
        with warnings.catch_warnings(record=True) as caught, numpy_warns:
            warnings.simplefilter("always")
            value = fn(passed)
    except (NotImplementedError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported: a forbidden API used on the way is named first
        error, value, caught = _describe(exc), None, []
    finally:
        for name, before in saved:
            if before is _ABSENT:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, before)
    if isinstance(value, torch.Tensor):
        value = value.detach().clone()
    # An underflow to 0 (exp(-1e4)) is harmless: it is what the stable forms do on purpose.
    numeric = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
               and "underflow" not in str(w.message)]
    return {"value": value, "error": error, "input_modified": not torch.equal(passed, x),
            "warnings": sorted(set(numeric))[:5], "methods_used": sorted(set(used))}


def _describe(exc: BaseException) -> str:
    """The exception, and where in the student's cells it happened (as the worker reports it)."""
    try:
        from whiteboard.worker.process import _describe as describe

        return describe(exc)
    except Exception:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"[:500]


def _kill(layer: nn.Linear, unit: int, bias: float) -> None:
    with torch.no_grad():
        layer.weight[unit].zero_()
        layer.bias[unit] = bias


class Nested(nn.Module):
    """ReLUs inside sub-blocks, a LayerNorm between them (not an activation: nn.Tanh would call the
    forbidden torch.tanh), layers of different widths."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(4, 10), nn.ReLU())
        self.block = nn.Sequential(nn.Linear(10, 6), nn.LayerNorm(6), nn.Linear(6, 5), nn.ReLU(inplace=True))
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


def _dead_model(name: str) -> nn.Module:
    if name == "mlp":
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))
        first, second = model[0], model[2]
    elif name == "nested":
        model = Nested()
        first, second = model.stem[0], model.block[2]
    else:
        raise KeyError(name)
    _kill(first, 2, -1.0)      # dead: relu(-1) for every input
    _kill(first, 5, 0.5)       # always active
    _kill(second, 0, -1.0)     # dead in the second ReLU layer
    _kill(second, 3, 0.0)      # pre-activation exactly 0: zero for every example, so dead too
    return model


DEAD_MODELS = ("mlp", "nested")


def dead_relu_trace(namespace: dict, model: str = "mlp", seed: int = 0, batch: int = 16,
                    mode: str = "eval") -> dict:
    """Call dead_relu_fraction(model, x) on a model with dead units made on purpose.

    Returns the value as returned and as a float (None if it is not a number), whether the call
    changed a weight, how many forward hooks it left registered, and the model's mode after the
    call (it starts in `mode`).
    """
    fn = get_function(namespace, "dead_relu_fraction")
    torch.manual_seed(int(seed))
    net = _dead_model(model).double().train(mode == "train")
    x = torch.randn(int(batch), 4, generator=torch.Generator().manual_seed(int(seed) + 1),
                    dtype=torch.float64)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    hooks_before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())
    value = fn(net, x)
    hooks_after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules())
    number = None
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        pass
    if isinstance(value, torch.Tensor):
        value = value.detach().clone()
    return {"value": value, "fraction": number, "type": type(value).__name__,
            "weights_changed": any(not torch.equal(before[n], p.detach())
                                   for n, p in net.named_parameters()),
            "hooks_left": hooks_after - hooks_before, "training_after": bool(net.training)}
