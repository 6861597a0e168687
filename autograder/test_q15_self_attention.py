"""Checks for q15_self_attention. Inputs come from nb.rng / nb.seed (public and hidden runs); the
expected values and the mistakes' results come from the oracle.

MultiHeadAttention is a module: its checks run the harness `mha_forward` (harnesses/
q15_self_attention.py) on the student's class, which loads the check's weights into q_proj,
k_proj, v_proj and out_proj and runs forward, and ask the oracle for the same harness's trace on
the references, whose class is nn.MultiheadAttention(batch_first=True) holding those weights.
kv_cache_attention is checked for its values and, with the harness `kv_cache_run`, for decoding
one token at a time through kv_cache_step (which the reference answers there, so that
kv_cache_attention is charged only for its own mistakes).
"""
import numpy as np
import pytest
import torch

from autograder.labels.q15_self_attention import FORBIDDEN
from whiteboard.grading.compare import mismatch, show


def randn(nb, k, *shape):
    """A float32 tensor of standard normal entries."""
    return torch.from_numpy(nb.rng(k).standard_normal(shape).astype(np.float32))


def ints(nb, k, low, high):
    return int(nb.rng(k).integers(low, high))


def random_mask(nb, k, *shape):
    """A random boolean mask in which every query (row) may attend to at least one key."""
    rng = nb.rng(k)
    m = torch.from_numpy(rng.uniform(size=shape) < 0.55)
    first = torch.zeros(shape[-1], dtype=torch.bool)
    first[int(rng.integers(shape[-1]))] = True
    return m | first  # one always-allowed key per row


def causal(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def key_padding(lengths, T):
    """(B, 1, T) mask: True for the first lengths[b] keys of sequence b."""
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None])[:, None, :]


def expect(nb, function, *args, **kwargs):
    return nb.expect(function, *args, forbidden=FORBIDDEN[function], **kwargs)


# ---- scaled_dot_product_attention ---------------------------------------------------------------

@pytest.mark.grades("scaled_dot_product_attention")
class TestScaledDotProductAttention:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        """5 queries over 7 keys, d_k = 16, d_v = 6: the output and the weights"""
        expect(nb, "scaled_dot_product_attention", randn(nb, 0, 2, 5, 16), randn(nb, 1, 2, 7, 16),
               randn(nb, 2, 2, 7, 6))

    @pytest.mark.points(2)
    def test_causal_mask(self, nb):
        """a causal (T, T) mask"""
        expect(nb, "scaled_dot_product_attention", randn(nb, 3, 1, 6, 4), randn(nb, 4, 1, 6, 4),
               randn(nb, 5, 1, 6, 3), causal(6))

    @pytest.mark.points(1)
    def test_padding_mask(self, nb):
        """a key-padding mask (B, 1, Tk) broadcast over the queries, Tq != Tk"""
        lengths = [ints(nb, 9, 1, 6), 6]
        expect(nb, "scaled_dot_product_attention", randn(nb, 6, 2, 4, 8), randn(nb, 7, 2, 6, 8),
               randn(nb, 8, 2, 6, 5), key_padding(lengths, 6))

    @pytest.mark.points(1)
    def test_heads_and_broadcast_mask(self, nb):
        """extra batch dimensions (B, heads, T, d) and one (Tq, Tk) mask for all of them"""
        expect(nb, "scaled_dot_product_attention", randn(nb, 10, 2, 3, 4, 8), randn(nb, 11, 2, 3, 6, 8),
               randn(nb, 12, 2, 3, 6, 4), random_mask(nb, 13, 4, 6))

    @pytest.mark.points(1)
    def test_single_sequence(self, nb):
        """no batch dimension; then one query over four keys"""
        expect(nb, "scaled_dot_product_attention", randn(nb, 14, 3, 4), randn(nb, 15, 5, 4),
               randn(nb, 16, 5, 2))
        expect(nb, "scaled_dot_product_attention", randn(nb, 17, 1, 1, 8), randn(nb, 18, 1, 4, 8),
               randn(nb, 19, 1, 4, 3), random_mask(nb, 20, 1, 4))


# ---- causal_mask --------------------------------------------------------------------------------

@pytest.mark.grades("causal_mask")
class TestCausalMask:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """a mask for 4 to 8 tokens"""
        expect(nb, "causal_mask", ints(nb, 30, 4, 9))

    @pytest.mark.points(1)
    def test_sizes(self, nb):
        """one token, and a longer sequence"""
        expect(nb, "causal_mask", 1)
        expect(nb, "causal_mask", ints(nb, 31, 9, 17))

    @pytest.mark.points(1)
    def test_bool_tensor(self, nb):
        """a torch.bool tensor, as masked_fill and torch.where need"""
        expect(nb, "causal_mask", ints(nb, 32, 2, 7), strict_type=True)


# ---- MultiHeadAttention -------------------------------------------------------------------------

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def mha_weights(nb, k, d_model):
    """Weights for the four projections: name -> {"weight": (D, D), "bias": (D,)}."""
    rng = nb.rng(k)
    bound = 1 / np.sqrt(d_model)
    return {name: {"weight": torch.from_numpy(rng.uniform(-2 * bound, 2 * bound, (d_model, d_model))
                                              .astype(np.float32)),
                   "bias": torch.from_numpy(rng.uniform(-bound, bound, d_model).astype(np.float32))}
            for name in PROJECTIONS}


def _mha_call_text(d_model, n_heads, x, mask):
    text = (f"MultiHeadAttention(d_model={d_model}, n_heads={n_heads}) with the test weights "
            f"loaded into q_proj, k_proj, v_proj, out_proj, then forward(x"
            + (", mask)" if mask is not None else ")") + f" with\n    x = {show(x)}")
    if mask is not None:
        text += f"\n    mask = {show(mask)}"
    return text


def _projection_problem(nb, got, called):
    label = ("missing-output-projection" if "out_proj is missing" in got["problems"]
             else "projection-layers-wrong")
    return nb.fail(label, f"{called}\nThe module's projections are not as asked: "
                   + "; ".join(got["problems"]) + ".")


def check_mha(nb, d_model, n_heads, x, mask=None, k=0):
    params = dict(d_model=d_model, n_heads=n_heads, weights=mha_weights(nb, k, d_model), x=x, mask=mask)
    got = nb.run("MultiHeadAttention", "mha_forward", params, forbidden=FORBIDDEN["MultiHeadAttention"])
    called = _mha_call_text(d_model, n_heads, x, mask)
    if got["problems"]:
        raise _projection_problem(nb, got, called)
    expected = nb.trace("mha_forward", params, "MultiHeadAttention")["out"]
    problem = mismatch(got["out"], expected)
    if problem is None:
        return
    wrong = [(label, trace["out"]) for label, trace in
             nb.variant_traces("mha_forward", params, "MultiHeadAttention")]
    label = nb.match_variant(got["out"], wrong,
                             lambda g, e: mismatch(g, e, equal_nan=True) is None) or problem[0]
    raise nb.fail(label, f"{called}\n  expected (nn.MultiheadAttention with the same weights): "
                  f"{show(expected)}\n  got:      {show(got['out'])}\n  ({problem[1]})")


@pytest.mark.grades("MultiHeadAttention")
class TestMultiHeadAttention:
    @pytest.mark.points(1)
    def test_projection_layers(self, nb):
        """q_proj, k_proj, v_proj and out_proj are nn.Linear(d_model, d_model) with a bias"""
        n_heads = ints(nb, 40, 1, 4)
        d_model = n_heads * ints(nb, 41, 2, 6)
        got = nb.run("MultiHeadAttention", "mha_structure", dict(d_model=d_model, n_heads=n_heads),
                     forbidden=FORBIDDEN["MultiHeadAttention"])
        if got["problems"]:
            label = ("missing-output-projection" if "out_proj is missing" in got["problems"]
                     else "projection-layers-wrong")
            raise nb.fail(label, f"MultiHeadAttention(d_model={d_model}, n_heads={n_heads}): "
                          + "; ".join(got["problems"]) + f".\n  its parameters: {got['parameters']}")

    @pytest.mark.points(3)
    def test_matches_nn_multihead_attention(self, nb):
        """3 heads on d_model = 12, no mask: equals nn.MultiheadAttention"""
        check_mha(nb, 12, 3, randn(nb, 42, 2, 5, 12), k=43)

    @pytest.mark.points(2)
    def test_causal_mask(self, nb):
        """2 heads with a causal (T, T) mask"""
        check_mha(nb, 8, 2, randn(nb, 44, 2, 6, 8), causal(6), k=45)

    @pytest.mark.points(1)
    def test_broadcast_padding_mask(self, nb):
        """a key-padding mask (B, 1, 1, T)"""
        mask = key_padding([ints(nb, 46, 1, 5), 5], 5)[:, None]
        check_mha(nb, 8, 2, randn(nb, 47, 2, 5, 8), mask, k=48)

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one: one head; then four heads with a causal mask"""
        check_mha(nb, 6, 1, randn(nb, 49, 1, 4, 6), k=50)
        check_mha(nb, 8, 4, randn(nb, 51, 1, 3, 8), causal(3), k=52)


# ---- attention_score_flops ----------------------------------------------------------------------

@pytest.mark.grades("attention_score_flops")
class TestAttentionScoreFlops:
    @pytest.mark.points(1)
    def test_small(self, nb):
        """a few tokens of a few dimensions"""
        expect(nb, "attention_score_flops", ints(nb, 60, 3, 9), ints(nb, 61, 2, 17))

    @pytest.mark.points(1)
    def test_long_context(self, nb):
        """thousands of tokens"""
        expect(nb, "attention_score_flops", ints(nb, 62, 1024, 8193), 128)

    @pytest.mark.points(1)
    def test_edge_cases(self, nb):
        """one token; one dimension"""
        expect(nb, "attention_score_flops", 1, ints(nb, 63, 16, 129))
        expect(nb, "attention_score_flops", ints(nb, 64, 2, 9), 1)


# ---- kv_cache_step ------------------------------------------------------------------------------

def cache_of(nb, k, t, d_k, d_v):
    return (randn(nb, k, t, d_k), randn(nb, k + 1000, t, d_v))


@pytest.mark.grades("kv_cache_step")
class TestKVCacheStep:
    @pytest.mark.points(2)
    def test_first_step(self, nb):
        """the first step: cache None"""
        expect(nb, "kv_cache_step", randn(nb, 70, 4), randn(nb, 71, 4), randn(nb, 72, 3), None)

    @pytest.mark.points(3)
    def test_step_with_cache(self, nb):
        """a step after four earlier tokens: the output and the grown cache"""
        expect(nb, "kv_cache_step", randn(nb, 73, 8), randn(nb, 74, 8), randn(nb, 75, 5),
               cache_of(nb, 76, 4, 8, 5))

    @pytest.mark.points(2)
    def test_long_cache(self, nb):
        """d_k = 32 after nine earlier tokens"""
        expect(nb, "kv_cache_step", randn(nb, 77, 32), randn(nb, 78, 32), randn(nb, 79, 6),
               cache_of(nb, 80, 9, 32, 6))


# ---- kv_cache_attention -------------------------------------------------------------------------

@pytest.mark.grades("kv_cache_attention")
class TestKVCacheAttention:
    @pytest.mark.points(2)
    def test_matches_causal_attention(self, nb):
        """6 tokens, d_k = 8, d_v = 3: equals causal attention over the whole sequence"""
        expect(nb, "kv_cache_attention", randn(nb, 90, 6, 8), randn(nb, 91, 6, 8), randn(nb, 92, 6, 3))

    @pytest.mark.points(2)
    def test_one_step_per_token(self, nb):
        """calls kv_cache_step once per token, passing on the cache each step returned"""
        params = dict(q=randn(nb, 93, 5, 4), k=randn(nb, 94, 5, 4), v=randn(nb, 95, 5, 2))
        got = nb.run("kv_cache_attention", "kv_cache_run", params,
                     forbidden=FORBIDDEN["kv_cache_attention"])
        want = nb.trace("kv_cache_run", params, "kv_cache_attention")["cache_lengths"]
        lengths = list(got["cache_lengths"])
        if lengths == list(want):
            return
        seen = (f"kv_cache_attention(q, k, v) on 5 tokens called kv_cache_step {len(lengths)} times "
                f"with caches of {lengths} tokens; expected {len(want)} calls with {list(want)}.")
        if not lengths:
            raise nb.fail("kv-cache-step-not-used", seen)
        if all(n == 0 for n in lengths) or lengths == lengths[:1] * len(lengths):
            raise nb.fail("cache-not-updated", seen)
        raise nb.fail("wrong-value", seen)

    @pytest.mark.points(1)
    def test_single_token(self, nb):
        """a sequence of one token"""
        expect(nb, "kv_cache_attention", randn(nb, 96, 1, 4), randn(nb, 97, 1, 4), randn(nb, 98, 1, 2))
