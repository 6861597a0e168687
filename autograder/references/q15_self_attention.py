"""q15 self-attention: the reference implementations and the classic mistakes, as code.

Each reference function is what the student is asked to write. Each `@PITFALLS.variant` is the same
function written with one well-known mistake; when a student's answer is wrong, the variant that
reproduces it names the mistake.

`MultiHeadAttention` is a module. Its checks run the harness `mha_forward`
(autograder/harnesses/q15_self_attention.py), which builds the class, loads the check's weights
into q_proj, k_proj, v_proj and out_proj and runs forward: on the student's class in the worker,
and through the oracle on this module's class, which is PyTorch's own nn.MultiheadAttention
(batch first) holding those weights, so the expected output is torch's by construction. The
variants of the module are factories (d_model, n_heads) -> a module with one mistake, written out.

Mask convention everywhere: boolean, True = this query may attend to this key.
"""
import math

import numpy as np
import torch
import torch.nn as nn

from autograder.labels.q15_self_attention import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)

# A student's function that calls another of these gets the reference instead (charged once):
# MultiHeadAttention and kv_cache_step may use scaled_dot_product_attention, kv_cache_attention
# uses kv_cache_step, so each is charged only for its own mistakes.
STANDINS = ("scaled_dot_product_attention", "causal_mask", "attention_score_flops", "kv_cache_step")


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



# -- kv_cache_step -------------------------------------------------------------------------------

def _step(q_t, k_t, v_t, cache, *, include_new=True, append=True, scale="sqrt", replace=False):
    """One decoding step with one knob per classic mistake; the defaults are the right answer.

    Returns (out_t, cache). Where the mistake leaves nothing to attend to (the new token excluded
    at the first step), out_t is a fully masked array: any answer of the right shape matches.
    """
    q_t, k_t, v_t = _floats(q_t, k_t, v_t)
    if cache is None:
        old_k, old_v = k_t.new_zeros(0, k_t.shape[-1]), v_t.new_zeros(0, v_t.shape[-1])
    else:
        old_k, old_v = _t(cache[0]).to(k_t.dtype), _t(cache[1]).to(v_t.dtype)
    new_k, new_v = torch.cat([old_k, k_t[None]]), torch.cat([old_v, v_t[None]])
    keys, values = (new_k, new_v) if include_new else (old_k, old_v)
    if len(keys) == 0:
        out = np.ma.MaskedArray(np.zeros(v_t.shape[-1], dtype=np.float32), mask=True)
    else:
        out = _attention(q_t[None], keys, values, scale=scale)[0][0]
    if replace:
        returned = (k_t[None], v_t[None])
    elif append:
        returned = (new_k, new_v)
    else:
        returned = cache
    return out, returned


def kv_cache_step(q_t, k_t, v_t, cache):
    return _step(q_t, k_t, v_t, cache)


@PITFALLS.variant("kv_cache_step", "new-token-excluded")
def kv_cache_step_attends_before_appending(q_t, k_t, v_t, cache):
    return _step(q_t, k_t, v_t, cache, include_new=False)


@PITFALLS.variant("kv_cache_step", "cache-not-updated")
def kv_cache_step_cache_unchanged(q_t, k_t, v_t, cache):
    return _step(q_t, k_t, v_t, cache, append=False)


@PITFALLS.variant("kv_cache_step", "cache-not-updated")
def kv_cache_step_never_appends(q_t, k_t, v_t, cache):
    """The new token never enters the cache, so it is not attended to either."""
    return _step(q_t, k_t, v_t, cache, include_new=False, append=False)


@PITFALLS.variant("kv_cache_step", "cache-not-updated")
def kv_cache_step_cache_replaced(q_t, k_t, v_t, cache):
    """The cache becomes the new token alone."""
    return _step(q_t, k_t, v_t, cache, replace=True)


@PITFALLS.variant("kv_cache_step", "missing-sqrt-dk-scaling")
def kv_cache_step_unscaled(q_t, k_t, v_t, cache):
    return _step(q_t, k_t, v_t, cache, scale=None)


@PITFALLS.variant("kv_cache_step", "scaled-by-dk")
def kv_cache_step_scaled_by_dk(q_t, k_t, v_t, cache):
    return _step(q_t, k_t, v_t, cache, scale="dk")


# -- kv_cache_attention --------------------------------------------------------------------------

def kv_cache_attention(q, k, v):
    cache, outputs = None, []
    for t in range(_t(q).shape[0]):
        out_t, cache = kv_cache_step(q[t], k[t], v[t], cache)
        outputs.append(_t(out_t))
    return torch.stack(outputs)


@PITFALLS.variant("kv_cache_attention", "cache-not-updated")
def kv_cache_attention_cache_not_passed_on(q, k, v):
    """Every step starts from an empty cache: each token attends to itself alone."""
    return torch.stack([_t(kv_cache_step(q[t], k[t], v[t], None)[0]) for t in range(_t(q).shape[0])])


@PITFALLS.variant("kv_cache_attention", "cache-includes-future")
def kv_cache_full_attention(q, k, v):
    return _attention(q, k, v)[0]


@PITFALLS.variant("kv_cache_attention", "new-token-excluded")
def kv_cache_without_current(q, k, v):
    """Token t attends to tokens 0..t-1; row 0 (nothing to attend to) matches anything."""
    q, k, v = _floats(q, k, v)
    out = _attention(q, k, v, causal_mask_strict(q.shape[-2]))[0].numpy()
    mask = np.zeros(out.shape, dtype=bool)
    mask[0] = True
    return np.ma.MaskedArray(np.nan_to_num(out), mask=mask)


@PITFALLS.variant("kv_cache_attention", "missing-sqrt-dk-scaling")
def kv_cache_unscaled(q, k, v):
    return _attention(q, k, v, causal_mask(_t(q).shape[-2]), scale=None)[0]


@PITFALLS.variant("kv_cache_attention", "scaled-by-dk")
def kv_cache_scaled_by_dk(q, k, v):
    return _attention(q, k, v, causal_mask(_t(q).shape[-2]), scale="dk")[0]


# -- MultiHeadAttention --------------------------------------------------------------------------

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


class MultiHeadAttention(nn.Module):
    """The expected module: torch's nn.MultiheadAttention (batch first) run with the weights of
    the four projections a student's module holds, so the two agree by construction."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.d_model, self.n_heads = int(d_model), int(n_heads)
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        x = _t(x).float()
        B, T, _ = x.shape
        mha = nn.MultiheadAttention(self.d_model, self.n_heads, batch_first=True)
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([self.q_proj.weight, self.k_proj.weight,
                                                self.v_proj.weight]))
            mha.in_proj_bias.copy_(torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]))
            mha.out_proj.weight.copy_(self.out_proj.weight)
            mha.out_proj.bias.copy_(self.out_proj.bias)
        mha.train(self.training)
        attn_mask = None
        if mask is not None:
            # nn.MultiheadAttention's boolean masks mean "blocked": invert ours, and give it one
            # (T, T) mask per batch element and head.
            m = _t(mask).to(torch.bool).expand(B, self.n_heads, T, T).reshape(B * self.n_heads, T, T)
            attn_mask = ~m
        out, _ = mha(x, x, x, attn_mask=attn_mask, need_weights=False)
        return out


class _WrongMultiHeadAttention(nn.Module):
    """Multi-head attention written out, with one knob per classic mistake."""

    def __init__(self, d_model, n_heads, *, split="transpose", merge="transpose",
                 scale="sqrt-head", out_proj=True, mask_mode="fill-inf"):
        super().__init__()
        self.d_model, self.n_heads = int(d_model), int(n_heads)
        self.split, self.merge, self.scale, self.use_out_proj, self.mask_mode = (
            split, merge, scale, out_proj, mask_mode)
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        x = _t(x).float()
        B, T, D = x.shape
        H, dh = self.n_heads, D // self.n_heads

        def heads(t):
            if self.split == "transpose":
                return t.view(B, T, H, dh).transpose(1, 2)
            if self.split == "view":  # (B, T, D) viewed straight as (B, H, T, dh)
                return t.reshape(B, H, T, dh)
            return t.view(B, T, H, dh)  # "none": attention runs over the head axis

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        s = {"sqrt-head": math.sqrt(dh), "sqrt-model": math.sqrt(D), "model": D, "head": dh,
             "none": 1.0}[self.scale]
        out, _ = _attention(q, k, v, mask, scale=s, mask_mode=self.mask_mode)
        if self.split == "none" or self.merge == "view":
            merged = out.reshape(B, T, D)
        else:
            merged = out.transpose(1, 2).reshape(B, T, D)
        return self.out_proj(merged) if self.use_out_proj else merged


def _mha_variants():
    """(label, keyword overrides) for every mistake the MHA checks can name."""
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


def _register_mha_variant(label, overrides):
    def build(d_model, n_heads):
        return _WrongMultiHeadAttention(d_model, n_heads, **overrides)

    build.__name__ = build.__qualname__ = "mha_" + label.replace("-", "_")
    PITFALLS.variant("MultiHeadAttention", label)(build)


for _label, _overrides in _mha_variants():
    _register_mha_variant(_label, _overrides)
