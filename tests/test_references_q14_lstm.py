"""q14: the references equal nn.LSTMCell / nn.LSTM with the same weights; init_forget_bias sets exactly
the forget slices of a two-layer nn.LSTM; the mutants are caught with their labels (by a pitfall
variant, or by the forbidden-API tripwires), and the alternatives pass."""
from __future__ import annotations

import copy
import importlib
import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autograder.labels.q14_lstm import FORBIDDEN, LABELS
from autograder.references import q14_lstm as ref

ROOT = Path(__file__).resolve().parents[1]
corpus = importlib.import_module("mutants.q14_lstm")
SETUP = "import numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"


def _load_harness():
    path = ROOT / "autograder" / "harnesses" / "q14_lstm.py"
    spec = importlib.util.spec_from_file_location("q14_harness_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = _load_harness()


def namespace(source: str = "", replace: dict | None = None) -> dict:
    """The references' functions in a dict that is also their globals (as the oracle builds it),
    the notebook's imports, then `source` executed on top (a mutant or an alternative)."""
    ns: dict = {}
    exec(SETUP, ns)
    for name, value in vars(ref).items():
        if isinstance(value, types.FunctionType) and value.__module__ == ref.__name__:
            rebound = types.FunctionType(value.__code__, ns, value.__name__, value.__defaults__,
                                         value.__closure__)
            rebound.__kwdefaults__ = value.__kwdefaults__
            value = rebound
        ns.setdefault(name, value)
    ns.update(replace or {})
    if source:
        exec(source, ns)
    return ns


def same(got, want, rtol=1e-5, atol=1e-7) -> bool:
    arrays = (torch.Tensor, np.ndarray, float, int, np.generic)
    if isinstance(got, arrays) and isinstance(want, arrays):
        g = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
        w = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
        return g.shape == w.shape and bool(np.allclose(g.astype(float), w.astype(float), rtol=rtol, atol=atol))
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(same(a, b, rtol, atol) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return set(got) == set(want) and all(same(got[k], want[k], rtol, atol) for k in want)
    return got == want


def cell_inputs(seed, B=3, D=4, Hd=5, dtype=torch.float64, scale=1.0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype) * scale

    return r(B, D), r(B, Hd), r(B, Hd), r(4 * Hd, D) * 0.7, r(4 * Hd, Hd) * 0.7, r(4 * Hd) * 0.5, r(4 * Hd) * 0.5


def seq_inputs(seed, T=6, B=2, D=3, Hd=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed + 50)
    x = torch.randn(T, B, D, generator=g, dtype=dtype)
    _, h0, c0, *w = cell_inputs(seed, B, D, Hd, dtype)
    return (x, h0, c0, *w)


def _torch_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).to(x.dtype)
    with torch.no_grad():
        for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(v)
        return cell(x, (h, c))


def _torch_lstm(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    lstm = nn.LSTM(W_ih.shape[1], W_hh.shape[1]).to(x.dtype)
    with torch.no_grad():
        for p, v in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0),
                        (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(v)
        out, (h, c) = lstm(x, (h0[None], c0[None]))
    return out, (h[0], c[0])


# ---- against torch --------------------------------------------------------------------------------

def test_lstm_cell_and_gates_equal_nn_lstmcell():
    for seed, dtype, scale in [(0, torch.float64, 1.0), (1, torch.float32, 1.0), (2, torch.float64, 4.0),
                               (3, torch.float64, 0.1)]:
        args = cell_inputs(seed, dtype=dtype, scale=scale)
        h_want, c_want = _torch_cell(*args)
        h_new, c_new = ref.lstm_cell(*args)
        tol = 1e-12 if dtype == torch.float64 else 1e-6
        assert torch.allclose(h_new, h_want, atol=tol) and torch.allclose(c_new, c_want, atol=tol)
        gates = ref.gate_activations(*args)
        assert set(gates) == set("ifgo")
        c = args[2]
        assert torch.allclose(gates["f"] * c + gates["i"] * gates["g"], c_want, atol=tol)
        assert torch.allclose(gates["o"] * torch.tanh(c_want), h_want, atol=tol)
        assert all(((0 <= gates[k]) & (gates[k] <= 1)).all() for k in "ifo") and (gates["g"].abs() <= 1).all()
        # _cell and _forward, the base of every pitfall variant, equal torch with their default knobs
        assert all(torch.allclose(a, b, atol=tol) for a, b in zip(ref._cell(*args), (h_want, c_want)))
    numpy_args = [a.numpy() for a in cell_inputs(4)]
    assert same(ref.lstm_cell(*numpy_args), _torch_cell(*cell_inputs(4)))


def test_lstm_forward_equals_nn_lstm():
    for seed, (T, B, D, Hd) in enumerate([(6, 2, 3, 4), (1, 1, 1, 1), (30, 3, 5, 7)]):
        args = seq_inputs(seed, T, B, D, Hd)
        out, (h, c) = ref.lstm_forward(*args)
        want_out, (want_h, want_c) = _torch_lstm(*args)
        assert out.shape == (T, B, Hd) and h.shape == (B, Hd)
        assert torch.allclose(out, want_out, atol=1e-12)
        assert torch.allclose(h, want_h, atol=1e-12) and torch.allclose(c, want_c, atol=1e-12)
        base_out, (base_h, base_c) = ref._forward(*args)
        assert torch.allclose(base_out, want_out, atol=1e-12) and torch.allclose(base_c, want_c, atol=1e-12)
    # states given as (1, B, H), as nn.LSTM takes them, come back in that shape
    x, h0, c0, *w = seq_inputs(9)
    out, (h, c) = ref.lstm_forward(x, h0[None], c0[None], *w)
    assert h.shape == (1, 2, 4) and torch.allclose(out, _torch_lstm(x, h0, c0, *w)[0], atol=1e-12)


def test_init_forget_bias_sets_exactly_the_forget_slices():
    for bidirectional in (False, True):
        before = H.forget_bias_trace({"init_forget_bias": lambda lstm, value=1.0: None},
                                     bidirectional=bidirectional)["biases"]
        for value in (1.0, 2.5, None):
            trace = H.forget_bias_trace(namespace(), value=value, bidirectional=bidirectional)
            assert trace["returned_none"] and not trace["weights_changed"] and trace["forward_ok"]
            names = {f"bias_{k}_l{layer}{sfx}" for k in ("ih", "hh") for layer in (0, 1)
                     for sfx in (("", "_reverse") if bidirectional else ("",))}
            assert set(trace["biases"]) == names
            for name, b in trace["biases"].items():
                assert torch.all(b[4:8] == (1.0 if value is None else value))
                assert torch.equal(b[:4], before[name][:4]) and torch.equal(b[8:], before[name][8:])


# ---- variants -------------------------------------------------------------------------------------

def test_every_variant_differs_from_the_reference():
    cell, seq = cell_inputs(5), seq_inputs(5)
    for function, variants in ref.PITFALLS.variants.items():
        if function == "init_forget_bias":
            want = H.forget_bias_trace(namespace())["biases"]
            for label, v in variants:
                assert not same(H.forget_bias_trace(namespace(replace={function: v}))["biases"], want), label
            continue
        args = seq if function == "lstm_forward" else cell
        want = getattr(ref, function)(*args)
        for label, v in variants:
            assert not same(v(*args), want), (function, label, v.__name__)
    assert sum(1 for label, _ in ref.PITFALLS.variants["lstm_cell"] if label == "gate-order") == 23


# ---- forbidden APIs -------------------------------------------------------------------------------

class Tripwires:
    """Wrap the forbidden names as the worker does (a subclass for a class, a wrapper for a function,
    and every notebook global bound to the original) and note which ones are used."""

    def __init__(self, names, ns):
        self.names, self.ns, self.used, self.saved = names, ns, set(), []

    def __enter__(self):
        for dotted in self.names:
            module_name, _, attr = dotted.rpartition(".")
            owner = importlib.import_module(module_name)
            original = getattr(owner, attr)
            used = self.used
            if isinstance(original, type):
                class Wire(original):
                    def __init__(self, *a, _name=dotted, **k):
                        used.add(_name)
                        super().__init__(*a, **k)
                wire = Wire
            else:
                def wire(*a, _orig=original, _name=dotted, **k):
                    used.add(_name)
                    return _orig(*a, **k)
            self.saved.append((owner, attr, original))
            setattr(owner, attr, wire)
            for key, value in list(self.ns.items()):
                if value is original:
                    self.ns[key] = wire
        return self

    def __exit__(self, *exc):
        for owner, attr, original in reversed(self.saved):
            setattr(owner, attr, original)
        return False


def _run(ns, function, args):
    saved = ns.get("lstm_cell")
    if function != "lstm_cell" and "lstm_cell" in ref.STANDINS and saved is not None:
        # the stand-in runs in the grading parent, outside the tripwires: emulate it with _cell,
        # the hand-written base of the variants (equal to nn.LSTMCell, tested above)
        ns["lstm_cell"] = lambda *a: ref._cell(*a)
    try:
        with Tripwires(FORBIDDEN.get(function, ()), ns) as wires:
            out = ns[function](*copy.deepcopy(args))
    finally:
        if saved is not None:
            ns["lstm_cell"] = saved
    return out, wires.used


def test_the_tripwires_see_torchs_lstm_and_nothing_else():
    """The references of lstm_cell and lstm_forward are torch's own LSTM (the ground truth, run on
    the instructor's side only): the tripwires must fire on them. The variants, built from matrix
    products, must not fire them (a student's correct hand-written cell is what they imitate)."""
    ns = namespace()
    assert "torch.nn.LSTMCell" in _run(ns, "lstm_cell", cell_inputs(0))[1]
    assert "torch.nn.LSTM" in _run(ns, "lstm_forward", seq_inputs(0))[1]
    assert _run(ns, "gate_activations", cell_inputs(0))[1] == set()
    for function, args in (("lstm_cell", cell_inputs(0)), ("lstm_forward", seq_inputs(0)),
                           ("gate_activations", cell_inputs(0))):
        for label, variant in ref.PITFALLS.variants[function]:
            assert _run(namespace(replace={function: variant}), function, args)[1] == set(), label


# ---- the corpus -----------------------------------------------------------------------------------

def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert {label for label, _, _ in corpus.MUTANTS} >= LABELS.required
    for fn in LABELS.functions:
        assert sum(1 for f, _ in corpus.ALTERNATIVES if f == fn) >= 2, fn
    for label, fn, _ in corpus.MUTANTS:
        assert label in LABELS and fn in LABELS.functions


def inputs_for(function):
    if function == "lstm_forward":
        return [seq_inputs(s) for s in range(3)] + [seq_inputs(3, T=2, B=1, D=2, Hd=3)]
    return [cell_inputs(s) for s in range(3)] + [cell_inputs(3, B=1, D=2, Hd=3, scale=2.0)]


def _caught(label, function, source) -> str:
    ns = namespace(source)
    if function == "init_forget_bias":
        variants = [v for lab, v in ref.PITFALLS.variants[function] if lab == label]
        for value in (1.0, 3.0):
            got = H.forget_bias_trace(ns, value=value)["biases"]
            if same(got, H.forget_bias_trace(namespace(), value=value)["biases"]):
                return f"equals the reference with value {value}"
            if not any(same(got, H.forget_bias_trace(namespace(replace={function: v}), value=value)["biases"])
                       for v in variants):
                return f"no {label} variant reproduces it"
        return ""
    variants = [v for lab, v in ref.PITFALLS.variants.get(function, []) if lab == label]
    differs = False
    for args in inputs_for(function):
        got, used = _run(ns, function, args)
        want = getattr(ref, function)(*args)
        if label == "forbidden-api":
            if not used:
                return "no tripwire fired"
            if not same(got, want):
                return "differs from the reference (a second mistake)"
            differs = True
            continue
        if used:
            return f"used {used}"
        if not same(got, want):
            differs = True
            if not any(same(got, v(*args)) for v in variants):
                return f"no {label} variant reproduces the output"
    return "" if differs else "never differs from the reference"


@pytest.mark.parametrize("label,function,source", corpus.MUTANTS,
                         ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(corpus.MUTANTS)])
def test_mutant_is_caught_with_its_label(label, function, source):
    assert _caught(label, function, source) == ""


@pytest.mark.parametrize("function,source", corpus.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(corpus.ALTERNATIVES)])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    if function == "init_forget_bias":
        for value in (1.0, 3.0, None):
            got, want = H.forget_bias_trace(ns, value=value), H.forget_bias_trace(namespace(), value=value)
            assert same(got["biases"], want["biases"]) and got["returned_none"] and not got["weights_changed"]
        return
    for args in inputs_for(function):
        got, used = _run(ns, function, args)
        assert not used and same(got, getattr(ref, function)(*args)), function
