"""Checks for q15_self_attention. Inputs are seeded; expected values come from the references.

MultiHeadAttention is a module: its checks build the student's class in the worker (harness
whiteboard.harnesses.q15_self_attention), load seeded weights into q_proj, k_proj, v_proj and
out_proj, and compare its output with nn.MultiheadAttention(batch_first=True) holding the same
weights, computed here.
"""
import copy

import pytest
import torch

from autograder.references import q15_self_attention as REFERENCES  # noqa: N812 - read by the plugin
from whiteboard.grading.compare import mismatch, show

ASSIGNMENT = "q15_self_attention"
FORBIDDEN = REFERENCES.FORBIDDEN
QKV = ("q", "k", "v", "mask")


def randn(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def random_mask(seed, *shape):
    """A random boolean mask in which every query (row) may attend to at least one key."""
    m = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < 0.55
    first = torch.zeros(shape[-1], dtype=torch.bool)
    first[seed % shape[-1]] = True
    return m | first  # one always-allowed key per row


def causal(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def key_padding(lengths, T):
    """(B, 1, T) mask: True for the first lengths[b] keys of sequence b."""
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None])[:, None, :]


@pytest.mark.grades("scaled_dot_product_attention")
class TestScaledDotProductAttention:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        # Tq = 5 queries, Tk = 7 keys, d_k = 8, d_v = 6: (out, weights) both compared.
        nb.expect("scaled_dot_product_attention", randn(0, 2, 5, 8), randn(1, 2, 7, 8),
                  randn(2, 2, 7, 6), names=QKV, forbidden=FORBIDDEN)

    @pytest.mark.points(2)
    def test_causal_mask(self, nb):
        nb.expect("scaled_dot_product_attention", randn(3, 1, 6, 4), randn(4, 1, 6, 4),
                  randn(5, 1, 6, 3), causal(6), names=QKV, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_padding_mask(self, nb):
        # Key padding (B, 1, Tk) broadcast over the queries; Tq != Tk.
        nb.expect("scaled_dot_product_attention", randn(6, 2, 4, 8), randn(7, 2, 6, 8),
                  randn(8, 2, 6, 5), key_padding([4, 5], 6), names=QKV, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_heads_and_broadcast_mask(self, nb):
        # Extra batch dims (B, heads, T, d) and a (Tq, Tk) mask shared by all of them.
        nb.expect("scaled_dot_product_attention", randn(9, 2, 3, 4, 8), randn(10, 2, 3, 6, 8),
                  randn(11, 2, 3, 6, 4), random_mask(12, 4, 6), names=QKV, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_single_sequence(self, nb):
        # No batch dimension at all, then a batch of one with a single query.
        nb.expect("scaled_dot_product_attention", randn(13, 3, 4), randn(14, 5, 4), randn(15, 5, 2),
                  names=QKV, forbidden=FORBIDDEN)
        nb.expect("scaled_dot_product_attention", randn(16, 1, 1, 8), randn(17, 1, 4, 8),
                  randn(18, 1, 4, 3), random_mask(19, 1, 4), names=QKV, forbidden=FORBIDDEN)


@pytest.mark.grades("causal_mask")
class TestCausalMask:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("causal_mask", 5, names=("T",))

    @pytest.mark.points(1)
    def test_sizes(self, nb):
        nb.expect("causal_mask", 8, names=("T",))
        nb.expect("causal_mask", 1, names=("T",))

    @pytest.mark.points(1)
    def test_bool_tensor(self, nb):
        # masked_fill and torch.where need a torch.bool mask; 0/1 floats or ints would not do.
        nb.expect("causal_mask", 4, names=("T",), strict_type=True)


# -- MultiHeadAttention ------------------------------------------------------------------------

def _mha_call_text(d_model, n_heads, x, mask):
    text = (f"MultiHeadAttention(d_model={d_model}, n_heads={n_heads}) with the test weights "
            f"loaded into q_proj, k_proj, v_proj, out_proj, then forward(x"
            + (", mask)" if mask is not None else ")") + f" with\n    x = {show(x)}")
    if mask is not None:
        text += f"\n    mask = {show(mask)}"
    return text


def _diagnose_mha(got, d_model, n_heads, weights, x, mask):
    for label, overrides in REFERENCES.MHA_VARIANTS:
        try:
            produced = REFERENCES.mha_forward(d_model, n_heads, copy.deepcopy(weights), x.clone(),
                                              None if mask is None else mask.clone(), **overrides)
        except Exception:
            continue
        if mismatch(got, produced, equal_nan=True) is None:
            return label
    return None


def check_mha(nb, d_model, n_heads, x, mask=None, seed=0):
    weights = REFERENCES.mha_weights(d_model, seed)
    params = dict(d_model=d_model, n_heads=n_heads, weights=weights, x=x, mask=mask)
    got = nb.run("MultiHeadAttention", ASSIGNMENT, "mha_forward", params, forbidden=FORBIDDEN)
    called = _mha_call_text(d_model, n_heads, x, mask)
    if got["problems"]:
        label = ("missing-output-projection" if "out_proj is missing" in got["problems"]
                 else "projection-layers-wrong")
        raise nb.fail(label, f"{called}\nThe module's projections are not as asked: "
                      + "; ".join(got["problems"]) + ".")
    expected = REFERENCES.mha_expected(d_model, n_heads, weights, x, mask)
    problem = mismatch(got["out"], expected)
    if problem is None:
        return
    label = _diagnose_mha(got["out"], d_model, n_heads, weights, x, mask) or problem[0]
    raise nb.fail(label, f"{called}\n  expected (nn.MultiheadAttention with the same weights): "
                  f"{show(expected)}\n  got:      {show(got['out'])}\n  ({problem[1]})")


@pytest.mark.grades("MultiHeadAttention")
class TestMultiHeadAttention:
    @pytest.mark.points(1)
    def test_projection_layers(self, nb):
        got = nb.run("MultiHeadAttention", ASSIGNMENT, "mha_structure",
                     dict(d_model=8, n_heads=2), forbidden=FORBIDDEN)
        if got["problems"]:
            label = ("missing-output-projection" if "out_proj is missing" in got["problems"]
                     else "projection-layers-wrong")
            raise nb.fail(label, "MultiHeadAttention(d_model=8, n_heads=2): "
                          + "; ".join(got["problems"]) + f".\n  its parameters: {got['parameters']}")

    @pytest.mark.points(3)
    def test_matches_nn_multihead_attention(self, nb):
        check_mha(nb, 12, 3, randn(20, 2, 5, 12), seed=21)

    @pytest.mark.points(2)
    def test_causal_mask(self, nb):
        check_mha(nb, 8, 2, randn(22, 2, 6, 8), causal(6), seed=23)

    @pytest.mark.points(1)
    def test_broadcast_padding_mask(self, nb):
        # (B, 1, 1, T): sequence 0 has 3 real tokens, sequence 1 all 5.
        mask = key_padding([3, 5], 5)[:, None]
        check_mha(nb, 8, 2, randn(24, 2, 5, 8), mask, seed=25)

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        check_mha(nb, 6, 1, randn(26, 1, 4, 6), seed=27)
        check_mha(nb, 8, 4, randn(28, 1, 3, 8), causal(3), seed=29)


@pytest.mark.grades("attention_score_flops")
class TestAttentionScoreFlops:
    @pytest.mark.points(1)
    def test_small(self, nb):
        nb.expect("attention_score_flops", 4, 8, names=("n", "d"))

    @pytest.mark.points(1)
    def test_long_context(self, nb):
        nb.expect("attention_score_flops", 4096, 128, names=("n", "d"))

    @pytest.mark.points(1)
    def test_one_token(self, nb):
        nb.expect("attention_score_flops", 1, 64, names=("n", "d"))
        nb.expect("attention_score_flops", 3, 1, names=("n", "d"))


@pytest.mark.grades("kv_cache_attention")
class TestKVCacheAttention:
    @pytest.mark.points(2)
    def test_matches_causal_attention(self, nb):
        nb.expect("kv_cache_attention", randn(30, 6, 4), randn(31, 6, 4), randn(32, 6, 4),
                  names=("q", "k", "v"), forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_single_token(self, nb):
        nb.expect("kv_cache_attention", randn(33, 1, 4), randn(34, 1, 4), randn(35, 1, 2),
                  names=("q", "k", "v"), forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_value_dim_differs(self, nb):
        nb.expect("kv_cache_attention", randn(36, 9, 8), randn(37, 9, 8), randn(38, 9, 3),
                  names=("q", "k", "v"), forbidden=FORBIDDEN)
