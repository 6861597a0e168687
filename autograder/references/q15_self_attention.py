"""q15 self-attention: the reference implementations and the classic mistakes, as code.

Each reference function is what the student is asked to write. Each `@PITFALLS.variant` is the same
function written with one well-known mistake; when a student's answer is wrong, the variant that
reproduces it names the mistake. `MultiHeadAttention` is a module, so its checks build the student's
module in the worker (whiteboard.harnesses.q15_self_attention), load given weights into it, and
compare its output here with `mha_expected` (PyTorch's own nn.MultiheadAttention with the same
weights); `mha_variants` are the wrong forward passes that name its mistakes.

Mask convention everywhere: boolean, True = this query may attend to this key.
"""
import math

import torch
import torch.nn as nn

from whiteboard.grading.checks import Pitfalls

LABELS = {
    # -- scaled_dot_product_attention ---------------------------------------------------------
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
        "Mask the scores before the softmax: scores.masked_fill(~mask, float('-inf')), then "
        "softmax; the blocked keys then get exactly 0 and the rest sum to 1."),
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
        "Keep the diagonal: torch.tril(torch.ones(T, T, dtype=torch.bool)) (diagonal=0), i.e. "
        "mask[i, j] = j <= i."),
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
    "projection-layers-wrong": (
        "the module does not hold its projections as q_proj, k_proj, v_proj and out_proj, each "
        "nn.Linear(d_model, d_model) with a bias, so the grader cannot load the test weights "
        "into it.",
        "In __init__ create self.q_proj = nn.Linear(d_model, d_model) and likewise k_proj, v_proj "
        "and out_proj, and use exactly these in forward."),
    # -- attention_score_flops ------------------------------------------------------------------
    "flops-missing-factor-2": (
        "each of the n*n scores is a dot product of length d: d multiplications and d additions, "
        "and the count of n*n*d leaves out the additions.",
        "Count a multiply-add as 2 FLOPs: 2 * n * n * d."),
    "flops-not-quadratic": (
        "the count grows linearly with the sequence length, but Q K^T has an entry for every "
        "(query, key) pair: n * n of them.",
        "Each of the n*n scores costs 2*d FLOPs, so the total is 2 * n * n * d."),
    "flops-quadratic-in-d": (
        "the count is quadratic in d. That is the cost of the projections (x @ W, d x d weights), "
        "not of the scores Q K^T.",
        "Q K^T multiplies (n, d) by (d, n): n*n dot products of length d, 2 * n * n * d FLOPs."),
    # -- kv_cache_attention ---------------------------------------------------------------------
    "cache-includes-future": (
        "the token at step t attended to keys and values of later tokens, which a cache filled one "
        "token at a time cannot hold yet (that is full, non-causal attention).",
        "At step t attend to k[:t+1] and v[:t+1] only: append token t's key and value to the "
        "cache, then attend with q[t] over everything cached so far."),
    "cache-misses-current-token": (
        "the current token's key and value were added to the cache after the attention step, so "
        "token t attends only to tokens 0..t-1, never to itself (and token 0 to nothing).",
        "Append k[t] and v[t] to the cache first, then attend with q[t] over the cache."),
}

PITFALLS = Pitfalls(LABELS)

# A student's function that calls another of these gets the reference instead (charged once).
STANDINS = ("scaled_dot_product_attention", "causal_mask", "attention_score_flops")

FORBIDDEN = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
             "torch.nn.functional.multi_head_attention_forward")


def _t(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def _floats(q, k, v):
    q, k, v = _t(q), _t(k), _t(v)
    dtype = torch.promote_types(torch.promote_types(q.dtype, k.dtype), v.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    return q.to(dtype), k.to(dtype), v.to(dtype)


def _attention(q, k, v, mask=None, *, scale="sqrt", softmax_dim=-1, mask_mode="fill-inf"):
    """Attention with one knob per classic mistake; the defaults are the right answer."""
    q, k, v = _floats(q, k, v)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1)
    if scale == "sqrt":
        scores = scores / math.sqrt(d_k)
    elif scale == "dk":
        scores = scores / d_k
    elif isinstance(scale, (int, float)) and not isinstance(scale, bool):
        scores = scores / scale
    if mask is not None:
        mask = _t(mask).to(torch.bool)
        blocked = mask if mask_mode.startswith("inverted") else ~mask
        if mask_mode in ("fill-inf", "inverted"):
            scores = scores.masked_fill(blocked, float("-inf"))
        elif mask_mode == "inverted-min":
            scores = scores.masked_fill(blocked, torch.finfo(scores.dtype).min)
        elif mask_mode == "fill-zero":
            scores = scores.masked_fill(blocked, 0.0)
    weights = torch.softmax(scores, dim=softmax_dim)
    if mask is not None and mask_mode == "after-softmax":
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


def scaled_dot_product_attention(q, k, v, mask=None):
    return _attention(q, k, v, mask)


@PITFALLS.variant("scaled_dot_product_attention", "missing-sqrt-dk-scaling")
def sdpa_unscaled(q, k, v, mask=None):
    return _attention(q, k, v, mask, scale=None)


@PITFALLS.variant("scaled_dot_product_attention", "scaled-by-dk")
def sdpa_scaled_by_dk(q, k, v, mask=None):
    return _attention(q, k, v, mask, scale="dk")


@PITFALLS.variant("scaled_dot_product_attention", "softmax-over-queries")
def sdpa_softmax_over_queries(q, k, v, mask=None):
    return _attention(q, k, v, mask, softmax_dim=-2)


@PITFALLS.variant("scaled_dot_product_attention", "mask-after-softmax")
def sdpa_mask_after_softmax(q, k, v, mask=None):
    return _attention(q, k, v, mask, mask_mode="after-softmax")


@PITFALLS.variant("scaled_dot_product_attention", "mask-inverted")
def sdpa_mask_inverted(q, k, v, mask=None):
    return _attention(q, k, v, mask, mask_mode="inverted")


@PITFALLS.variant("scaled_dot_product_attention", "mask-inverted")
def sdpa_mask_inverted_finite_fill(q, k, v, mask=None):
    return _attention(q, k, v, mask, mask_mode="inverted-min")


@PITFALLS.variant("scaled_dot_product_attention", "mask-fill-zero")
def sdpa_mask_fill_zero(q, k, v, mask=None):
    return _attention(q, k, v, mask, mask_mode="fill-zero")


def _weights_of(got):
    if isinstance(got, (tuple, list)) and len(got) == 2:
        return got[1]
    return None


@PITFALLS.detector("scaled_dot_product_attention", "softmax-over-queries")
def weights_sum_to_one_over_queries(got, q, k, v, mask=None):
    w = _weights_of(got)
    if w is None:
        return False
    w = _t(w).double()
    rows, cols = w.sum(-1), w.sum(-2)
    return (not torch.allclose(rows, torch.ones_like(rows), atol=1e-4)
            and torch.allclose(cols, torch.ones_like(cols), atol=1e-4))


@PITFALLS.detector("scaled_dot_product_attention", "mask-after-softmax")
def weights_rows_below_one(got, q, k, v, mask=None):
    """Masked weights are 0 but the rows sum to less than 1: the mask came after the softmax."""
    w = _weights_of(got)
    if w is None or mask is None:
        return False
    w = _t(w).double()
    m = _t(mask).to(torch.bool).expand(w.shape)
    rows = w.sum(-1)
    return bool((w[~m].abs() < 1e-6).all() and (rows < 1 - 1e-4).any() and (rows <= 1 + 1e-4).all())


def causal_mask(T):
    return torch.tril(torch.ones(int(T), int(T), dtype=torch.bool))


@PITFALLS.variant("causal_mask", "causal-mask-excludes-diagonal")
def causal_mask_strict(T):
    return torch.tril(torch.ones(int(T), int(T), dtype=torch.bool), diagonal=-1)


@PITFALLS.variant("causal_mask", "causal-mask-upper")
def causal_mask_upper(T):
    return torch.triu(torch.ones(int(T), int(T), dtype=torch.bool))


@PITFALLS.variant("causal_mask", "mask-inverted")
def causal_mask_blocked_convention(T):
    return torch.triu(torch.ones(int(T), int(T), dtype=torch.bool), diagonal=1)


def attention_score_flops(n, d):
    return 2 * int(n) * int(n) * int(d)


@PITFALLS.variant("attention_score_flops", "flops-missing-factor-2")
def flops_without_factor_2(n, d):
    return int(n) * int(n) * int(d)


@PITFALLS.variant("attention_score_flops", "flops-not-quadratic")
def flops_linear_in_n(n, d):
    return 2 * int(n) * int(d)


@PITFALLS.variant("attention_score_flops", "flops-not-quadratic")
def flops_linear_in_n_no_2(n, d):
    return int(n) * int(d)


@PITFALLS.variant("attention_score_flops", "flops-quadratic-in-d")
def flops_quadratic_in_d(n, d):
    return 2 * int(n) * int(d) * int(d)


@PITFALLS.variant("attention_score_flops", "flops-quadratic-in-d")
def flops_quadratic_in_both(n, d):
    return 2 * int(n) * int(n) * int(d) * int(d)


def kv_cache_attention(q, k, v):
    q, k, v = _floats(q, k, v)
    return _attention(q, k, v, causal_mask(q.shape[-2]))[0]


@PITFALLS.variant("kv_cache_attention", "cache-includes-future")
def kv_cache_full_attention(q, k, v):
    return _attention(q, k, v)[0]


@PITFALLS.variant("kv_cache_attention", "cache-misses-current-token")
def kv_cache_without_current(q, k, v):
    q, k, v = _floats(q, k, v)
    return _attention(q, k, v, causal_mask_strict(q.shape[-2]))[0]


@PITFALLS.detector("kv_cache_attention", "cache-misses-current-token")
def kv_cache_without_current_rows(got, q, k, v):
    """Rows 1.. match attention over the strictly earlier tokens (row 0 may be NaN, 0 or anything)."""
    q, k, v = _floats(q, k, v)
    g = _t(got).to(q.dtype)
    if g.shape != (q.shape[0], v.shape[1]) or q.shape[0] < 2:
        return False
    want = kv_cache_without_current(q, k, v)
    return torch.allclose(g[1:], want[1:], rtol=1e-4, atol=1e-5)


@PITFALLS.variant("kv_cache_attention", "missing-sqrt-dk-scaling")
def kv_cache_unscaled(q, k, v):
    return _attention(q, k, v, causal_mask(_t(q).shape[-2]), scale=None)[0]


@PITFALLS.variant("kv_cache_attention", "scaled-by-dk")
def kv_cache_scaled_by_dk(q, k, v):
    return _attention(q, k, v, causal_mask(_t(q).shape[-2]), scale="dk")[0]


# -- MultiHeadAttention ------------------------------------------------------------------------

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


class MultiHeadAttention(nn.Module):
    """The reference module (what the notebook's solution writes)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape

        def split(t):
            return t.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

        out, _ = scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)),
                                              split(self.v_proj(x)), mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))


def mha_weights(d_model, seed):
    """Seeded weights for the four projections: name -> {"weight": (D, D), "bias": (D,)}."""
    g = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(d_model)
    out = {}
    for name in PROJECTIONS:
        out[name] = {"weight": (torch.rand(d_model, d_model, generator=g) * 2 - 1) * bound * 2,
                     "bias": (torch.rand(d_model, generator=g) * 2 - 1) * bound}
    return out


def mha_expected(d_model, n_heads, weights, x, mask=None):
    """PyTorch's nn.MultiheadAttention (batch_first) with the same weights: the expected output."""
    x = _t(x).float()
    B, T, _ = x.shape
    mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([_t(weights[n]["weight"]) for n in PROJECTIONS[:3]]))
        mha.in_proj_bias.copy_(torch.cat([_t(weights[n]["bias"]) for n in PROJECTIONS[:3]]))
        mha.out_proj.weight.copy_(_t(weights["out_proj"]["weight"]))
        mha.out_proj.bias.copy_(_t(weights["out_proj"]["bias"]))
    mha.eval()
    attn_mask = None
    if mask is not None:
        # nn.MultiheadAttention's boolean masks mean "blocked": invert ours, and give it one
        # (T, T) mask per batch element and head.
        m = _t(mask).to(torch.bool).expand(B, n_heads, T, T).reshape(B * n_heads, T, T)
        attn_mask = ~m
    with torch.no_grad():
        out, _ = mha(x, x, x, attn_mask=attn_mask, need_weights=False)
    return out


def mha_forward(d_model, n_heads, weights, x, mask=None, *, split="transpose", merge="transpose",
                scale="sqrt-head", out_proj=True, mask_mode="fill-inf"):
    """The MHA forward pass from weights, with one knob per classic mistake."""
    x = _t(x).float()
    B, T, D = x.shape
    H, dh = n_heads, d_model // n_heads

    def lin(name, t):
        return t @ _t(weights[name]["weight"]).T + _t(weights[name]["bias"])

    def heads(t):
        if split == "transpose":
            return t.view(B, T, H, dh).transpose(1, 2)
        if split == "view":  # (B, T, D) viewed straight as (B, H, T, dh)
            return t.reshape(B, H, T, dh)
        return t.view(B, T, H, dh)  # "none": attention runs over the head axis

    q, k, v = heads(lin("q_proj", x)), heads(lin("k_proj", x)), heads(lin("v_proj", x))
    s = {"sqrt-head": math.sqrt(dh), "sqrt-model": math.sqrt(D), "model": D, "head": dh,
         "none": 1.0}[scale]
    out, _ = _attention(q, k, v, mask, scale=s, mask_mode=mask_mode)
    if split == "none" or merge == "view":
        merged = out.reshape(B, T, D)
    else:
        merged = out.transpose(1, 2).reshape(B, T, D)
    return lin("out_proj", merged) if out_proj else merged


def _mha_variants():
    """(label, keyword overrides of mha_forward) for every mistake the MHA checks can name."""
    out = []
    for split, merge in (("view", "view"), ("view", "transpose"), ("transpose", "view"),
                         ("none", "view")):
        for scale in ("sqrt-head", "sqrt-model"):
            out.append(("heads-split-without-transpose", dict(split=split, merge=merge, scale=scale)))
    out += [("scale-by-d-model", dict(scale="sqrt-model")),
            ("scale-by-d-model", dict(scale="model")),
            ("missing-output-projection", dict(out_proj=False)),
            ("missing-output-projection", dict(out_proj=False, scale="sqrt-model")),
            ("missing-sqrt-dk-scaling", dict(scale="none")),
            ("scaled-by-dk", dict(scale="head")),
            ("mask-inverted", dict(mask_mode="inverted")),
            ("mask-inverted", dict(mask_mode="inverted-min")),
            ("mask-fill-zero", dict(mask_mode="fill-zero")),
            ("mask-after-softmax", dict(mask_mode="after-softmax"))]
    return out


MHA_VARIANTS = _mha_variants()
