"""Checks for q14_lstm. Inputs come from nb.rng / nb.seed (public and hidden runs); the expected
values and the mistakes' results come from the oracle.

lstm_cell and lstm_forward are compared with torch's own nn.LSTMCell / nn.LSTM holding the same
weights (the reference computes them with torch, on the instructor's side); gate_activations with
the four activated gates of that cell. The first three are called with torch's LSTM watched
(FORBIDDEN): using it fails with `forbidden-api`. init_forget_bias changes a real nn.LSTM, so its
checks run the harness `forget_bias_trace` (harnesses/q14_lstm.py) on the student's function and
compare every bias vector with the same harness run on the reference; on a mismatch the pitfall
variants' traces name the mistake, and a message lists which slices of which vectors differ.

Random weights of scale ~0.7 keep every gate away from 0 and 1, so that each gate order, each
wrong activation and each missing tanh gives visibly different numbers.
"""
import numpy as np
import pytest
import torch

from autograder.labels.q14_lstm import FORBIDDEN
from whiteboard.grading.compare import mismatch, show

GATE_NAMES = ("input gate i", "forget gate f", "candidate g", "output gate o")


def expect(nb, function, *args, **kwargs):
    return nb.expect(function, *args, forbidden=FORBIDDEN[function], **kwargs)


def ints(nb, k, low, high):
    return int(nb.rng(k).integers(low, high))


def cell_inputs(nb, k, B, D, H, scale=1.0, dtype=torch.float64):
    """(x (B, D), h (B, H), c (B, H), W_ih (4H, D), W_hh (4H, H), b_ih (4H,), b_hh (4H,))."""
    rng = nb.rng(k)

    def normal(*shape, s=1.0):
        return torch.from_numpy(rng.normal(scale=s, size=shape)).to(dtype)

    return (normal(B, D), normal(B, H), normal(B, H), normal(4 * H, D, s=0.7 * scale),
            normal(4 * H, H, s=0.7 * scale), normal(4 * H, s=0.5), normal(4 * H, s=0.5))


def sequence_inputs(nb, k, T, B, D, H, dtype=torch.float64):
    """(x (T, B, D), h0 (B, H), c0 (B, H), W_ih, W_hh, b_ih, b_hh)."""
    x = torch.from_numpy(nb.rng(k + 500).normal(size=(T, B, D))).to(dtype)
    _, h0, c0, *weights = cell_inputs(nb, k, B, D, H, dtype=dtype)
    return (x, h0, c0, *weights)


# ---- lstm_cell ----------------------------------------------------------------------------------

@pytest.mark.grades("lstm_cell")
class TestLSTMCell:
    @pytest.mark.points(4)
    def test_matches_nn_lstmcell(self, nb):
        """one step of a batch of 3 equals nn.LSTMCell with the same weights (gates i, f, g, o)"""
        expect(nb, "lstm_cell", *cell_inputs(nb, 0, 3, 4, 5))

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one; input and hidden sizes that differ"""
        expect(nb, "lstm_cell", *cell_inputs(nb, 1, 1, ints(nb, 2, 2, 7), ints(nb, 3, 2, 9)))

    @pytest.mark.points(1)
    def test_saturated_gates(self, nb):
        """large weights: gates near 0 and 1, a cell state beyond 1"""
        x, h, c, *weights = cell_inputs(nb, 4, 4, 3, 6, scale=4.0)
        expect(nb, "lstm_cell", x, h, 3 * c, *weights)

    @pytest.mark.points(1)
    def test_float32(self, nb):
        """float32 tensors, nn.LSTMCell's default dtype"""
        expect(nb, "lstm_cell", *cell_inputs(nb, 5, 2, 3, 4, dtype=torch.float32))


# ---- lstm_forward -------------------------------------------------------------------------------

@pytest.mark.grades("lstm_forward")
class TestLSTMForward:
    @pytest.mark.points(3)
    def test_matches_nn_lstm(self, nb):
        """6 steps of a batch of 2 equal a one-layer nn.LSTM: every output, then (h_T, c_T)"""
        expect(nb, "lstm_forward", *sequence_inputs(nb, 10, 6, 2, 3, 4))

    @pytest.mark.points(2)
    def test_long_sequence(self, nb):
        """20 to 30 steps: the state is carried from each step to the next"""
        expect(nb, "lstm_forward", *sequence_inputs(nb, 11, ints(nb, 12, 20, 31), 3, 2, 5))

    @pytest.mark.points(1)
    def test_single_step(self, nb):
        """one step of a batch of one"""
        expect(nb, "lstm_forward", *sequence_inputs(nb, 13, 1, 1, ints(nb, 14, 1, 5), 3))


# ---- gate_activations ---------------------------------------------------------------------------

@pytest.mark.grades("gate_activations")
class TestGateActivations:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        """the four gates of one step, a dict with keys i, f, g, o"""
        expect(nb, "gate_activations", *cell_inputs(nb, 20, 3, 4, 5))

    @pytest.mark.points(1)
    def test_zero_state(self, nb):
        """the first step of a sequence: h and c all zeros"""
        x, h, c, *weights = cell_inputs(nb, 21, 2, 3, ints(nb, 22, 2, 7))
        expect(nb, "gate_activations", x, torch.zeros_like(h), torch.zeros_like(c), *weights)

    @pytest.mark.points(1)
    def test_saturated_gates(self, nb):
        """large weights: gates close to 0 and 1"""
        expect(nb, "gate_activations", *cell_inputs(nb, 23, 1, 2, 3, scale=5.0))


# ---- init_forget_bias ---------------------------------------------------------------------------

def _slices_that_differ(got: dict, want: dict, before: dict | None, H: int) -> list[str]:
    """'bias_ih_l1[4:8] (forget gate f): left as it was; ...' for every quarter that differs."""
    lines = []
    for name in want:
        g, w = got.get(name), want[name]
        if g is None or tuple(g.shape) != tuple(w.shape):
            lines.append(f"{name}: missing or reshaped ({show(g)})")
            continue
        for q, gate in enumerate(GATE_NAMES):
            part = slice(q * H, (q + 1) * H)
            if mismatch(g[part], w[part], rtol=0, atol=1e-7) is None:
                continue
            untouched = before is not None and mismatch(g[part], before[name][part], rtol=0, atol=0) is None
            what = "left as it was" if untouched else f"set to {show(g[part])}"
            expected = ("should be left as it was" if q != 1 else f"should be {show(w[part])}")
            lines.append(f"{name}[{q * H}:{(q + 1) * H}] ({gate}): {what}; {expected}")
    return lines


def check_forget_bias(nb, params, described):
    got = nb.run("init_forget_bias", "forget_bias_trace", params)
    want = nb.trace("forget_bias_trace", params, "init_forget_bias")
    problem = mismatch(got["biases"], want["biases"], rtol=0, atol=1e-7)
    if problem is None:
        return got
    label = nb.match_variant(got["biases"], [(lab, t["biases"]) for lab, t in
                                             nb.variant_traces("forget_bias_trace", params, "init_forget_bias")],
                             lambda g, v: mismatch(g, v, rtol=0, atol=1e-7) is None)
    lines = _slices_that_differ(got["biases"], want["biases"], got["initial"], int(params["hidden_size"]))
    raise nb.fail(label or "wrong-value",
                  f"{described}: the bias vectors are not as asked (every bias starts uniform in "
                  "(-0.5, 0.5)):\n    " + "\n    ".join(lines[:8] or [problem[1]]))


def lstm_params(nb, k, num_layers, value):
    rng = nb.rng(k)
    return dict(value=value, input_size=int(rng.integers(2, 6)), hidden_size=int(rng.integers(3, 7)),
                num_layers=num_layers, seed=nb.seed(k))


def described(params):
    call = "init_forget_bias(lstm)" if params["value"] is None else f"init_forget_bias(lstm, {params['value']!r})"
    return (f"{call} on nn.LSTM({params['input_size']}, {params['hidden_size']}, "
            f"num_layers={params['num_layers']})")


@pytest.mark.grades("init_forget_bias")
class TestInitForgetBias:
    @pytest.mark.points(3)
    def test_two_layer_lstm(self, nb):
        """a two-layer nn.LSTM, default value: the forget slice of all four bias vectors is 1"""
        params = lstm_params(nb, 30, 2, None)
        check_forget_bias(nb, params, described(params))

    @pytest.mark.points(1)
    def test_value_argument(self, nb):
        """the value it is given, on a three-layer nn.LSTM"""
        value = float(np.round(nb.rng(31).uniform(1.5, 4.0), 2))
        params = lstm_params(nb, 32, 3, value)
        check_forget_bias(nb, params, described(params))

    @pytest.mark.points(1)
    def test_in_place(self, nb):
        """changes the LSTM's own bias tensors in place; weights untouched, the LSTM still runs"""
        params = lstm_params(nb, 33, 2, 2.0)
        call = described(params)
        got = check_forget_bias(nb, params, call)
        if got["parameters_replaced"]:
            raise nb.fail("wrong-value", f"{call} replaced some of the LSTM's parameters with new "
                          "tensors instead of writing into the ones it has: an optimizer built "
                          "before the call would go on updating the old ones. Write into a slice of "
                          "the existing bias under torch.no_grad() (bias[H:2*H] = value, or "
                          "bias.data[H:2*H].fill_(value)).")
        if got["weights_changed"]:
            raise nb.fail("wrong-value", f"{call} changed a weight matrix (weight_ih_l* or "
                          "weight_hh_l*); only the bias vectors' forget slices should change.")
        if not got["forward_ok"]:
            raise nb.fail("wrong-value", f"{call} left an LSTM that no longer runs a forward pass.")
