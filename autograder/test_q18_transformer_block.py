"""Checks for q18_transformer_block.

layer_norm, the mask functions and gpt_param_count are called with plain data and compared with
the oracle's values (gpt_param_count's reference counts the parameters of a real model built from
the block). TransformerBlock and greedy_decode need objects, so their checks run a harness of
autograder/harnesses/q18_transformer_block.py in the worker: the block is built, the check's
weights are loaded into ln1, attn, ln2 and ff and its outputs are compared with the same harness
run on the reference (nn.LayerNorm, nn.MultiheadAttention and the GELU feed-forward network
composed as the catalogue says); greedy decoding runs on a tiny causal language model that
records the mode and the grad mode of every forward call. Inputs come from nb.rng / nb.seed, so
the hidden run varies them.
"""
import numpy as np
import pytest
import torch

from autograder.labels.q18_transformer_block import FORBIDDEN
from whiteboard.grading.compare import mismatch, show

TOL = dict(rtol=1e-4, atol=1e-5)  # float32 blocks: nn.MultiheadAttention against written-out attention


# ---- inputs ----------------------------------------------------------------------------------------

def normal(nb, k, *shape, scale=1.0, shift=0.0, dtype=np.float64):
    return torch.from_numpy((nb.rng(k).normal(size=shape) * scale + shift).astype(dtype))


def ints(nb, k, low, high):
    """An int in [low, high)."""
    return int(nb.rng(k).integers(low, high))


def mixed_mask(nb, k, T):
    """(T, T) bool, True = may attend: every query has at least one allowed and one blocked key."""
    rng = nb.rng(k)
    m = rng.uniform(size=(T, T)) < 0.5
    rows = np.arange(T)
    m[rows, rows] = True
    m[rows, (rows + rng.integers(1, T, size=T)) % T] = False
    return torch.from_numpy(m)


def causal_with_gap(T):
    """A causal mask whose last query also has a blocked key (the first)."""
    m = torch.tril(torch.ones(T, T, dtype=torch.bool))
    m[T - 1, 0] = False
    return m


def mixed_lengths(nb, k, B, T):
    """A LongTensor (B,) of lengths in 1..T: one full sequence, the others padded."""
    rng = nb.rng(k)
    lengths = rng.integers(1, T, size=B)
    lengths[int(rng.integers(B))] = T
    return torch.from_numpy(lengths.astype(np.int64))


# ---- layer_norm ----------------------------------------------------------------------------------

def expect_layer_norm(nb, *args, **kwargs):
    return nb.expect("layer_norm", *args, forbidden=FORBIDDEN["layer_norm"], **kwargs)


@pytest.mark.grades("layer_norm")
class TestLayerNorm:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """a batch of 4 rows of 6 features, with gamma and beta"""
        expect_layer_norm(nb, normal(nb, 0, 4, 6, scale=2.0, shift=1.0), normal(nb, 1, 6),
                          normal(nb, 2, 6))

    @pytest.mark.points(1)
    def test_any_leading_shape(self, nb):
        """(B, T, d) input, and a single row"""
        expect_layer_norm(nb, normal(nb, 3, 2, 3, 5, scale=3.0), normal(nb, 4, 5), normal(nb, 5, 5))
        expect_layer_norm(nb, normal(nb, 6, 1, 8, shift=-2.0), normal(nb, 7, 8), normal(nb, 8, 8))

    @pytest.mark.points(2)
    def test_eps_placement(self, nb):
        """rows with a tiny spread, and a large eps"""
        d = ints(nb, 9, 4, 8)
        ones, zeros = torch.ones(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
        expect_layer_norm(nb, normal(nb, 10, 3, d, scale=1e-3), ones, zeros)
        expect_layer_norm(nb, normal(nb, 11, 4, 6), normal(nb, 12, 6), normal(nb, 13, 6), eps=0.5)


# ---- TransformerBlock ----------------------------------------------------------------------------

def block_text(d, h, f, pre_norm, inputs, i=None):
    shown = inputs if i is None else [inputs[i]]
    parts = []
    for x, mask in shown:
        part = f"x of shape {tuple(x.shape)}"
        if mask is not None:
            part += " and mask (1 = may attend) =\n    " + show(mask.int(), limit=64).replace("\n", "\n    ")
        parts.append(part)
    return (f"TransformerBlock({d}, {h}, {f}, pre_norm={pre_norm}) with the check's weights loaded "
            f"into ln1, attn, ln2, ff, in eval mode, on " + "; ".join(parts))


def check_block(nb, k, d, h, f, pre_norm, inputs):
    params = dict(d_model=d, n_heads=h, d_ff=f, pre_norm=pre_norm,
                  inputs=[[x, mask] for x, mask in inputs], seed=nb.seed(k))
    got = nb.run("TransformerBlock", "block_forward", params)
    if got["problems"]:
        raise nb.fail("submodules-misnamed", f"{block_text(d, h, f, pre_norm, inputs)}:\n"
                      + "; ".join(got["problems"]))
    if "tuple" in got["out_types"]:
        raise nb.fail("wrong-type", f"{block_text(d, h, f, pre_norm, inputs)}: forward returned a "
                      "tuple (nn.MultiheadAttention's (output, weights)?); it must return one "
                      "tensor (B, T, d_model). Take [0] of the attention's result.")
    want = nb.trace("block_forward", params, "TransformerBlock")["outs"]
    for i, (g, w) in enumerate(zip(got["outs"], want)):
        problem = mismatch(g, w, **TOL)
        if problem is None:
            continue
        wrong = [(label, trace["outs"]) for label, trace in
                 nb.variant_traces("block_forward", params, "TransformerBlock")]
        label = nb.match_variant(got["outs"], wrong,
                                 lambda a, b: mismatch(a, b, equal_nan=True, **TOL) is None)
        raise nb.fail(label or problem[0],
                      f"{block_text(d, h, f, pre_norm, inputs, i)}\n"
                      f"  expected (ln1, attn, ln2, ff composed as asked): {show(w)}\n"
                      f"  got:      {show(g)}\n  ({problem[1]})")


def heads_and_width(nb, k):
    h = int(nb.rng(k).choice([1, 2, 4]))
    return h, h * ints(nb, k + 1, 2, 5)


@pytest.mark.grades("TransformerBlock")
class TestTransformerBlock:
    @pytest.mark.points(1)
    def test_submodules(self, nb):
        """ln1, attn, ln2 and ff hold exactly the catalogue's parameters"""
        h, d = heads_and_width(nb, 0)
        f = 2 * d
        params = dict(d_model=d, n_heads=h, d_ff=f, pre_norm=True)
        got = nb.run("TransformerBlock", "block_structure", params)
        called = f"TransformerBlock({d}, {h}, {f})"
        if not got["is_module"]:
            raise nb.fail("wrong-type", f"{called} is not an nn.Module.")
        want = nb.trace("block_structure", params, "TransformerBlock")
        if got["state_keys"] != want["state_keys"] or got["parameters"] != want["parameters"]:
            missing = sorted(set(want["parameters"]) - set(got["parameters"]))
            extra = sorted(set(got["parameters"]) - set(want["parameters"]))
            shapes = sorted(n for n in set(got["parameters"]) & set(want["parameters"])
                            if got["parameters"][n] != want["parameters"][n])
            extra_state = sorted(set(got["state_keys"]) - set(want["state_keys"])
                                 - set(got["parameters"]))
            raise nb.fail("submodules-misnamed", f"{called}: missing parameters {missing}, "
                          f"unexpected parameters {extra}, wrong shapes {shapes}, unexpected "
                          f"buffers {extra_state}.\n  expected: {want['parameters']}")

    @pytest.mark.points(3)
    def test_pre_norm(self, nb):
        """pre-norm, no mask: equals ln1/attn/ln2/ff composed with the same weights"""
        h, d = heads_and_width(nb, 10)
        check_block(nb, 12, d, h, 4 * d, True, [(normal(nb, 13, 2, 5, d, dtype=np.float32), None)])

    @pytest.mark.points(2)
    def test_post_norm(self, nb):
        """post-norm (pre_norm=False), no mask"""
        h, d = heads_and_width(nb, 20)
        check_block(nb, 22, d, h, 3 * d, False, [(normal(nb, 23, 2, 6, d, dtype=np.float32), None)])

    @pytest.mark.points(2)
    def test_mask_pre_norm(self, nb):
        """pre-norm with a (T, T) mask, True = may attend"""
        h, d = heads_and_width(nb, 30)
        T = ints(nb, 32, 4, 7)
        check_block(nb, 33, d, h, 2 * d, True,
                    [(normal(nb, 34, 3, T, d, dtype=np.float32), mixed_mask(nb, 35, T)),
                     (normal(nb, 36, 2, 5, d, dtype=np.float32), causal_with_gap(5))])

    @pytest.mark.points(1)
    def test_mask_post_norm(self, nb):
        """post-norm with a (T, T) mask"""
        h, d = heads_and_width(nb, 40)
        T = ints(nb, 42, 3, 6)
        check_block(nb, 43, d, h, 2 * d, False,
                    [(normal(nb, 44, 2, T, d, dtype=np.float32), mixed_mask(nb, 45, T))])

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one sequence, both placements, with and without a mask"""
        h, d = heads_and_width(nb, 50)
        T = ints(nb, 52, 3, 6)
        x = normal(nb, 53, 1, T, d, dtype=np.float32)
        for pre_norm in (True, False):
            check_block(nb, 54, d, h, 4 * d, pre_norm, [(x, None), (x, mixed_mask(nb, 55, T))])


# ---- masks ---------------------------------------------------------------------------------------

@pytest.mark.grades("padding_mask")
class TestPaddingMask:
    @pytest.mark.points(1)
    def test_mixed_lengths(self, nb):
        """a padded batch of sequences of mixed lengths"""
        T = ints(nb, 60, 4, 8)
        nb.expect("padding_mask", mixed_lengths(nb, 61, 4, T), T)

    @pytest.mark.points(1)
    def test_edge_lengths(self, nb):
        """one full sequence; sequences of one token"""
        T = ints(nb, 62, 2, 6)
        nb.expect("padding_mask", torch.tensor([T]), T)
        nb.expect("padding_mask", torch.tensor([1, T, 1]), T)


def check_pair_mask(nb, function, k, B, T, padded=True):
    lengths = mixed_lengths(nb, k, B, T) if padded else torch.full((B,), T, dtype=torch.long)
    nb.expect(function, lengths, T)


@pytest.mark.grades("encoder_attention_mask")
class TestEncoderAttentionMask:
    @pytest.mark.points(2)
    def test_padded_batch(self, nb):
        """a padded batch of mixed lengths: (B, 1, T, T)"""
        check_pair_mask(nb, "encoder_attention_mask", 70, 3, ints(nb, 71, 4, 8))

    @pytest.mark.points(1)
    def test_no_padding(self, nb):
        """sequences without padding: every query sees every key"""
        check_pair_mask(nb, "encoder_attention_mask", 72, 2, ints(nb, 73, 3, 7), padded=False)


@pytest.mark.grades("decoder_attention_mask")
class TestDecoderAttentionMask:
    @pytest.mark.points(2)
    def test_padded_batch(self, nb):
        """a padded batch of mixed lengths: (B, 1, T, T)"""
        check_pair_mask(nb, "decoder_attention_mask", 80, 3, ints(nb, 81, 4, 8))

    @pytest.mark.points(1)
    def test_no_padding(self, nb):
        """sequences without padding: causal only"""
        check_pair_mask(nb, "decoder_attention_mask", 82, 2, ints(nb, 83, 3, 7), padded=False)


# ---- gpt_param_count -----------------------------------------------------------------------------

def gpt_config(nb, k, tied=True):
    """(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied): builds in milliseconds."""
    rng = nb.rng(k)
    h = int(rng.choice([2, 4]))
    d = h * int(rng.integers(2, 9))
    return (int(rng.integers(20, 300)), int(rng.integers(8, 65)), d, h, int(rng.choice([2, 4])) * d,
            int(rng.integers(1, 4)), tied)


@pytest.mark.grades("gpt_param_count")
class TestGptParamCount:
    @pytest.mark.points(2)
    def test_tied_embeddings(self, nb):
        """a small GPT whose LM head is the token embedding"""
        nb.expect("gpt_param_count", *gpt_config(nb, 90, tied=True))

    @pytest.mark.points(1)
    def test_untied_head(self, nb):
        """the same with a separate LM head"""
        nb.expect("gpt_param_count", *gpt_config(nb, 91, tied=False))

    @pytest.mark.points(1)
    def test_several_configurations(self, nb):
        """deeper and wider configurations, tied and untied"""
        for i in range(3):
            V, L, d, h, f, n, tied = gpt_config(nb, 92 + i, tied=bool(i % 2))
            nb.expect("gpt_param_count", V, L, d, h, f, n + 1, tied)

    @pytest.mark.points(1)
    def test_heads_do_not_change_count(self, nb):
        """the count is the same for 1 head and for 8 heads"""
        V, L, _, _, _, n, tied = gpt_config(nb, 95)
        d = 8 * ints(nb, 96, 1, 4)
        counts = {}
        for heads in (1, 8):
            counts[heads] = nb.call("gpt_param_count", V, L, d, heads, 4 * d, n, tied)[0]
        if counts[1] != counts[8]:
            raise nb.fail("params-scale-with-heads", f"gpt_param_count({V}, {L}, {d}, n_heads, "
                          f"{4 * d}, {n}, {tied}) gave {show(counts[1])} for n_heads=1 and "
                          f"{show(counts[8])} for n_heads=8.")
        nb.expect("gpt_param_count", V, L, d, 8, 4 * d, n, tied)


# ---- greedy_decode -------------------------------------------------------------------------------

def check_greedy(nb, params, rule=None):
    desc = (f"greedy_decode(model, prompt_ids, {params['max_new_tokens']}) with prompt_ids = "
            f"{show(params['prompt'])}, on a small causal language model handed over in "
            f"{params['start_mode']} mode")
    got = nb.run("greedy_decode", "greedy_trace", params)
    forwards = [e for e in got["events"] if e[0] == "forward"]
    if rule == "eval":
        training = [i for i, e in enumerate(forwards) if e[1]]
        if training:
            raise nb.fail("missing-eval-mode", f"{desc}: {len(training)} of the {len(forwards)} "
                          "forward calls ran with model.training == True (dropout would still be "
                          "active); this model gives other tokens in training mode.")
    if rule == "no_grad":
        tracked = [i for i, e in enumerate(forwards) if e[2]]
        if tracked:
            raise nb.fail("missing-no-grad", f"{desc}: {len(tracked)} of the {len(forwards)} "
                          "forward calls ran with gradient tracking on "
                          "(torch.is_grad_enabled() was True inside the model).")
    if not got["prompt_unchanged"]:
        raise nb.fail("mutates-input", f"{desc}: prompt_ids was changed in place.")
    if not got["is_tensor"]:
        raise nb.fail("wrong-type", f"{desc} returned a {got['type']}; expected a LongTensor "
                      "(B, T + max_new_tokens).")
    want = nb.trace("greedy_trace", params, "greedy_decode")["ids"]
    problem = mismatch(got["ids"], want)
    if problem is None:
        return
    label = None
    if problem[0] != "wrong-shape":
        wrong = [(lab, t["ids"]) for lab, t in nb.variant_traces("greedy_trace", params, "greedy_decode")]
        label = nb.match_variant(got["ids"], wrong, lambda a, b: mismatch(a, b) is None)
    raise nb.fail(label or problem[0], f"{desc}\n  expected: {show(want)}\n  got:      "
                  f"{show(got['ids'])}\n  ({problem[1]})")


def prompt(nb, k, B, T):
    return torch.from_numpy(nb.rng(k).integers(0, 11, size=(B, T)).astype(np.int64))


@pytest.mark.grades("greedy_decode")
class TestGreedyDecode:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        """three prompts, five new tokens each"""
        check_greedy(nb, dict(prompt=prompt(nb, 100, 3, 4), max_new_tokens=5, seed=nb.seed(101),
                              start_mode="eval"))

    @pytest.mark.points(2)
    def test_eval_mode(self, nb):
        """a model handed over in training mode decodes in eval mode"""
        check_greedy(nb, dict(prompt=prompt(nb, 102, 2, 3), max_new_tokens=4, seed=nb.seed(103),
                              start_mode="train"), rule="eval")

    @pytest.mark.points(1)
    def test_no_grad(self, nb):
        """the forward passes run without gradient tracking"""
        check_greedy(nb, dict(prompt=prompt(nb, 104, 2, 3), max_new_tokens=3, seed=nb.seed(105),
                              start_mode="eval"), rule="no_grad")

    @pytest.mark.points(1)
    def test_edge_cases(self, nb):
        """a one-token prompt; no new tokens"""
        check_greedy(nb, dict(prompt=prompt(nb, 106, 1, 1), max_new_tokens=6, seed=nb.seed(107),
                              start_mode="eval"))
        check_greedy(nb, dict(prompt=prompt(nb, 108, 2, 3), max_new_tokens=0, seed=nb.seed(109),
                              start_mode="eval"))
