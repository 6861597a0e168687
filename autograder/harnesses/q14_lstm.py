"""Harness for q14_lstm: init_forget_bias on a real, seeded nn.LSTM.

It runs in the worker next to the student's notebook (and in the parent on the reference, or on a
pitfall variant put in the namespace under the student's name, for the expected trace). It builds
the LSTM, calls the function and returns plain data. Nothing here knows the right answer.
"""
from __future__ import annotations

import torch
from torch import nn

from whiteboard.worker.harness import get_function


def forget_bias_trace(namespace: dict, value=1.0, input_size: int = 3, hidden_size: int = 4,
                      num_layers: int = 2, bidirectional: bool = False, seed: int = 0) -> dict:
    """Build nn.LSTM(input_size, hidden_size, num_layers, bidirectional=...) with seeded weights, call
    init_forget_bias(lstm, value) (init_forget_bias(lstm) when value is None, to use the default).

    Returns {"returned_none": the function returned None, "returned_type",
             "biases": {parameter name: tensor} for every bias vector after the call,
             "initial": the same before the call,
             "weights_changed": a weight matrix changed, "forward_ok": the LSTM still runs,
             "parameters_replaced": some parameter is no longer the object it was}.
    """
    fn = get_function(namespace, "init_forget_bias")
    torch.manual_seed(int(seed))
    lstm = nn.LSTM(int(input_size), int(hidden_size), int(num_layers), bidirectional=bool(bidirectional))
    with torch.no_grad():   # biases far from any value a student might set, so every change shows
        for name, p in lstm.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    before = {name: p for name, p in lstm.named_parameters()}
    initial = {name: p.detach().clone() for name, p in before.items() if name.startswith("bias")}
    weights = {name: p.detach().clone() for name, p in before.items() if name.startswith("weight")}
    returned = fn(lstm) if value is None else fn(lstm, value)
    after = dict(lstm.named_parameters())
    forward_ok = True
    try:
        with torch.no_grad():
            lstm(torch.zeros(2, 1, int(input_size)))
    except Exception:
        forward_ok = False
    return {
        "returned_none": returned is None,
        "returned_type": type(returned).__name__,
        "biases": {name: p.detach().clone() for name, p in after.items() if name.startswith("bias")},
        "initial": initial,
        "weights_changed": any(name not in after or not torch.equal(after[name].detach(), w)
                               for name, w in weights.items()),
        "forward_ok": forward_ok,
        "parameters_replaced": any(after.get(name) is not p for name, p in before.items()),
    }
