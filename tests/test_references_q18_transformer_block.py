"""q18 references agree with PyTorch, and the mutants and alternatives behave as their labels say.

Block and decoding checks go through the harness, as grading does: a variant class or function is
put in the namespace under the catalogue's name and run by the same harness.
"""
import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.harnesses import q18_transformer_block as H
from autograder.references import q18_transformer_block as R

MUTANTS = importlib.import_module("mutants.q18_transformer_block")
PRELUDE = ("import numpy as np\nimport torch\nfrom torch import nn\n"
           "import torch.nn.functional as F\n")
# Labels no output comparison can show: the check names them from the trace (or the source).
TRACE_LABELS = {"forbidden-api", "missing-eval-mode", "missing-no-grad"}


def g(seed):
    return torch.Generator().manual_seed(seed)


def allowed_and_blocked_mask(T, seed):
    """(T, T) bool: every query has at least one allowed and one blocked key."""
    m = torch.rand(T, T, generator=g(seed)) < 0.5
    idx = torch.arange(T)
    m[idx, idx] = True
    m[idx, (idx + 1) % T] = False
    return m


# ---- layer_norm -----------------------------------------------------------------------------------

def layer_norm_cases():
    out = []
    for i, shape in enumerate([(4, 6), (2, 3, 5), (1, 8), (3, 1, 4)]):
        x = torch.randn(*shape, generator=g(i), dtype=torch.float64) * 2 + 1
        gamma = torch.randn(shape[-1], generator=g(10 + i), dtype=torch.float64)
        beta = torch.randn(shape[-1], generator=g(20 + i), dtype=torch.float64)
        out.append((x, gamma, beta, 1e-5))
    # rows with a small spread, and a large eps: where eps inside or outside the sqrt matters
    x = torch.randn(3, 5, generator=g(5), dtype=torch.float64) * 1e-3 + 0.01
    out.append((x, torch.ones(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64), 1e-5))
    out.append((layer_norm_cases_base(), torch.full((6,), 1.5, dtype=torch.float64),
                torch.full((6,), 0.5, dtype=torch.float64), 0.5))
    return out


def layer_norm_cases_base():
    return torch.randn(4, 6, generator=g(7), dtype=torch.float64)


def test_layer_norm_equals_torch():
    for x, gamma, beta, eps in layer_norm_cases():
        want = F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
        assert torch.allclose(R.layer_norm(x, gamma, beta, eps), want, atol=1e-10)
        x32, g32, b32 = x.float(), gamma.float(), beta.float()
        assert torch.allclose(R.layer_norm(x32, g32, b32, eps),
                              F.layer_norm(x32, (x.shape[-1],), g32, b32, eps), atol=1e-5)
    x = torch.randn(3, 4, dtype=torch.float64)
    assert torch.allclose(R.layer_norm(x, torch.ones(4), torch.zeros(4)),
                          F.layer_norm(x, (4,)), atol=1e-7)


# ---- TransformerBlock ---------------------------------------------------------------------------

def encoder_layer_from_state(state, d, h, f, pre_norm):
    """nn.TransformerEncoderLayer with exact GELU, no dropout: the block under another name."""
    layer = nn.TransformerEncoderLayer(d, h, f, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=pre_norm)
    rename = {"ln1": "norm1", "ln2": "norm2", "attn": "self_attn", "ff.0": "linear1",
              "ff.2": "linear2"}
    mapped = {}
    for k, v in state.items():
        for a, b in rename.items():
            if k.startswith(a + "."):
                mapped[b + k[len(a):]] = v
    layer.load_state_dict(mapped, strict=True)
    return layer.eval()


def composed(state, d, h, f, pre_norm, x, mask):
    """The catalogue's formula, from separate submodules with the same weights."""
    ln1, ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
    attn = nn.MultiheadAttention(d, h, batch_first=True)
    ff = nn.Sequential(nn.Linear(d, f), nn.GELU(), nn.Linear(f, d))
    for name, mod in (("ln1", ln1), ("ln2", ln2), ("attn", attn), ("ff", ff)):
        mod.load_state_dict({k[len(name) + 1:]: v for k, v in state.items()
                             if k.startswith(name + ".")})
    with torch.no_grad():
        def sa(t):
            return attn(t, t, t, attn_mask=None if mask is None else ~mask)[0]
        if pre_norm:
            x = x + sa(ln1(x))
            return x + ff(ln2(x))
        x = ln1(x + sa(x))
        return ln2(x + ff(x))


BLOCK_CONFIGS = [(8, 2, 16), (12, 3, 20)]


def block_inputs(d, seed):
    out = []
    for i, (B, T) in enumerate([(2, 5), (1, 4)]):
        x = torch.randn(B, T, d, generator=g(seed + i))
        out.append((x, None))
        out.append((x, allowed_and_blocked_mask(T, seed + 10 + i)))
    # A causal mask whose last query also has a blocked key: otherwise an inverted mask blocks
    # that whole row (NaN), which the catalogue's checks avoid.
    causal = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    causal[3, 0] = False
    out.append((torch.randn(2, 4, d, generator=g(seed + 20)), causal))
    return out


def run_block(namespace, seed=0):
    outs = []
    for d, h, f in BLOCK_CONFIGS:
        for pre in (True, False):
            trace = H.block_forward(namespace, d, h, f, pre, block_inputs(d, seed), seed=seed)
            assert trace["problems"] == [], trace["problems"]
            outs.append(trace["outs"])
    return outs


def test_block_equals_composition_and_encoder_layer():
    for d, h, f in BLOCK_CONFIGS:
        state = H.block_state(d, f, seed=3)
        for pre in (True, False):
            trace = H.block_forward(dict(vars(R)), d, h, f, pre, block_inputs(d, 1), weights=state)
            layer = encoder_layer_from_state(state, d, h, f, pre)
            for (x, mask), got in zip(block_inputs(d, 1), trace["outs"]):
                with torch.no_grad():
                    want = layer(x, src_mask=None if mask is None else ~mask)
                assert got.shape == x.shape
                assert torch.allclose(got, want, atol=1e-5)
                assert torch.allclose(got, composed(state, d, h, f, pre, x, mask), atol=1e-5)


def test_block_is_not_a_standin():
    """A stand-in answers with plain data through a proxy: it cannot hand back a class."""
    assert "TransformerBlock" not in R.STANDINS and "greedy_decode" not in R.STANDINS


def test_block_structure_has_catalogue_keys():
    s = H.block_structure(dict(vars(R)), 8, 2, 16)
    assert set(s["state_keys"]) == set(H.block_state(8, 16))
    assert s["ff_layers"] == [["Linear", ""], ["GELU", "none"], ["Linear", ""]]


# ---- masks ---------------------------------------------------------------------------------------

LENGTHS = [(torch.tensor([3, 5, 1, 4]), 5), (torch.tensor([2]), 2), (torch.tensor([6, 2, 6]), 7)]


def test_masks_by_loops():
    for lengths, T in LENGTHS:
        B = len(lengths)
        pad = R.padding_mask(lengths, T)
        enc, dec = R.encoder_attention_mask(lengths, T), R.decoder_attention_mask(lengths, T)
        assert pad.dtype == enc.dtype == dec.dtype == torch.bool
        assert enc.shape == dec.shape == (B, 1, T, T)
        for b in range(B):
            for q in range(T):
                assert bool(pad[b, q]) == (q < lengths[b])
                for k in range(T):
                    assert bool(enc[b, 0, q, k]) == (k < lengths[b])
                    assert bool(dec[b, 0, q, k]) == (k < lengths[b] and k <= q)


def test_masks_make_padding_invisible():
    """Real tokens of a padded batch get the same attention output as the unpadded sequences."""
    lengths, T, d = torch.tensor([3, 6, 1]), 6, 4
    q, k, v = (torch.randn(3, 1, T, d, generator=g(i), dtype=torch.float64) for i in range(3))
    for make, causal in ((R.encoder_attention_mask, False), (R.decoder_attention_mask, True)):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=make(lengths, T))
        for b, n in enumerate(lengths.tolist()):
            alone = F.scaled_dot_product_attention(q[b:b + 1, :, :n], k[b:b + 1, :, :n],
                                                   v[b:b + 1, :, :n], is_causal=causal)
            assert torch.allclose(out[b:b + 1, :, :n], alone, atol=1e-12)
        assert torch.isfinite(out).all()  # padded query rows keep their key mask: no NaN


# ---- gpt_param_count -------------------------------------------------------------------------

GPT_CONFIGS = [(50, 16, 8, 2, 32, 2, True), (50, 16, 8, 2, 32, 2, False), (97, 7, 12, 3, 20, 1, True),
               (97, 7, 12, 4, 20, 3, False), (11, 5, 6, 1, 24, 0, True), (11, 5, 6, 6, 24, 1, True)]


def test_gpt_param_count_equals_a_real_model():
    for cfg in GPT_CONFIGS:
        model = R.gpt_from_blocks(*cfg)
        assert R.gpt_param_count(*cfg) == sum(p.numel() for p in model.parameters()), cfg
    model = R.gpt_from_blocks(20, 8, 8, 2, 16, 2)
    assert model(torch.randint(0, 20, (2, 5))).shape == (2, 5, 20)
    # the count does not depend on the number of heads
    assert len({R.gpt_param_count(50, 16, 12, h, 32, 2) for h in (1, 2, 3, 4, 6, 12)}) == 1


# ---- greedy_decode -------------------------------------------------------------------------------

PROMPTS = [torch.tensor([[1, 2, 3], [4, 0, 5], [7, 7, 9]]), torch.tensor([[2]])]


def run_greedy(namespace):
    return [H.greedy_trace(namespace, p, 7, seed=1) for p in PROMPTS]


def test_greedy_decode_by_hand_and_trace():
    for p in PROMPTS:
        trace = H.greedy_trace(dict(vars(R)), p, 7, seed=1)
        model = H.TinyLM([], seed=1).eval()
        ids = p.tolist()
        with torch.no_grad():
            for _ in range(7):
                for row in ids:
                    logits = model(torch.tensor([row]))[0, -1].tolist()
                    row.append(max(range(len(logits)), key=logits.__getitem__))
        assert trace["ids"].tolist() == ids
        assert trace["dtype"] == "int64" and trace["prompt_unchanged"]
        assert all(e[1] is False and e[2] is False for e in trace["events"])
        assert len(trace["events"]) == 7


# ---- mutants and alternatives --------------------------------------------------------------

def reference_namespace():
    ns = {}
    exec(PRELUDE, ns)
    ns.update(vars(R))
    return ns


def with_source(source):
    ns = reference_namespace()
    exec(source, ns)
    return ns


def run_function(function, namespace):
    """The output of `function` from `namespace` on a few seeded inputs (plain nested data)."""
    fn = namespace[function]
    if function == "layer_norm":
        return [fn(*c) for c in layer_norm_cases()]
    if function == "TransformerBlock":
        return run_block(namespace)
    if function in ("padding_mask", "encoder_attention_mask", "decoder_attention_mask"):
        return [fn(lengths.clone(), T) for lengths, T in LENGTHS]
    if function == "gpt_param_count":
        return [fn(*cfg) for cfg in GPT_CONFIGS]
    if function == "greedy_decode":
        return [t["ids"] for t in run_greedy(namespace)]
    raise KeyError(function)


def same(a, b):
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-6, equal_nan=True))
    return np.allclose(a, b, rtol=1e-9, atol=0)


def variants_of(function, label):
    return [v for lab, v in R.PITFALLS.variants.get(function, []) if lab == label]


def test_every_required_label_has_a_mutant_and_a_variant_or_trace_rule():
    covered = {label for label, _, _ in MUTANTS.MUTANTS}
    assert R.LABELS.required <= covered, R.LABELS.required - covered
    registered = {lab for vs in R.PITFALLS.variants.values() for lab, _ in vs}
    assert R.LABELS.required - TRACE_LABELS <= registered


@pytest.mark.parametrize("label,function,source", MUTANTS.MUTANTS,
                         ids=[f"{m[1]}:{m[0]}" for m in MUTANTS.MUTANTS])
def test_mutant_reproduced_by_a_variant(label, function, source):
    ns = with_source(source)
    if label in TRACE_LABELS:
        if label == "forbidden-api":
            assert "layer_norm(" in source.replace("def layer_norm(", "")
            return
        traces = run_greedy(ns)
        ref = run_greedy(reference_namespace())
        events = [e for t in traces for e in t["events"]]
        if label == "missing-eval-mode":
            assert any(e[1] for e in events)
            assert not same([t["ids"] for t in traces], [t["ids"] for t in ref])
        else:
            assert any(e[2] for e in events)
            assert same([t["ids"] for t in traces], [t["ids"] for t in ref])
        return
    got = run_function(function, ns)
    assert not same(got, run_function(function, reference_namespace())), "mutant equals the reference"
    outs = []
    for variant in variants_of(function, label):
        vns = reference_namespace()
        vns[function] = variant
        outs.append(run_function(function, vns))
    assert outs, f"no variant registered for {function}/{label}"
    assert any(same(got, o) for o in outs), f"no {label} variant reproduces the mutant"


@pytest.mark.parametrize("function,source", MUTANTS.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(MUTANTS.ALTERNATIVES)])
def test_alternative_equals_reference(function, source):
    ns = with_source(source)
    assert same(run_function(function, ns), run_function(function, reference_namespace()))
    if function == "greedy_decode":
        events = [e for t in run_greedy(ns) for e in t["events"]]
        assert not any(e[1] or e[2] for e in events)


def test_every_function_has_two_alternatives():
    counts = {}
    for function, _ in MUTANTS.ALTERNATIVES:
        counts[function] = counts.get(function, 0) + 1
    assert all(counts.get(f, 0) >= 2 for f in R.LABELS.functions), counts


def test_every_numeric_variant_differs_from_the_reference():
    """A variant equal to the reference would never name anything (trace-only labels aside)."""
    exempt = set()
    for function, variants in R.PITFALLS.variants.items():
        want = run_function(function, reference_namespace())
        for label, variant in variants:
            if label in exempt:
                continue
            ns = reference_namespace()
            ns[function] = variant
            assert not same(run_function(function, ns), want), (function, label, variant.__name__)
