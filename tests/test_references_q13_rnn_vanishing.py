"""q13: the references agree with nn.RNN, autograd and torch.nn.utils.clip_grad_norm_; the mutants are
caught with their labels (by a pitfall variant, or by the trace rules the check applies), and the
alternatives pass."""
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

from autograder.labels.q13_rnn_vanishing import LABELS, tbptt_problem
from autograder.references import q13_rnn_vanishing as ref

ROOT = Path(__file__).resolve().parents[1]
corpus = importlib.import_module("mutants.q13_rnn_vanishing")
SETUP = "import numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"


def _load_harness():
    path = ROOT / "autograder" / "harnesses" / "q13_rnn_vanishing.py"
    spec = importlib.util.spec_from_file_location("q13_harness_under_test", path)
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


def diagnose_tbptt(trace):
    """The label of the first problem the checks' rules find in a tbptt_trace, or None."""
    problem = tbptt_problem(trace)
    return problem[0] if problem else None


def same(got, want, rtol=1e-5, atol=1e-7) -> bool:
    """`got` equals `want` within tolerance; masked entries of `want` match anything."""
    if isinstance(want, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(want)
        g = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got, dtype=float)
        if g.size == want.size == 1:     # a number against a masked one-entry norm
            g, mask, want = g.reshape(1), mask.reshape(1), want.reshape(1)
        if g.shape != want.shape:
            return False
        return bool(np.allclose(np.where(mask, 0, g), np.where(mask, 0, want.data), rtol=rtol, atol=atol))
    arrays = (torch.Tensor, np.ndarray, float, int, np.generic)
    if isinstance(got, arrays) and isinstance(want, arrays):
        g = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
        w = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
        return g.shape == w.shape and bool(np.allclose(g.astype(float), w.astype(float), rtol=rtol, atol=atol))
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(same(a, b, rtol, atol) for a, b in zip(got, want))
    return got == want


def rnn_inputs(seed, T=6, B=3, D=4, Hd=5, radius=None, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, D, generator=g, dtype=dtype)
    h0 = torch.randn(B, Hd, generator=g, dtype=dtype) * 0.5
    W_xh = torch.randn(D, Hd, generator=g, dtype=dtype) * 0.5
    W_hh = torch.randn(Hd, Hd, generator=g, dtype=dtype)
    if radius is not None:
        W_hh = W_hh / torch.linalg.eigvals(W_hh).abs().max() * radius
    else:
        W_hh = W_hh * 0.4
    b_h = torch.randn(Hd, generator=g, dtype=dtype) * 0.1
    return x, h0, W_xh, W_hh, b_h


# ---- rnn_forward and hidden_grad_norms against torch ----------------------------------------------

def test_rnn_forward_equals_nn_rnn():
    for seed, (T, B, D, Hd) in enumerate([(6, 3, 4, 5), (1, 1, 2, 3), (40, 2, 3, 8)]):
        x, h0, W_xh, W_hh, b_h = rnn_inputs(seed, T, B, D, Hd, radius=1.2)
        rnn = nn.RNN(D, Hd, nonlinearity="tanh").double()
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(W_xh.T)
            rnn.weight_hh_l0.copy_(W_hh.T)
            rnn.bias_ih_l0.copy_(b_h)
            rnn.bias_hh_l0.zero_()
            want, h_T = rnn(x, h0[None])
        got = ref.rnn_forward(x, h0, W_xh, W_hh, b_h)
        assert got.shape == (T, B, Hd) and torch.allclose(got, want, atol=1e-12)
        numpy_args = [a.numpy() for a in (x, h0, W_xh, W_hh, b_h)]
        assert torch.allclose(ref.rnn_forward(*numpy_args), want, atol=1e-12)
        assert torch.allclose(ref.rnn_forward_last(x, h0, W_xh, W_hh, b_h), h_T[0], atol=1e-12)


def _bptt_by_hand(x, h0, W_xh, W_hh, b_h):
    x, h, Wx, Wh, b = (a.numpy() for a in (x, h0, W_xh, W_hh, b_h))
    hs = []
    for x_t in x:
        h = np.tanh(x_t @ Wx + h @ Wh + b)
        hs.append(h)
    grad, norms = np.ones_like(hs[-1]), np.zeros(len(hs))
    for t in range(len(hs) - 1, -1, -1):
        norms[t] = np.linalg.norm(grad)
        grad = (grad * (1 - hs[t] ** 2)) @ Wh.T
    return norms


def test_hidden_grad_norms_equal_autograd_and_bptt_by_hand():
    for seed, radius in enumerate((0.5, 1.0, 1.5, 3.0)):
        args = rnn_inputs(seed, T=50, B=2, D=3, Hd=16, radius=radius)
        got = ref.hidden_grad_norms(*args)
        assert isinstance(got, np.ndarray) and got.shape == (50,)
        assert np.allclose(got, _bptt_by_hand(*args), rtol=1e-10, atol=1e-300)
        assert got[-1] == pytest.approx(np.sqrt(2 * 16))
    # a contracting recurrence: the gradient vanishes going back in time
    small = ref.hidden_grad_norms(*rnn_inputs(0, T=30, radius=0.5))
    assert small[0] < 1e-6 * small[-1]
    # float32 and numpy inputs
    args = rnn_inputs(7, dtype=torch.float32)
    assert np.allclose(ref.hidden_grad_norms(*[a.numpy() for a in args]), _bptt_by_hand(*args), rtol=1e-4)


# ---- clip_grad_norm against torch -----------------------------------------------------------------

def clip_inputs():
    g = torch.Generator().manual_seed(3)
    big = [torch.randn(4, 3, generator=g, dtype=torch.float64) * 3, torch.randn(5, generator=g, dtype=torch.float64) * 0.2]
    small = [torch.randn(3, 2, generator=g, dtype=torch.float64) * 0.1, torch.randn(2, generator=g, dtype=torch.float64) * 0.1]
    f32 = [torch.randn(6, generator=g) * 2, torch.randn(2, 2, generator=g), torch.randn(3, generator=g) * 5]
    return [(big, 2.0), (small, 5.0), (f32, 1.0), (f32, 100.0), ([big[0]], 1.5), (big, 1)]


def test_clip_grad_norm_equals_torch():
    cases = clip_inputs() + [([torch.zeros(3), torch.zeros(2, 2)], 1.0)]
    g = torch.Generator().manual_seed(11)
    for _ in range(30):
        tensors = [torch.randn(*shape, generator=g) * float(torch.rand(1, generator=g) * 4)
                   for shape in ((3,), (2, 4), (5, 1, 2))]
        cases.append((tensors, float(torch.rand(1, generator=g) * 6) + 0.01))
    for grads, max_norm in cases:
        kept = copy.deepcopy(grads)
        params = [nn.Parameter(torch.zeros_like(t)) for t in grads]
        for p, t in zip(params, grads):
            p.grad = t.clone()
        want_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        clipped, total = ref.clip_grad_norm(grads, max_norm)
        assert isinstance(total, float) and total == pytest.approx(float(want_norm), rel=1e-7)
        for c, p in zip(clipped, params):
            assert c.dtype == p.grad.dtype and torch.allclose(c, p.grad, rtol=1e-7, atol=0)
        assert all(torch.equal(a, b) for a, b in zip(grads, kept))     # inputs untouched
    clipped, total = ref.clip_grad_norm([np.ones(4)], 1.0)             # numpy in, tensors out
    assert float(total) == 2.0 and torch.allclose(clipped[0], torch.full((4,), 0.5, dtype=torch.float64), rtol=1e-5)


def test_clip_variants_differ_from_reference_where_they_should():
    (big, m1), (small, m2) = clip_inputs()[:2]
    want_big, want_small = ref.clip_grad_norm(big, m1), ref.clip_grad_norm(small, m2)
    for label, fn in ref.PITFALLS.variants["clip_grad_norm"]:
        if label == "clips-below-threshold":
            assert not same(fn(small, m2), want_small)
        else:
            assert not same(fn(big, m1), want_big), label
    # a variant that clips like the reference on these inputs keeps its norm unmasked
    clipped, norm = ref.clip_grad_norm_per_tensor(small, m2)
    assert not isinstance(norm, np.ma.MaskedArray)


# ---- train_truncated_bptt -------------------------------------------------------------------------

def test_tbptt_reference_trace():
    for state in ("tensor", "tuple"):
        trace = H.tbptt_trace(namespace(), state=state, n_chunks=4)
        assert trace["error"] is None and diagnose_tbptt(trace) is None
        forwards = [e for e in trace["events"] if e[0] == "forward"]
        assert [e[1] for e in forwards] == [0, 1, 2, 3]
        assert forwards[0][2]["kind"] == "none"
        assert all(e[2]["kind"] == state and e[2]["equals_previous"] and not any(e[2]["requires_grad"])
                   for e in forwards[1:])
        assert sum(e[0] == "step" for e in trace["events"]) == 4
        losses = [e[1] for e in trace["events"] if e[0] == "loss"]
        assert trace["returned"] == pytest.approx(losses) and trace["returned_types"] == ["float"] * 4

    # the same training written out with torch's own modules, state carried and detached
    chunks = H.make_chunks(0, 3, 2, 4, 3, 4)
    torch.manual_seed(0)
    rnn, head = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 4)
    opt = torch.optim.SGD(list(rnn.parameters()) + list(head.parameters()), lr=0.1)
    state, losses = None, []
    for x, y in chunks:
        opt.zero_grad()
        out, state = rnn(x, state)
        loss = nn.functional.cross_entropy(head(out).reshape(-1, 4), y.reshape(-1))
        loss.backward()
        opt.step()
        state = tuple(s.detach() for s in state)
        losses.append(loss.item())
    trace = H.tbptt_trace(namespace(), state="tuple", n_chunks=3)
    assert trace["returned"] == pytest.approx(losses, rel=1e-6)
    want = list(rnn.parameters()) + list(head.parameters())
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(trace["weights"], want))


# ---- the corpus -----------------------------------------------------------------------------------

def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert {label for label, _, _ in corpus.MUTANTS} >= LABELS.required
    for fn in LABELS.functions:
        assert sum(1 for f, _ in corpus.ALTERNATIVES if f == fn) >= 2, fn
    for label, fn, _ in corpus.MUTANTS:
        assert label in LABELS and fn in LABELS.functions


def numeric_inputs(function):
    if function == "clip_grad_norm":
        return [(g, m) for g, m in clip_inputs()]
    return [rnn_inputs(s, radius=r) for s, r in ((0, None), (1, 0.9), (2, 1.5))] + \
        [rnn_inputs(3, T=12, B=1, D=2, Hd=3, radius=0.7)]


def _caught(label, function, source) -> str:
    ns = namespace(source)
    if function == "train_truncated_bptt":
        for state in ("tensor", "tuple"):
            trace = H.tbptt_trace(ns, state=state)
            if diagnose_tbptt(trace) not in (None, label):
                return f"diagnosed {diagnose_tbptt(trace)} on {state}"
        got = {diagnose_tbptt(H.tbptt_trace(ns, state=s)) for s in ("tensor", "tuple")}
        return "" if label in got else f"diagnosed {got}"
    variants = [fn for lab, fn in ref.PITFALLS.variants.get(function, []) if lab == label]
    differs = False
    for args in numeric_inputs(function):
        kept = copy.deepcopy(args)
        got = ns[function](*copy.deepcopy(args)) if label != "mutates-input" else ns[function](*args)
        if label == "mutates-input":
            differs |= not all(torch.equal(a, b) for a, b in zip(args[0], kept[0]))
            continue
        want = getattr(ref, function)(*copy.deepcopy(args))
        if not same(got, want):
            differs = True
            if not any(same(got, v(*copy.deepcopy(args))) for v in variants):
                return f"no {label} variant reproduces the output on input {len(args)}"
    return "" if differs else "never differs from the reference"


@pytest.mark.parametrize("label,function,source", corpus.MUTANTS,
                         ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(corpus.MUTANTS)])
def test_mutant_is_caught_with_its_label(label, function, source):
    assert _caught(label, function, source) == ""


@pytest.mark.parametrize("function,source", corpus.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(corpus.ALTERNATIVES)])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    if function == "train_truncated_bptt":
        for state in ("tensor", "tuple"):
            got, want = H.tbptt_trace(ns, state=state), H.tbptt_trace(namespace(), state=state)
            assert diagnose_tbptt(got) is None and got["error"] is None
            assert same(got["returned"], want["returned"]) and same(got["weights"], want["weights"])
            steps = [e for e in got["events"] if e[0] == "step"]
            assert same(steps, [e for e in want["events"] if e[0] == "step"])
        return
    for args in numeric_inputs(function):
        kept = copy.deepcopy(args)
        got = ns[function](*args)
        assert same(got, getattr(ref, function)(*copy.deepcopy(kept))), function
        assert same(list(args[0]) if function == "clip_grad_norm" else args, list(kept[0])
                    if function == "clip_grad_norm" else kept, rtol=0, atol=0)
