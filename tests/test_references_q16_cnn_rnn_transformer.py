"""q16: the complexity functions agree with what stacked torch convolutions reach, the positional
encoding with the formula of "Attention Is All You Need", and the three reference sequence models are
causal and learn; the mutants are caught with their labels and the alternatives pass."""
from __future__ import annotations

import importlib
import importlib.util
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autograder.labels.q16_cnn_rnn_transformer import LABELS, sequence_model_problem
from autograder.references import q16_cnn_rnn_transformer as ref

ROOT = Path(__file__).resolve().parents[1]
corpus = importlib.import_module("mutants.q16_cnn_rnn_transformer")
SETUP = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
KINDS = ("cnn", "rnn", "transformer")


def _load_harness():
    path = ROOT / "autograder" / "harnesses" / "q16_cnn_rnn_transformer.py"
    spec = importlib.util.spec_from_file_location("q16_harness_under_test", path)
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


def diagnose(trace):
    """The label the checks' rules give a sequence_model_trace, or None."""
    problem = sequence_model_problem(trace)
    return problem[0] if problem else None


def same(got, want, rtol=1e-5, atol=1e-6) -> bool:
    arrays = (torch.Tensor, np.ndarray, float, int, np.generic)
    if isinstance(got, arrays) and isinstance(want, arrays):
        g = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
        w = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
        return g.shape == w.shape and bool(np.allclose(g.astype(float), w.astype(float), rtol=rtol, atol=atol))
    return got == want


# ---- complexity -----------------------------------------------------------------------------------

def _convs_needed(n, kernel):
    """The fewest stacked stride-1 causal convolutions (torch's own) whose last output depends on the
    first of n inputs."""
    x = torch.zeros(1, 1, n, requires_grad=True)
    h, layers = x, 0
    while True:
        grad = torch.autograd.grad(h[0, 0, -1], x, allow_unused=True, retain_graph=True)[0]
        if grad is not None and grad[0, 0, 0] != 0:
            return layers
        conv = nn.Conv1d(1, 1, kernel, padding=kernel - 1, bias=False)
        nn.init.ones_(conv.weight)
        h = conv(h)[..., :n]
        layers += 1


def test_complexity_functions():
    for n in (1, 2, 3, 5, 8, 16, 17, 100):
        for kernel in (2, 3, 4, 5, 7):
            assert ref.max_path_length("cnn", n, kernel) == _convs_needed(n, kernel), (n, kernel)
        assert ref.max_path_length("rnn", n) == n - 1 and ref.max_path_length("self_attention", n) == 1
        assert ref.max_path_length("cnn", n) == math.ceil((n - 1) / 2)
        assert (ref.sequential_operations("rnn", n), ref.sequential_operations("cnn", n),
                ref.sequential_operations("self_attention", n)) == (n, 1, 1)
        for d in (1, 8, 512):
            for kernel in (3, 5):
                assert ref.layer_flops("rnn", n, d, kernel) == n * d * d
                assert ref.layer_flops("cnn", n, d, kernel) == kernel * n * d * d
                assert ref.layer_flops("self_attention", n, d, kernel) == n * n * d
            assert ref.layer_flops("cnn", n, d) == 3 * n * d * d
    # attention is cheaper per layer than a recurrence exactly when n < d
    assert ref.layer_flops("self_attention", 100, 512) < ref.layer_flops("rnn", 100, 512)
    assert ref.layer_flops("self_attention", 4096, 512) > ref.layer_flops("rnn", 4096, 512)
    for fn, args in ((ref.max_path_length, ("lstm", 4)), (ref.sequential_operations, ("transformer", 4)),
                     (ref.layer_flops, ("mlp", 4, 2))):
        with pytest.raises(ValueError):
            fn(*args)
    assert all(type(v) is int for v in (ref.max_path_length("cnn", 10), ref.layer_flops("cnn", 10, 4)))


# ---- sinusoidal_positional_encoding ---------------------------------------------------------------

def _paper(T, d):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), element by element."""
    pe = np.zeros((T, d))
    for pos in range(T):
        for col in range(d):
            i = col // 2
            angle = pos / 10000 ** (2 * i / d)
            pe[pos, col] = math.sin(angle) if col % 2 == 0 else math.cos(angle)
    return pe


def test_positional_encoding_equals_the_paper():
    for T, d in ((1, 2), (4, 8), (50, 16), (128, 64), (7, 5), (10, 1)):
        got = ref.sinusoidal_positional_encoding(T, d)
        assert isinstance(got, torch.Tensor) and got.shape == (T, d)
        assert np.allclose(got.double().numpy(), _paper(T, d), atol=1e-6, rtol=0)
    pe = ref.sinusoidal_positional_encoding(20, 16).double()
    assert torch.all(pe[0, 0::2] == 0) and torch.all(pe[0, 1::2] == 1)


def test_float32_encodings_differ_from_the_exact_one_only_in_rounding():
    """The PyTorch tutorial computes angles in float32: the error grows with the position, so a check
    must use atol ~1e-5 (or T <= 20) to pass it."""
    ns = namespace(dict(corpus.ALTERNATIVES)["sinusoidal_positional_encoding"])
    for T, d, atol in ((20, 16, 2e-6), (128, 64, 2e-5)):
        err = (ns["sinusoidal_positional_encoding"](T, d).double() - torch.tensor(_paper(T, d))).abs().max()
        assert err < atol, (T, d, float(err))


def test_positional_encoding_variants_differ():
    want = ref.sinusoidal_positional_encoding(12, 16)
    for label, v in ref.PITFALLS.variants["sinusoidal_positional_encoding"]:
        assert not same(v(12, 16), want), (label, v.__name__)


# ---- build_sequence_model -------------------------------------------------------------------------

def test_reference_sequence_models_are_causal_and_learn():
    for kind in KINDS:
        trace = H.sequence_model_trace(namespace(), kind=kind)
        assert trace["shape"] == [2, 10, 11]
        assert max(trace["future_effect"] + trace["suffix_effect"]) < 1e-6
        learning = trace["learning"]
        assert learning["loss_after"] < 0.5 * learning["loss_before"], (kind, learning)
        assert diagnose(trace) is None
    with pytest.raises(ValueError):
        ref.build_sequence_model("mlp", 11, 32)
    # other sizes, and d_model not divisible by 4
    for kind in KINDS:
        trace = H.sequence_model_trace(namespace(), kind=kind, vocab_size=7, d_model=6, T=5, learn=False)
        # (float32 rounding may differ between the rows of a batch: 1e-7, far below any leak)
        assert trace["shape"] == [2, 5, 7] and max(trace["future_effect"] + trace["suffix_effect"]) < 1e-6


def test_the_causality_probe_sees_a_leak_of_one_position():
    class PeekOne(nn.Module):       # output t reads token t+1: the smallest leak there is
        def __init__(self, vocab, d):
            super().__init__()
            self.emb, self.head = nn.Embedding(vocab, d), nn.Linear(d, vocab)

        def forward(self, tokens):
            nxt = torch.cat([tokens[:, 1:], tokens[:, -1:]], dim=1)
            return self.head(self.emb(tokens) + self.emb(nxt))

    trace = H.sequence_model_trace({"build_sequence_model": lambda k, v, d: PeekOne(v, d)}, learn=False)
    assert all(e > 0 for e in trace["future_effect"])
    assert diagnose(trace) == "future-leak"


# ---- the corpus -----------------------------------------------------------------------------------

def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert {label for label, _, _ in corpus.MUTANTS} >= LABELS.required
    for fn in LABELS.functions:
        assert sum(1 for f, _ in corpus.ALTERNATIVES if f == fn) >= 2, fn
    for label, fn, _ in corpus.MUTANTS:
        assert label in LABELS and fn in LABELS.functions


PE_SIZES = ((12, 16), (6, 4), (20, 32))
ARGS = {"max_path_length": [(a, n, k) for a in ref.ARCHS for n in (2, 9, 16) for k in (2, 3, 5)],
        "sequential_operations": [(a, n) for a in ref.ARCHS for n in (1, 7, 30)],
        "layer_flops": [(a, n, d, k) for a in ref.ARCHS for n in (3, 10) for d in (4, 64) for k in (3, 5)]}


@pytest.mark.parametrize("label,function,source", corpus.MUTANTS,
                         ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(corpus.MUTANTS)])
def test_mutant_is_caught_with_its_label(label, function, source):
    ns = namespace(source)
    if function == "build_sequence_model":
        got = {kind: diagnose(H.sequence_model_trace(ns, kind=kind, learn=label == "cannot-learn"))
               for kind in KINDS}
        assert set(got.values()) == {label, None} and label in got.values(), got
        return
    variants = [v for lab, v in ref.PITFALLS.variants[function] if lab == label]
    if function in ARGS:
        wrong = [args for args in ARGS[function] if ns[function](*args) != getattr(ref, function)(*args)]
        assert wrong, "never differs from the reference"
        assert all(any(ns[function](*args) == v(*args) for v in variants) for args in wrong), wrong
        return
    for T, d in PE_SIZES:
        got = ns[function](T, d)
        assert not same(got, ref.sinusoidal_positional_encoding(T, d))
        assert any(same(got, v(T, d)) for v in variants), (T, d)


@pytest.mark.parametrize("function,source", corpus.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(corpus.ALTERNATIVES)])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    if function == "build_sequence_model":
        for kind in KINDS:
            trace = H.sequence_model_trace(ns, kind=kind)
            assert diagnose(trace) is None, (kind, trace["learning"], trace["future_effect"])
        return
    if function == "sinusoidal_positional_encoding":
        for T, d in PE_SIZES:
            assert same(ns[function](T, d), ref.sinusoidal_positional_encoding(T, d)), (T, d)
        return
    for args in ARGS[function]:
        assert ns[function](*args) == getattr(ref, function)(*args), args


def test_complexity_variants_name_their_mistakes():
    assert ref.max_path_length_floor("cnn", 11, 4) == 3 != ref.max_path_length("cnn", 11, 4)
    assert ref.max_path_length_over_kernel("cnn", 10, 3) == 3 != ref.max_path_length("cnn", 10, 3)
    assert ref.max_path_length_rnn_n("rnn", 10) == 10
    assert ref.layer_flops_swapped("rnn", 10, 4) == ref.layer_flops("self_attention", 10, 4)
    assert ref.layer_flops_cnn_without_kernel("cnn", 10, 4, 5) == 160
