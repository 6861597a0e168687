"""Harnesses for q12_cnn_architecture: the functions that build or take a model.

They run in the worker next to the student's notebook (and in the parent on the references, or on a
pitfall variant put in the namespace under the student's name, for the expected trace). Each builds
seeded objects, calls one function and returns plain data. Nothing here knows the right answer.

    build_cnn_trace         build the student's CNN; output shapes for a 224x224 input, whether its
                            rows are (log-)probabilities, the trainable parameter count, and a short
                            overfitting run (train-mode cross-entropy after 10 Adam steps on the 4
                            images of class_images)
    layer_shapes_trace      layer_shapes on one of the named models below, and whether the call left
                            the model's mode, weights, buffers and hooks as they were
    count_parameters_trace  count_parameters on one of the named models below

Models (by name; build_model(name, seed, width): `width`, the size of the first layer, varies the
parameter count between the public and the hidden run of a check):
    "plain_cnn"      nn.Sequential CNN with batch norm, in train mode
    "eval_cnn"       the same model in eval mode
    "mixed_mode"     the same model in train mode, with its batch norm switched to eval (frozen BN)
    "shared_unused"  a custom module whose forward calls one ReLU three times and one conv twice,
                     uses a functional max-pool, and never calls one registered layer; its head is
                     registered first and called last
    "frozen_mlp"     an MLP whose first layer is frozen (requires_grad=False); no buffers
    "frozen_bn"      plain_cnn with its first conv and batch norm frozen (frozen weights and buffers)
    "tied"           an embedding and an output layer that share one weight matrix
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from whiteboard.worker.harness import get_function


# ---- models ---------------------------------------------------------------------------------------

def _plain_cnn(in_channels: int = 3, classes: int = 10, width: int = 8) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(), nn.Dropout(0.25),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(2 * width * 2 * 2, classes))


class SharedUnused(nn.Module):
    """Call order differs from registration order; some modules run twice, one never."""

    def __init__(self, in_channels: int = 3, classes: int = 5, width: int = 16):
        super().__init__()
        self.head = nn.Linear(width * 2 * 2, classes)     # registered first, called last
        self.unused = nn.Conv2d(in_channels, 4, 1)         # never called
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width))
        self.act = nn.ReLU()                               # called three times
        self.mix = nn.Conv2d(width, width, 3, padding=1)   # called twice
        self.pool = nn.AdaptiveAvgPool2d(2)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = F.max_pool2d(x, 2)                             # functional: no module, no entry
        x = self.act(self.mix(x))
        x = self.act(self.mix(x))
        return self.head(torch.flatten(self.pool(x), 1))


class Tied(nn.Module):
    """A tiny language model whose output layer reuses the embedding matrix."""

    def __init__(self, vocab: int = 20, dim: int = 6):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, tokens):
        return self.out(torch.tanh(self.hidden(self.embed(tokens))))


def build_model(name: str, seed: int = 0, width: int | None = None) -> nn.Module:
    """A named model; `width` (the number of channels or units of its first layer) varies its
    parameter count, so that the hidden run of a check asks about another model than the public."""
    torch.manual_seed(int(seed))
    w = None if width is None else int(width)
    if name == "plain_cnn":
        return _plain_cnn(width=w or 8).train()
    if name == "eval_cnn":
        return _plain_cnn(width=w or 8).eval()
    if name == "mixed_mode":
        model = _plain_cnn(width=w or 8).train()
        model[1].eval()
        return model
    if name == "shared_unused":
        return SharedUnused(width=w or 16).train()
    if name == "frozen_mlp":
        model = nn.Sequential(nn.Linear(7, w or 5), nn.ReLU(), nn.Linear(w or 5, 3))
        model[0].requires_grad_(False)
        return model
    if name == "frozen_bn":
        model = _plain_cnn(width=w or 8)
        model[0].requires_grad_(False)
        model[1].requires_grad_(False)
        return model
    if name == "tied":
        return Tied(dim=w or 6)
    raise ValueError(f"unknown model {name!r}")


def _state(model: nn.Module) -> dict:
    return {"params": [p.detach().clone() for p in model.parameters()],
            "buffers": [b.detach().clone() for b in model.buffers()],
            "modes": [m.training for m in model.modules()],
            "requires_grad": [p.requires_grad for p in model.parameters()]}


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _changed(a: list, b: list) -> bool:
    return len(a) != len(b) or any(x.shape != y.shape or not torch.equal(x, y) for x, y in zip(a, b))


def _modes(modes: list) -> str:
    return "train" if all(modes) else "eval" if not any(modes) else \
        f"{sum(modes)} of {len(modes)} modules in train mode"


def _state_report(model: nn.Module, before: dict, hooks_before: int) -> dict:
    after = _state(model)
    return {"mode_changed": before["modes"] != after["modes"],
            "modes_before": _modes(before["modes"]), "modes_after": _modes(after["modes"]),
            "params_changed": _changed(before["params"], after["params"]),
            "buffers_changed": _changed(before["buffers"], after["buffers"]),
            "requires_grad_changed": before["requires_grad"] != after["requires_grad"],
            "hooks_left": _hook_count(model) - hooks_before,
            "grads_left": any(p.grad is not None for p in model.parameters())}


def _plain_number(value):
    """A returned count as plain data: numbers and tensors as they are, anything else by type."""
    if isinstance(value, (bool, int, float, torch.Tensor)):
        return value
    try:
        import numpy as np

        if isinstance(value, (np.generic, np.ndarray)):
            return value
    except ImportError:
        pass
    return None


# ---- build_cnn ------------------------------------------------------------------------------------

class _WhereItFailed:
    """Forward pre/post hooks on every leaf: on an exception, the innermost leaf that was entered
    and not left is where the forward pass failed."""

    def __init__(self, model: nn.Module):
        self.stack: list = []
        self.handles = []
        for name, module in model.named_modules():
            if next(module.children(), None) is None:
                self.handles.append(module.register_forward_pre_hook(self._enter(name)))
                self.handles.append(module.register_forward_hook(self._leave()))

    def _enter(self, name):
        def hook(module, args):
            self.stack.append((name, type(module).__name__))
        return hook

    def _leave(self):
        def hook(module, args, output):
            if self.stack:
                self.stack.pop()
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def _forward(model: nn.Module, x: torch.Tensor) -> dict:
    """Run model(x); the output or the exception, with the leaf module it came from."""
    spy = _WhereItFailed(model)
    try:
        out = model(x)
    except NotImplementedError:
        raise
    except Exception as exc:  # a shape mismatch is part of the trace, not a crash of the harness
        where = spy.stack[-1] if spy.stack else (None, None)
        return {"out": None, "error": f"{type(exc).__name__}: {str(exc)[:500]}",
                "error_module": where[1], "error_module_name": where[0]}
    finally:
        spy.remove()
    return {"out": out, "error": None}


def _rows(out: torch.Tensor) -> dict:
    """Whether each output row looks like probabilities or log-probabilities."""
    o = out.detach().double()
    if o.ndim != 2 or o.shape[1] < 2 or not torch.isfinite(o).all():
        return {"probabilities": False, "log_probabilities": False}
    probs = bool((o >= -1e-6).all() and torch.allclose(o.sum(1), torch.ones(o.shape[0], dtype=o.dtype),
                                                        atol=1e-4))
    logs = bool((o <= 1e-6).all() and torch.allclose(torch.logsumexp(o, 1),
                                                      torch.zeros(o.shape[0], dtype=o.dtype), atol=1e-4))
    return {"probabilities": probs, "log_probabilities": logs}


def _trainable(model: nn.Module):
    try:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    except (ValueError, RuntimeError):  # lazy modules not yet materialised
        return None


def _exercise(fn, num_classes: int, in_channels: int, size: int, batch_sizes, seed: int):
    """Build the student's CNN (seeded) and run it on random batches, in eval mode without
    gradients; the model, and the trace of what it did."""
    torch.manual_seed(int(seed))
    # Positional, as the catalogue orders them, so that a renamed keyword still works.
    model = fn(int(num_classes), int(in_channels))
    out: dict = {"num_classes": int(num_classes), "in_channels": int(in_channels), "size": int(size),
                 "is_module": isinstance(model, nn.Module), "type": type(model).__name__}
    if not out["is_module"]:
        return model, out
    g = torch.Generator().manual_seed(int(seed) + 1)
    model.eval()
    forwards, first = [], None
    for batch in batch_sizes:
        x = torch.randn(int(batch), int(in_channels), int(size), int(size), generator=g)
        with torch.no_grad():
            res = _forward(model, x)
        y = res["out"]
        entry = {"batch": int(batch), "error": res["error"],
                 "error_module": res.get("error_module"), "error_module_name": res.get("error_module_name"),
                 "shape": list(y.shape) if isinstance(y, torch.Tensor) else None,
                 "output_type": type(y).__name__}
        forwards.append(entry)
        if res["error"]:
            break
        if first is None and isinstance(y, torch.Tensor):
            first = y.detach().float()
    out["forwards"] = forwards
    out.update(_rows(first) if first is not None else {"probabilities": False, "log_probabilities": False})
    out["output"] = first
    out["trainable_parameters"] = _trainable(model)
    return model, out


def build_cnn_trace(namespace: dict, num_classes: int = 10, in_channels: int = 3, seed: int = 0,
                    size: int = 224, batch_sizes=(2, 1), learn: bool = True, steps: int = 10,
                    lr: float = 1e-3, n_images: int = 4, budget: float = 60.0,
                    max_trainable: int = 50_000_000, others=()) -> dict:
    """Build the student's CNN (seeded) and exercise it.

    Returns
        num_classes, in_channels, size, steps, lr, n_images   the configuration
        is_module, type          what build_cnn returned
        forwards                 [{"batch", "shape" (list or None), "output_type", "error",
                                 "error_module", "error_module_name"}] in eval mode under no_grad,
                                 one per batch size (stopping at the first that fails)
        probabilities,           the first successful output's rows sum to 1 and are >= 0 / their
        log_probabilities        logsumexp is 0 and they are <= 0
        output                   that output (a small tensor), or None
        trainable_parameters     after the forward passes (so lazy layers are counted)
        learning                 None when not asked, else {"losses": [loss at each step],
                                 "final_loss": train-mode cross-entropy after the steps (or None),
                                 "error": text or None, "seconds": training time, "budget",
                                 "too_slow": the steps did not finish within `budget` seconds,
                                 "skipped": reason or None}
        others                   for each (num_classes, in_channels) of `others`: the same record of
                                 another model, built and run on a batch of 2 without training
    """
    fn = get_function(namespace, "build_cnn")
    model, out = _exercise(fn, num_classes, in_channels, size, batch_sizes, seed)
    out.update(steps=int(steps), lr=float(lr), n_images=int(n_images))
    if not out["is_module"]:
        return out
    out["learning"] = _learn(model, int(num_classes), int(in_channels), int(size), int(seed), int(steps),
                             float(lr), int(n_images), out["trainable_parameters"], int(max_trainable),
                             out["forwards"], float(budget)) if learn else None
    out["others"] = [_exercise(fn, int(c), int(ch), size, (2,), int(seed) + 7 + i)[1]
                     for i, (c, ch) in enumerate(others)]
    return out


def class_images(n: int, channels: int, size: int, num_classes: int, seed: int):
    """n images of n different classes (n <= num_classes): image k is noise plus a brightness that
    grows with k, a bright quadrant (k mod 4) and a colour (channel k mod channels), so that a
    conv net, with or without global pooling, can tell them apart; labels 0..n-1."""
    g = torch.Generator().manual_seed(seed)
    x = 0.5 * torch.randn(n, channels, size, size, generator=g)
    half = size // 2
    for k in range(n):
        x[k] += -1.5 + 3.0 * k / max(n - 1, 1)
        r, c = divmod(k % 4, 2)
        x[k, :, r * half:(r + 1) * half, c * half:(c + 1) * half] += 2.0
        x[k, k % channels] += 3.0
    return x, torch.arange(n) % num_classes


def _learn(model, num_classes, in_channels, size, seed, steps, lr, n_images, trainable, max_trainable,
           forwards, budget) -> dict:
    result = {"losses": [], "final_loss": None, "error": None, "seconds": None, "skipped": None,
              "too_slow": False, "budget": budget}
    if any(f["error"] for f in forwards) or not forwards:
        result["skipped"] = "the forward pass failed"
        return result
    if trainable is not None and trainable > max_trainable:
        # Adam on a model this large would only run out of memory or time.
        result["skipped"] = f"{trainable:,} trainable parameters are too many to train here"
        return result
    x, y = class_images(n_images, in_channels, size, num_classes, seed + 2)
    start = time.perf_counter()
    try:
        model.train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            result["losses"].append(float(loss.detach()))
            if time.perf_counter() - start > budget and len(result["losses"]) < steps:
                result["too_slow"] = True
                break
        if not result["too_slow"]:
            with torch.no_grad():
                result["final_loss"] = float(F.cross_entropy(model(x), y))
    except NotImplementedError:
        raise
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
    result["seconds"] = time.perf_counter() - start
    return result


# ---- layer_shapes ---------------------------------------------------------------------------------

def _as_entries(value):
    """The returned list as [(name, (dims...)), ...], or None when it is not a list of pairs."""
    if not isinstance(value, (list, tuple)):
        return None
    entries = []
    for item in value:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            return None
        name, shape = item
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            return None
        entries.append((str(name) if isinstance(name, str) else repr(name), dims))
    return entries


def layer_shapes_trace(namespace: dict, model: str = "plain_cnn", input_shape=(2, 3, 32, 32),
                       seed: int = 0, width: int | None = None) -> dict:
    """The student's layer_shapes on a named model, and what the call changed in the model.

    Returns {"value": [(name, shape tuple), ...] or None, "returned_type", and the state report:
    mode_changed, params_changed, buffers_changed, requires_grad_changed, hooks_left (hooks added and
    not removed), grads_left (a .grad was set)}.
    """
    fn = get_function(namespace, "layer_shapes")
    net = build_model(model, seed, width)
    before, hooks = _state(net), _hook_count(net)
    value = fn(net, tuple(int(d) for d in input_shape))
    return {"value": _as_entries(value), "returned_type": type(value).__name__,
            **_state_report(net, before, hooks)}


# ---- count_parameters -----------------------------------------------------------------------------

def count_parameters_trace(namespace: dict, model: str = "frozen_bn", seed: int = 0,
                           width: int | None = None) -> dict:
    """The student's count_parameters on a named model: {"value", "returned_type", state report}."""
    fn = get_function(namespace, "count_parameters")
    net = build_model(model, seed, width)
    before, hooks = _state(net), _hook_count(net)
    value = fn(net)
    return {"value": _plain_number(value), "returned_type": type(value).__name__,
            **_state_report(net, before, hooks)}
