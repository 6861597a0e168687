"""q15_self_attention: the functions a student writes, the mistakes its checks can name, and the
library shortcuts the exercise must do without.

Mask convention everywhere: boolean, True = this query may attend to this key.
"""
import torch

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("scaled_dot_product_attention", "causal_mask", "MultiHeadAttention",
               "attention_score_flops", "kv_cache_step", "kv_cache_attention"),
    catalogue={
    # -- scaled_dot_product_attention (and kv_cache_step) ---------------------------------------
    "missing-sqrt-dk-scaling": (
        "the scores q @ k^T were not divided by sqrt(d_k). Their spread grows like sqrt(d_k), so "
        "softmax saturates to an almost one-hot distribution and its gradients vanish.",
        "Divide the scores by math.sqrt(d_k) before the softmax, with d_k = q.shape[-1]."),
    "scaled-by-dk": (
        "the scores were divided by d_k instead of sqrt(d_k). A dot product of d_k unit-variance "
        "terms has standard deviation sqrt(d_k), not d_k; dividing by d_k flattens the attention "
        "towards uniform.",
        "Use scores / math.sqrt(d_k) (or scores * d_k ** -0.5)."),
    "softmax-over-queries": (
        "softmax was taken over the query axis (dim=-2), so each key's column sums to 1 instead of "
        "each query's row: a query's weights are no longer a distribution over the keys it reads.",
        "Use softmax(scores, dim=-1): scores has shape (..., Tq, Tk) and every query (row) "
        "distributes its attention over the keys (columns)."),
    "mask-after-softmax": (
        "the mask was applied to the weights after the softmax, so the surviving weights of a row "
        "no longer sum to 1 (the masked keys kept their share of the normaliser).",
        "Mask the scores before the softmax, so that the blocked keys get exactly 0 and the rest "
        "of the row still sums to 1."),
    "mask-inverted": (
        "the mask was read the wrong way round: True was treated as 'blocked'. Here (as in "
        "F.scaled_dot_product_attention) True means 'may attend'. nn.MultiheadAttention uses the "
        "opposite convention for boolean masks, which is a common source of this mix-up.",
        "Block where the mask is False: scores.masked_fill(~mask, float('-inf')) or "
        "torch.where(mask, scores, float('-inf'))."),
    "mask-fill-zero": (
        "masked scores were set to 0 instead of -inf. exp(0) = 1, so a blocked key still gets "
        "weight, and more than an allowed key whose score is negative.",
        "Fill blocked scores with float('-inf') (or a very negative number such as "
        "torch.finfo(scores.dtype).min) before the softmax, so that exp() makes them 0."),
    # -- causal_mask ----------------------------------------------------------------------------
    "causal-mask-excludes-diagonal": (
        "the diagonal is False, so a token may not attend to itself: the first token then has "
        "nothing to attend to at all (its softmax row is all -inf, which gives NaN).",
        "Keep the diagonal: mask[i, j] is True for j <= i (torch.tril with diagonal=0)."),
    "causal-mask-upper": (
        "the mask is True above the diagonal, so every token attends to the future and not to the "
        "past.",
        "Row i is the query, column j the key: allow j <= i, the lower triangle (torch.tril)."),
    # -- MultiHeadAttention ---------------------------------------------------------------------
    "heads-split-without-transpose": (
        "the projections were reshaped into heads without moving the head axis in front of the "
        "time axis (or the heads were merged back without moving it back). A plain "
        "view(B, n_heads, T, d_head) of a (B, T, d_model) tensor mixes features of different "
        "tokens into one 'token', and attention over (B, T, n_heads, d_head) mixes heads, not "
        "tokens.",
        "Split with x.view(B, T, n_heads, d_head).transpose(1, 2) -> (B, n_heads, T, d_head); after "
        "attention merge with out.transpose(1, 2).reshape(B, T, d_model)."),
    "scale-by-d-model": (
        "the scores were divided by sqrt(d_model). Each head's dot product has only "
        "d_head = d_model / n_heads terms, so the right scale is sqrt(d_head).",
        "Divide by math.sqrt(d_model // n_heads), the size of one head's query and key vectors."),
    "missing-output-projection": (
        "the concatenated heads were returned without the output projection out_proj, so the "
        "heads' results are never mixed and out_proj's weights are ignored.",
        "Finish forward with return self.out_proj(merged), merged of shape (B, T, d_model)."),
    # -- kv_cache_step ----------------------------------------------------------------------------
    "cache-not-updated": (
        "the cache that comes back does not hold the new token's key and value appended to the "
        "earlier ones (it was returned unchanged, replaced by the new token alone, or never passed "
        "on from one step to the next), so the next step cannot attend to this token.",
        "Return (K, V) with k_t and v_t appended as a new last row (torch.cat along dim 0; at the "
        "first step the cache is just the new token), and in a decoding loop pass the cache each "
        "step returned into the next step."),
    "new-token-excluded": (
        "the new token attended only to the earlier tokens, not to itself: its own key and value "
        "were added to the cache after the attention instead of before (at the first step there "
        "is then nothing to attend to at all).",
        "Append k_t and v_t to the cache first, then attend with q_t over the whole cache, the new "
        "token included."),
    },
    uses=("forbidden-api",),
    extra={
    "projection-layers-wrong": (
        "the module does not hold its projections as q_proj, k_proj, v_proj and out_proj, each "
        "nn.Linear(d_model, d_model) with a bias, so the grader cannot load the test weights "
        "into it.",
        "In __init__ create self.q_proj = nn.Linear(d_model, d_model) and likewise k_proj, v_proj "
        "and out_proj, and use exactly these in forward."),
    "flops-missing-factor-2": (
        "the count leaves out the additions: each score is a dot product of length d, d "
        "multiplications and d additions.",
        "Count a multiply-add as 2 FLOPs."),
    "flops-not-quadratic": (
        "the count grows linearly with the sequence length, but Q K^T has an entry for every "
        "(query, key) pair.",
        "Count the scores first: how many (query, key) pairs are there for n tokens?"),
    "flops-quadratic-in-d": (
        "the count is quadratic in d. That is the cost of the projections (x @ W, d x d weights), "
        "not of the scores Q K^T.",
        "Q K^T multiplies an (n, d) matrix by a (d, n) one: count its entries and the cost of each."),
    "cache-includes-future": (
        "the token at step t attended to keys and values of later tokens, which a cache filled one "
        "token at a time cannot hold yet (that is full, non-causal attention).",
        "At step t only tokens 0..t have been seen: attend with q[t] over the cache that holds "
        "exactly those."),
    "kv-cache-step-not-used": (
        "kv_cache_attention did not decode one token at a time with kv_cache_step: it made no "
        "call to it (the whole sequence was computed at once).",
        "Loop over the tokens: out_t, cache = kv_cache_step(q[t], k[t], v[t], cache), starting "
        "from cache = None, and stack the outputs."),
    },
)

# Forbidden in every function of the notebook (the catalogue's "Forbidden" line). The check module,
# which ships to students, passes these to each call; a function that uses one fails the check
# with `forbidden-api`.
ATTENTION = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
             "torch.nn.functional.multi_head_attention_forward")
FORBIDDEN = {function: ATTENTION for function in LABELS.functions}


# ---- detectors: properties of a wrong answer (they see only the result and the inputs) ---------

def _t(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def _weights_of(got):
    if isinstance(got, (tuple, list)) and len(got) == 2:
        return got[1]
    return None


@LABELS.detector("scaled_dot_product_attention", "softmax-over-queries")
def weights_sum_to_one_over_queries(got, q, k, v, mask=None):
    w = _weights_of(got)
    if w is None:
        return False
    w = _t(w).double()
    rows, cols = w.sum(-1), w.sum(-2)
    return (not torch.allclose(rows, torch.ones_like(rows), atol=1e-4)
            and torch.allclose(cols, torch.ones_like(cols), atol=1e-4))


@LABELS.detector("scaled_dot_product_attention", "mask-after-softmax")
def weights_rows_below_one(got, q, k, v, mask=None):
    """Masked weights are 0 but the rows sum to less than 1: the mask came after the softmax."""
    w = _weights_of(got)
    if w is None or mask is None:
        return False
    w = _t(w).double()
    m = _t(mask).to(torch.bool).expand(w.shape)
    rows = w.sum(-1)
    return bool((w[~m].abs() < 1e-6).all() and (rows < 1 - 1e-4).any() and (rows <= 1 + 1e-4).all())


@LABELS.detector("kv_cache_step", "cache-not-updated")
def cache_did_not_grow(got, q_t, k_t, v_t, cache):
    """The returned cache holds as many tokens as the one passed in (or is None)."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return False
    returned = got[1]
    before = 0 if cache is None else len(cache[0])
    if returned is None:
        return True
    return len(returned[0]) == before or len(returned[0]) == 1 and before > 0
