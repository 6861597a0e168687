"""q14_lstm: reference answers and the classic mistakes as code. Never leaves the instructor.

Shapes as nn.LSTMCell: x (B, D), h and c (B, H), W_ih (4H, D), W_hh (4H, H), b_ih and b_hh (4H,);
the rows of the stacked weights and biases hold the gates in the order i, f, g, o.
lstm_forward: x (T, B, D), h0 and c0 (B, H) -> outputs (T, B, H) and (h_T, c_T), each shaped like h0.

`init_forget_bias` changes an nn.LSTM in place, so its check runs autograder/harnesses/q14_lstm.py
(a variant below is run through the same harness in place of the reference).
"""
import itertools

import numpy as np
import torch
from torch import nn

from autograder.labels.q14_lstm import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# lstm_forward may call lstm_cell, and lstm_cell may call gate_activations: the reference answers
# those calls while the caller is graded, so one mistake is charged once.
STANDINS = ("lstm_cell", "gate_activations")
# FORBIDDEN (torch's LSTM in the first three functions) lives with the labels, because the check
# module passes it to every call and must not import this file.

GATES = "ifgo"


def _tensors(*arrays):
    """Tensors of one floating dtype (float64 unless every input is float32)."""
    ts = [a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in arrays]
    dtype = ts[0].dtype
    for t in ts[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    return [t.detach().to(dtype) for t in ts]


def _gates(x, h, W_ih, W_hh, b_ih, b_hh, order=GATES, gate_act=torch.sigmoid, cand_act=torch.tanh):
    """The activated gates {i, f, g, o}; `order` names the gate each quarter of the rows holds."""
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    chunks = dict(zip(order, pre.chunk(4, dim=-1)))
    return {k: (cand_act if k == "g" else gate_act)(chunks[k]) for k in GATES}


def _cell(x, h, c, W_ih, W_hh, b_ih, b_hh, *, order=GATES, gate_act=torch.sigmoid, cand_act=torch.tanh,
          h_tanh=True, input_gate=True):
    """One step with one knob per classic mistake; the defaults are the right answer."""
    x, h, c, W_ih, W_hh, b_ih, b_hh = _tensors(x, h, c, W_ih, W_hh, b_ih, b_hh)
    g = _gates(x, h, W_ih, W_hh, b_ih, b_hh, order, gate_act, cand_act)
    c_new = g["f"] * c + (g["i"] * g["g"] if input_gate else g["g"])
    h_new = g["o"] * (torch.tanh(c_new) if h_tanh else c_new)
    return h_new, c_new


def _forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, carry=True, **mistake):
    x, h0, c0, W_ih, W_hh, b_ih, b_hh = _tensors(x, h0, c0, W_ih, W_hh, b_ih, b_hh)
    shape = h0.shape
    h, c = h0.reshape(-1, h0.shape[-1]), c0.reshape(-1, c0.shape[-1])   # (1, B, H) works too
    outputs = []
    for t in range(x.shape[0]):
        start = (h, c) if carry else (h0.reshape(h.shape), c0.reshape(c.shape))
        h, c = _cell(x[t], *start, W_ih, W_hh, b_ih, b_hh, **mistake)
        outputs.append(h)
    return torch.stack(outputs), (h.reshape(shape), c.reshape(shape))


# ---- the three functions, right ------------------------------------------------------------------
# The ground truth of the cell and of the sequence is torch's own nn.LSTMCell / nn.LSTM holding the
# same weights (the references run only on the instructor's side, where torch's LSTM is allowed);
# _cell and _forward above, the base of every variant, equal them with the default knobs (tested).

def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    x, h, c, W_ih, W_hh, b_ih, b_hh = _tensors(x, h, c, W_ih, W_hh, b_ih, b_hh)
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).to(x.dtype)
    with torch.no_grad():
        for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(v)
        h_new, c_new = cell(x, (h, c))
    return h_new, c_new


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    x, h0, c0, W_ih, W_hh, b_ih, b_hh = _tensors(x, h0, c0, W_ih, W_hh, b_ih, b_hh)
    shape = h0.shape                                   # (B, H), or (1, B, H) as nn.LSTM takes it
    lstm = nn.LSTM(W_ih.shape[1], W_hh.shape[1]).to(x.dtype)
    with torch.no_grad():
        for p, v in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0),
                        (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(v)
        out, (h, c) = lstm(x, (h0.reshape(1, -1, shape[-1]), c0.reshape(1, -1, shape[-1])))
    return out, (h.reshape(shape), c.reshape(shape))


def gate_activations(x, h, c, W_ih, W_hh, b_ih, b_hh):
    x, h, W_ih, W_hh, b_ih, b_hh = _tensors(x, h, W_ih, W_hh, b_ih, b_hh)
    return _gates(x, h, W_ih, W_hh, b_ih, b_hh)


# ---- ... and with each classic mistake -----------------------------------------------------------

# Every mistake of the cell shows in lstm_cell and lstm_forward; those of the gates in
# gate_activations too. (label, keyword overrides of _cell, shows in gate_activations)
CELL_MISTAKES = (
    [("gate-order", {"order": "".join(p)}, True) for p in itertools.permutations(GATES) if "".join(p) != GATES]
    + [("candidate-sigmoid", {"cand_act": torch.sigmoid}, True),
       ("gates-tanh", {"gate_act": torch.tanh}, True),
       ("gates-tanh", {"gate_act": torch.tanh, "cand_act": torch.sigmoid}, True),   # the two swapped
       ("h-without-tanh", {"h_tanh": False}, False),
       ("cell-missing-input-gate", {"input_gate": False}, False)]
)


def _register(label, mistake, in_gates):
    tag = "_".join(f"{k}_{getattr(v, '__name__', v)}" for k, v in mistake.items())

    def cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
        return _cell(x, h, c, W_ih, W_hh, b_ih, b_hh, **mistake)

    def forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
        return _forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, **mistake)

    def gates(x, h, c, W_ih, W_hh, b_ih, b_hh):
        x, h, W_ih, W_hh, b_ih, b_hh = _tensors(x, h, W_ih, W_hh, b_ih, b_hh)
        return _gates(x, h, W_ih, W_hh, b_ih, b_hh,
                      **{k: v for k, v in mistake.items() if k in ("order", "gate_act", "cand_act")})

    for fn, name in ((cell, "lstm_cell"), (forward, "lstm_forward"), (gates, "gate_activations")):
        if name == "gate_activations" and not in_gates:
            continue
        fn.__name__ = fn.__qualname__ = f"{name}__{tag}"
        PITFALLS.variant(name, label)(fn)


for _label, _mistake, _in_gates in CELL_MISTAKES:
    _register(_label, _mistake, _in_gates)


@PITFALLS.variant("lstm_forward", "state-not-carried")
def lstm_forward_from_h0_every_step(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    return _forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, carry=False)


@PITFALLS.variant("gate_activations", "gates-before-activation")
def gate_activations_raw(x, h, c, W_ih, W_hh, b_ih, b_hh):
    x, h, W_ih, W_hh, b_ih, b_hh = _tensors(x, h, W_ih, W_hh, b_ih, b_hh)
    return _gates(x, h, W_ih, W_hh, b_ih, b_hh, gate_act=lambda z: z, cand_act=lambda z: z)


# ---- init_forget_bias -----------------------------------------------------------------------------

def _set_bias(lstm, value, quarter=1, layers=None, vectors=("bias_ih", "bias_hh")):
    """Fill quarter `quarter` (0 i, 1 f, 2 g, 3 o; None: all) of the chosen bias vectors."""
    H = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if not name.startswith(vectors):
                continue
            layer = int(name.split("_l")[1].split("_")[0])
            if layers is not None and layer not in layers:
                continue
            if quarter is None:
                p.fill_(value)
            else:
                p[quarter * H:(quarter + 1) * H] = value


def init_forget_bias(lstm, value=1.0):
    _set_bias(lstm, value)     # bias_ih_l{k}[H:2H] and bias_hh_l{k}[H:2H], every layer and direction


@PITFALLS.variant("init_forget_bias", "wrong-gate-slice")
def init_forget_bias_input_quarter(lstm, value=1.0):
    _set_bias(lstm, value, quarter=0)


@PITFALLS.variant("init_forget_bias", "wrong-gate-slice")
def init_forget_bias_candidate_quarter(lstm, value=1.0):
    _set_bias(lstm, value, quarter=2)          # the forget gate's place in TensorFlow's i, g, f, o


@PITFALLS.variant("init_forget_bias", "wrong-gate-slice")
def init_forget_bias_output_quarter(lstm, value=1.0):
    _set_bias(lstm, value, quarter=3)


@PITFALLS.variant("init_forget_bias", "wrong-gate-slice")
def init_forget_bias_whole_vector(lstm, value=1.0):
    _set_bias(lstm, value, quarter=None)


@PITFALLS.variant("init_forget_bias", "first-layer-only")
def init_forget_bias_first_layer(lstm, value=1.0):
    _set_bias(lstm, value, layers=(0,))


@PITFALLS.variant("init_forget_bias", "one-bias-vector")
def init_forget_bias_ih_only(lstm, value=1.0):
    _set_bias(lstm, value, vectors=("bias_ih",))


@PITFALLS.variant("init_forget_bias", "one-bias-vector")
def init_forget_bias_hh_only(lstm, value=1.0):
    _set_bias(lstm, value, vectors=("bias_hh",))
