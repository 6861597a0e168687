"""Harness for q13_rnn_vanishing: train_truncated_bptt on an instrumented recurrent model.

It runs in the worker next to the student's notebook (and in the parent on the reference, or on a
pitfall variant put in the namespace under the student's name, for the expected trace). It builds a
seeded model, chunks, optimizer and loss that write what happens into an event list, calls the
function and returns plain data. Nothing here knows the right answer.

The model's forward is model(x, h) -> (logits, h_next), x (B, T, D) batch first, logits (B, T, C).
Its state is a tensor (1, B, H) for state="tensor" (a GRU) or a tuple (h, c) for state="tuple"
(an LSTM).

Events (lists, so that they travel as plain data):
    ["forward", chunk, incoming]   the model ran on chunk `chunk` (-1: an input that is no chunk);
                                   incoming = {"kind": "none" | "tensor" | "tuple",
                                               "attached": [each state tensor has a grad_fn],
                                               "requires_grad": [each requires grad],
                                               "equals_previous": the values equal the state the
                                               previous forward returned}
    ["grad_into_state", chunk]     a backward pass reached the state that chunk `chunk` received,
                                   i.e. it was about to run on into the previous chunk's graph
    ["loss", value]                loss_fn was called
    ["zero_grad"]                  optimizer.zero_grad() or model.zero_grad()
    ["step", grad_norm]            optimizer.step(), with the global norm of the gradients it saw
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from whiteboard.worker.harness import get_function


def _flat(state):
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state]
    out = []
    for s in state:
        out += _flat(s)
    return out


class TracedRecurrent(nn.Module):
    """A GRU (tensor state) or an LSTM (tuple state) with a linear head, recording every forward."""

    def __init__(self, events: list, chunks: list, state: str = "tensor", d_in: int = 3,
                 hidden: int = 5, classes: int = 4):
        super().__init__()
        cell = nn.GRU if state == "tensor" else nn.LSTM
        self.rnn = cell(d_in, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)
        self._events = events
        self._chunks = chunks
        self._previous = None      # detached copy of the last state returned

    def _which(self, x) -> int:
        for i, (cx, _) in enumerate(self._chunks):
            if x is cx:
                return i
        for i, (cx, _) in enumerate(self._chunks):
            if isinstance(x, torch.Tensor) and x.shape == cx.shape and torch.equal(x.detach(), cx):
                return i
        return -1

    def forward(self, x, h=None):
        chunk = self._which(x)
        tensors = _flat(h)
        kind = "none" if h is None else "tensor" if isinstance(h, torch.Tensor) else "tuple"
        previous = _flat(self._previous)
        equals = (h is not None and len(previous) == len(tensors) and
                  all(a.shape == b.shape and torch.allclose(a.detach(), b, rtol=1e-6, atol=1e-7)
                      for a, b in zip(tensors, previous)))
        incoming = {"kind": kind, "attached": [t.grad_fn is not None for t in tensors],
                    "requires_grad": [bool(t.requires_grad) for t in tensors], "equals_previous": equals}
        self._events.append(["forward", chunk, incoming])
        for t in tensors:
            if t.requires_grad:
                t.register_hook(self._into_state(chunk))
        if isinstance(h, list):
            h = tuple(h)
        out, h_next = self.rnn(x, h)
        self._previous = [t.detach().clone() for t in _flat(h_next)]
        return self.head(out), h_next

    def _into_state(self, chunk):
        def hook(grad):
            self._events.append(["grad_into_state", chunk])
        return hook

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad"])
        super().zero_grad(set_to_none)


class TracedSGD(torch.optim.SGD):
    """SGD that records zero_grad() and step(), with the global gradient norm each step saw."""

    def __init__(self, params, events: list, lr: float):
        super().__init__(params, lr=lr)
        self._events = events

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad"])
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.sqrt(sum(((g.detach().double() ** 2).sum() for g in grads),
                                    torch.zeros((), dtype=torch.float64))))
        self._events.append(["step", norm])
        return super().step(closure)


class TracedLoss:
    """Mean cross-entropy over every position; takes logits (B, T, C) or (B*T, C) and targets
    (B, T) or (B*T,) alike, and records each value."""

    def __init__(self, events: list):
        self._events = events

    def __call__(self, logits, target):
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        self._events.append(["loss", float(loss.detach())])
        return loss


def make_chunks(seed: int, n_chunks: int, batch: int, steps: int, d_in: int, classes: int) -> list:
    g = torch.Generator().manual_seed(seed + 1000)
    return [(torch.randn(batch, steps, d_in, generator=g),
             torch.randint(0, classes, (batch, steps), generator=g)) for _ in range(n_chunks)]


def _as_floats(value):
    """The returned losses as plain data: a list of floats when possible, with their types."""
    if not isinstance(value, (list, tuple)):
        return None, type(value).__name__
    out, types = [], []
    for v in value:
        types.append("tensor" if isinstance(v, torch.Tensor) else type(v).__name__)
        try:
            out.append(float(v.detach()) if isinstance(v, torch.Tensor) else float(v))
        except (TypeError, ValueError, RuntimeError):
            out.append(None)
    return out, types


def tbptt_trace(namespace: dict, state: str = "tensor", n_chunks: int = 3, seed: int = 0,
                batch: int = 2, steps: int = 4, d_in: int = 3, hidden: int = 5, classes: int = 4,
                lr: float = 0.1) -> dict:
    """The student's train_truncated_bptt on a traced model, chunks, optimizer and loss.

    Returns {"events", "returned" (list of floats or None), "returned_types", "returned_tensors"
    (any returned loss still attached to a graph), "error" (the exception's text, or None: a
    backward into a freed graph is part of the trace), "n_chunks", "weights" (after training)}.
    """
    fn = get_function(namespace, "train_truncated_bptt")
    events: list = []
    chunks = make_chunks(int(seed), int(n_chunks), int(batch), int(steps), int(d_in), int(classes))
    torch.manual_seed(int(seed))
    model = TracedRecurrent(events, chunks, state, int(d_in), int(hidden), int(classes))
    optimizer = TracedSGD(model.parameters(), events, lr=float(lr))
    error, value = None, None
    try:
        value = fn(model, chunks, optimizer, TracedLoss(events))
    except NotImplementedError:
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    returned, types = _as_floats(value)
    attached = isinstance(value, (list, tuple)) and any(
        isinstance(v, torch.Tensor) and v.requires_grad for v in value)
    return {"events": events, "returned": returned, "returned_types": types,
            "returned_tensors": attached, "error": error, "n_chunks": int(n_chunks),
            "weights": [p.detach().clone() for p in model.parameters()]}
