"""q18_transformer_block: reference answers and the classic mistakes as code. Never leaves the instructor.

Mask convention everywhere: boolean, True = this query may attend to this key (as in q15).
`TransformerBlock` and `greedy_decode` take objects: their checks run a harness of
autograder/harnesses/q18_transformer_block.py on the student's namespace and on the references'
(a variant, for a class a factory with the class's signature, is run through the same harness
in place of the reference).
"""
import torch
from torch import nn

from autograder.labels.q18_transformer_block import FORBIDDEN, LABELS  # noqa: F401 - FORBIDDEN: see labels
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# Stand-ins take and return plain data (a proxy cannot hand back a class or a module), so the
# class TransformerBlock is not one: a gpt_param_count that builds the model uses the student's.
STANDINS = ("layer_norm", "padding_mask", "encoder_attention_mask", "decoder_attention_mask")


def _t(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


# ---- layer_norm ---------------------------------------------------------------------------------

def _layer_norm(x, gamma, beta, eps=1e-5, *, dim=-1, correction=0, eps_inside=True):
    """Layer norm with one knob per classic mistake; the defaults are the right answer."""
    x = _t(x)
    mean = x.mean(dim=dim, keepdim=True)
    var = ((x - mean) ** 2).sum(dim=dim, keepdim=True) / (x.shape[dim] - correction)
    denom = torch.sqrt(var + eps) if eps_inside else torch.sqrt(var) + eps
    return (x - mean) / denom * _t(gamma) + _t(beta)


def layer_norm(x, gamma, beta, eps=1e-5):
    """Normalise each row of x over its last dimension, then scale and shift.

    Inputs:
    - x: (..., d)
    - gamma, beta: (d,)
    Returns (..., d): (x - mean) / sqrt(var + eps) * gamma + beta, mean and (biased) var per row.
    """
    return _layer_norm(x, gamma, beta, eps)


@PITFALLS.variant("layer_norm", "normalizes-over-batch")
def layer_norm_over_batch(x, gamma, beta, eps=1e-5):
    return _layer_norm(x, gamma, beta, eps, dim=0)


@PITFALLS.variant("layer_norm", "unbiased-variance")
def layer_norm_unbiased(x, gamma, beta, eps=1e-5):
    return _layer_norm(x, gamma, beta, eps, correction=1)


@PITFALLS.variant("layer_norm", "eps-outside-sqrt")
def layer_norm_eps_outside(x, gamma, beta, eps=1e-5):
    return _layer_norm(x, gamma, beta, eps, eps_inside=False)


@PITFALLS.variant("layer_norm", "eps-outside-sqrt")
def layer_norm_unbiased_eps_outside(x, gamma, beta, eps=1e-5):
    # torch's x.std(-1) is unbiased: "std + eps" written with it carries both mistakes.
    return _layer_norm(x, gamma, beta, eps, correction=1, eps_inside=False)


# ---- TransformerBlock ---------------------------------------------------------------------------

class TransformerBlock(nn.Module):
    """One Transformer layer: self-attention and a GELU feed-forward network, each wrapped in a
    residual connection and a LayerNorm, placed before (pre-norm) or after (post-norm) it.

    forward(x (B, T, d_model), mask (T, T) bool or None, True = may attend) -> (B, T, d_model)
    """

    # Knobs of the classic mistakes (each variant builds a subclass that sets one).
    attn_residual = True
    ff_residual = True
    placement = "as-asked"    # "as-asked", "always-post", "always-pre", "swapped"
    mask_mode = "invert"      # "invert" (right), "as-is" (inverted meaning), "ignore"
    activation = "gelu"       # "gelu", "relu", "gelu-tanh"

    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        act = {"gelu": nn.GELU(), "relu": nn.ReLU(), "gelu-tanh": nn.GELU(approximate="tanh")}
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), act[self.activation],
                                nn.Linear(d_ff, d_model))

    def _self_attention(self, h, mask):
        if mask is None or self.mask_mode == "ignore":
            attn_mask = None
        else:
            # nn.MultiheadAttention's boolean attn_mask marks the keys that may NOT be attended.
            attn_mask = ~mask if self.mask_mode == "invert" else mask
        return self.attn(h, h, h, attn_mask=attn_mask, need_weights=False)[0]

    def _pre(self):
        return {"as-asked": self.pre_norm, "always-post": False, "always-pre": True,
                "swapped": not self.pre_norm}[self.placement]

    def forward(self, x, mask=None):
        if mask is not None:
            mask = _t(mask).to(torch.bool)
        a, f = float(self.attn_residual), float(self.ff_residual)
        if self._pre():
            x = a * x + self._self_attention(self.ln1(x), mask)
            x = f * x + self.ff(self.ln2(x))
        else:
            x = self.ln1(a * x + self._self_attention(x, mask))
            x = self.ln2(f * x + self.ff(x))
        return x


def _block_variant(label, name, **knobs):
    """Register, under `label`, a factory with the class's signature that builds the block with
    the knobs of one mistake (the oracle runs the harness with the factory in the class's place)."""
    cls = type(name, (TransformerBlock,), knobs)

    def factory(d_model, n_heads, d_ff, pre_norm=True):
        return cls(d_model, n_heads, d_ff, pre_norm)

    factory.__name__ = factory.__qualname__ = "make" + name
    PITFALLS.variant("TransformerBlock", label)(factory)
    return factory


_block_variant("missing-residual", "_BlockWithoutAttentionResidual", attn_residual=False)
_block_variant("missing-residual", "_BlockWithoutFeedForwardResidual", ff_residual=False)
_block_variant("missing-residual", "_BlockWithoutResiduals", attn_residual=False, ff_residual=False)
_block_variant("post-norm-for-pre-norm", "_BlockAlwaysPostNorm", placement="always-post")
_block_variant("post-norm-for-pre-norm", "_BlockNormFlagSwapped", placement="swapped")
_block_variant("pre-norm-for-post-norm", "_BlockAlwaysPreNorm", placement="always-pre")
_block_variant("mask-inverted", "_BlockMaskPassedAsIs", mask_mode="as-is")
_block_variant("mask-ignored", "_BlockMaskIgnored", mask_mode="ignore")
_block_variant("ffn-activation-wrong", "_BlockWithReLU", activation="relu")
_block_variant("ffn-activation-wrong", "_BlockWithTanhGELU", activation="gelu-tanh")


# ---- masks -------------------------------------------------------------------------------------

def padding_mask(lengths, T):
    """(B, T) bool, True at real tokens: position < lengths[b]."""
    lengths = _t(lengths).long()
    return torch.arange(int(T)) < lengths[:, None]


@PITFALLS.variant("padding_mask", "padding-mask-inverted")
def padding_mask_true_at_pads(lengths, T):
    return ~padding_mask(lengths, T)


def _pair_mask(lengths, T, *, causal, keys=True, queries=False, invert=False):
    """(B, 1, T, T) mask from the key condition, the query condition and causality."""
    T = int(T)
    pad = padding_mask(lengths, T)                             # (B, T)
    B = pad.shape[0]
    m = torch.ones(B, 1, T, T, dtype=torch.bool)
    if keys:
        m = m & pad[:, None, None, :]                          # column k: k < len
    if queries:
        m = m & pad[:, None, :, None]                          # row q: q < len
    if causal:
        m = m & torch.tril(torch.ones(T, T, dtype=torch.bool))
    return ~m if invert else m


def encoder_attention_mask(lengths, T):
    """(B, 1, T, T) bool as in BERT: [b, 0, q, k] = k < lengths[b], for every query q."""
    return _pair_mask(lengths, T, causal=False)


def decoder_attention_mask(lengths, T):
    """(B, 1, T, T) bool as in GPT: [b, 0, q, k] = (k < lengths[b]) and (k <= q)."""
    return _pair_mask(lengths, T, causal=True)


@PITFALLS.variant("encoder_attention_mask", "encoder-mask-causal")
def encoder_mask_causal(lengths, T):
    return _pair_mask(lengths, T, causal=True)


@PITFALLS.variant("encoder_attention_mask", "padding-ignored")
def encoder_mask_without_padding(lengths, T):
    return _pair_mask(lengths, T, causal=False, keys=False)


@PITFALLS.variant("encoder_attention_mask", "padding-on-query-axis")
def encoder_mask_padding_on_queries(lengths, T):
    return _pair_mask(lengths, T, causal=False, keys=False, queries=True)


@PITFALLS.variant("encoder_attention_mask", "padded-queries-masked")
def encoder_mask_square_padding(lengths, T):
    return _pair_mask(lengths, T, causal=False, queries=True)


@PITFALLS.variant("encoder_attention_mask", "mask-inverted")
def encoder_mask_inverted(lengths, T):
    return _pair_mask(lengths, T, causal=False, invert=True)


@PITFALLS.variant("decoder_attention_mask", "decoder-mask-not-causal")
def decoder_mask_not_causal(lengths, T):
    return _pair_mask(lengths, T, causal=False)


@PITFALLS.variant("decoder_attention_mask", "padding-ignored")
def decoder_mask_without_padding(lengths, T):
    return _pair_mask(lengths, T, causal=True, keys=False)


@PITFALLS.variant("decoder_attention_mask", "padding-on-query-axis")
def decoder_mask_padding_on_queries(lengths, T):
    return _pair_mask(lengths, T, causal=True, keys=False, queries=True)


@PITFALLS.variant("decoder_attention_mask", "padded-queries-masked")
def decoder_mask_square_padding(lengths, T):
    return _pair_mask(lengths, T, causal=True, queries=True)


@PITFALLS.variant("decoder_attention_mask", "mask-inverted")
def decoder_mask_inverted(lengths, T):
    return _pair_mask(lengths, T, causal=True, invert=True)


# ---- gpt_param_count ---------------------------------------------------------------------------

def _gpt_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True, *,
               attn_bias=True, ff_bias=True, ln_bias=True, block_ln=True, final_ln=True,
               head_always=False, position=True, attn="fixed"):
    """The parameter count with one knob per classic mistake; the defaults are the right answer."""
    V, L, d, H, f, n = (int(a) for a in (vocab_size, max_len, d_model, n_heads, d_ff, n_layers))
    ln = 2 * d if ln_bias else d
    if attn == "fixed":            # W_q, W_k, W_v, W_o: each d x d whatever H is
        attention = 4 * d * d + (4 * d if attn_bias else 0)
    elif attn == "per-head-all":   # every head given its own d x d projections, output included
        attention = H * (4 * d * d + (4 * d if attn_bias else 0))
    elif attn == "per-head-qkv":   # q, k, v of d x d per head, one d x d output projection
        attention = H * 3 * (d * d + (d if attn_bias else 0)) + d * d + (d if attn_bias else 0)
    else:                          # "per-head-concat": per-head q, k, v, output from H*d to d
        attention = H * 3 * (d * d + (d if attn_bias else 0)) + H * d * d + (d if attn_bias else 0)
    ff = 2 * d * f + ((f + d) if ff_bias else 0)
    block = attention + ff + (2 * ln if block_ln else 0)
    total = V * d + (L * d if position else 0) + n * block + (ln if final_ln else 0)
    if head_always or not tied_embeddings:
        total += V * d
    return total


def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    """Parameters of a GPT built from n_layers TransformerBlocks (an int).

    token embedding V*d + position embedding max_len*d + n_layers blocks + final LayerNorm 2d
    + LM head V*d (bias-free) unless it is tied to the token embedding.

    The ground truth is the real model: it is built (the checks use configurations that build in
    milliseconds) and its parameters counted, a tied matrix once, as model.parameters() does.
    """
    model = gpt_from_blocks(int(vocab_size), int(max_len), int(d_model), int(n_heads), int(d_ff),
                            int(n_layers), bool(tied_embeddings))
    return int(sum(p.numel() for p in model.parameters()))


def _count_variant(label, **knobs):
    def variant(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
        return _gpt_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings,
                          **knobs)
    variant.__name__ = "gpt_param_count_" + "_".join(f"{k}_{v}" for k, v in knobs.items())
    PITFALLS.variant("gpt_param_count", label)(variant)
    return variant


for _knobs in (dict(attn_bias=False, ff_bias=False), dict(attn_bias=False), dict(ff_bias=False),
               dict(attn_bias=False, ff_bias=False, ln_bias=False)):
    _count_variant("forgot-biases", **_knobs)
for _knobs in (dict(block_ln=False, final_ln=False), dict(final_ln=False), dict(block_ln=False)):
    _count_variant("forgot-layernorm", **_knobs)
_count_variant("head-counted-when-tied", head_always=True)
for _attn in ("per-head-all", "per-head-qkv", "per-head-concat"):
    _count_variant("params-scale-with-heads", attn=_attn)
_count_variant("forgot-position-embedding", position=False)


# ---- greedy_decode -----------------------------------------------------------------------------

def greedy_decode(model, prompt_ids, max_new_tokens):
    """Append the most likely next token max_new_tokens times.

    Inputs:
    - model: maps ids (B, T) to logits (B, T, vocab)
    - prompt_ids: LongTensor (B, T)
    Returns LongTensor (B, T + max_new_tokens), the prompt followed by the decoded tokens.
    """
    model.eval()
    ids = _t(prompt_ids).long()
    with torch.no_grad():
        for _ in range(int(max_new_tokens)):
            logits = model(ids)
            nxt = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    return ids


@PITFALLS.variant("greedy_decode", "decodes-from-first-position")
def greedy_decode_first_position(model, prompt_ids, max_new_tokens):
    model.eval()
    ids = _t(prompt_ids).long()
    with torch.no_grad():
        for _ in range(int(max_new_tokens)):
            nxt = model(ids)[:, 0, :].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    return ids


def gpt_from_blocks(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True,
                    block=TransformerBlock):
    """A real GPT built from the block (what gpt_param_count counts); used by the tests."""

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab_size, d_model)
            self.pos = nn.Embedding(max_len, d_model)
            self.blocks = nn.ModuleList(block(d_model, n_heads, d_ff) for _ in range(n_layers))
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size, bias=False)
            if tied_embeddings:
                self.head.weight = self.tok.weight

        def forward(self, ids):
            T = ids.shape[1]
            x = self.tok(ids) + self.pos(torch.arange(T))
            causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
            for b in self.blocks:
                x = b(x, causal)
            return self.head(self.ln_f(x))

    return GPT()

