"""q15 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function or class.
"""

MUTANTS = [
    # -- scaled_dot_product_attention ---------------------------------------------------------
    ("missing-sqrt-dk-scaling", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
    ("scaled-by-dk", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
    ("softmax-over-queries", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights
'''),
    ("mask-after-softmax", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights
'''),
    ("mask-inverted", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, -1e9)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
    ("mask-fill-zero", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores * mask
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
    # Imported by name in an earlier cell: the tripwire must follow the name, not the module.
    ("forbidden-api", "scaled_dot_product_attention", '''
from torch.nn.functional import scaled_dot_product_attention as _library_sdpa
def scaled_dot_product_attention(q, k, v, mask=None):
    out = _library_sdpa(q, k, v, attn_mask=mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return out, torch.softmax(scores, dim=-1)
'''),
    ("forbidden-api", "scaled_dot_product_attention", '''
import torch.nn.functional as F
def scaled_dot_product_attention(q, k, v, mask=None):
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return out, torch.softmax(scores, dim=-1)
'''),
    ("mutates-input", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    q /= math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
    ("wrong-type", "scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
'''),
    # -- causal_mask ----------------------------------------------------------------------------
    ("causal-mask-excludes-diagonal", "causal_mask", '''
def causal_mask(T):
    i = torch.arange(T)
    return i[None, :] < i[:, None]
'''),
    ("causal-mask-upper", "causal_mask", '''
def causal_mask(T):
    return torch.triu(torch.ones(T, T)).bool()
'''),
    ("mask-inverted", "causal_mask", '''
def causal_mask(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
'''),
    ("wrong-type", "causal_mask", '''
def causal_mask(T):
    return torch.tril(torch.ones(T, T))
'''),
    # -- MultiHeadAttention ---------------------------------------------------------------------
    ("heads-split-without-transpose", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q = self.q_proj(x).view(B, self.h, T, self.dh)
        k = self.k_proj(x).view(B, self.h, T, self.dh)
        v = self.v_proj(x).view(B, self.h, T, self.dh)
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(out.reshape(B, T, D))
'''),
    ("heads-split-without-transpose", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(out.reshape(B, T, D))  # merged without transposing back
'''),
    ("scale-by-d-model", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.d_model, self.h, self.dh = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_model)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))
'''),
    ("missing-output-projection", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return out.transpose(1, 2).reshape(B, T, D)
'''),
    ("missing-output-projection", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return out.transpose(1, 2).reshape(B, T, D)
'''),
    ("forbidden-api", "MultiHeadAttention", '''
import torch.nn.functional as F
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))
'''),
    ("forbidden-api", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.inner = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = self.inner.out_proj

    def forward(self, x, mask=None):
        with torch.no_grad():
            self.inner.in_proj_weight.copy_(torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]))
            self.inner.in_proj_bias.copy_(torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]))
        T = x.shape[1]
        attn_mask = None
        if mask is not None:
            attn_mask = ~mask.expand(x.shape[0], self.inner.num_heads, T, T).reshape(-1, T, T)
        return self.inner(x, x, x, attn_mask=attn_mask, need_weights=False)[0]
'''),
    ("projection-layers-wrong", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.h, self.dh).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))
'''),
    ("mask-inverted", "MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.dh).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out, _ = scaled_dot_product_attention(q, k, v, None if mask is None else ~mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))
'''),
    # -- attention_score_flops ------------------------------------------------------------------
    ("flops-missing-factor-2", "attention_score_flops", '''
def attention_score_flops(n, d):
    return n * n * d
'''),
    ("flops-not-quadratic", "attention_score_flops", '''
def attention_score_flops(n, d):
    return 2 * n * d
'''),
    ("flops-quadratic-in-d", "attention_score_flops", '''
def attention_score_flops(n, d):
    return 2 * n * d * d
'''),
    # -- kv_cache_step --------------------------------------------------------------------------
    ("new-token-excluded", "kv_cache_step", '''
def kv_cache_step(q_t, k_t, v_t, cache):
    if cache is None:
        K, V = k_t.new_zeros(0, k_t.shape[0]), v_t.new_zeros(0, v_t.shape[0])
    else:
        K, V = cache
    w = torch.softmax(K @ q_t / math.sqrt(q_t.shape[0]), dim=0)   # attend first...
    out = w @ V
    return out, (torch.cat([K, k_t[None]]), torch.cat([V, v_t[None]]))   # ...then append
'''),
    ("cache-not-updated", "kv_cache_step", '''
def kv_cache_step(q_t, k_t, v_t, cache):
    K = k_t[None] if cache is None else torch.cat([cache[0], k_t[None]])
    V = v_t[None] if cache is None else torch.cat([cache[1], v_t[None]])
    out, _ = scaled_dot_product_attention(q_t[None], K, V)
    return out[0], cache            # hands back the cache it was given
'''),
    ("cache-not-updated", "kv_cache_step", '''
def kv_cache_step(q_t, k_t, v_t, cache):
    if cache is not None:
        K, V = torch.cat([cache[0], k_t[None]]), torch.cat([cache[1], v_t[None]])
    else:
        K, V = k_t[None], v_t[None]
    out, _ = scaled_dot_product_attention(q_t[None], K, V)
    cache = (k_t[None], v_t[None])  # overwrites the history with the new token alone
    return out[0], cache
'''),
    ("missing-sqrt-dk-scaling", "kv_cache_step", '''
def kv_cache_step(q_t, k_t, v_t, cache):
    if cache is None:
        K, V = k_t.unsqueeze(0), v_t.unsqueeze(0)
    else:
        K, V = torch.cat([cache[0], k_t.unsqueeze(0)]), torch.cat([cache[1], v_t.unsqueeze(0)])
    weights = torch.softmax(K @ q_t, dim=-1)
    return weights @ V, (K, V)
'''),
    ("forbidden-api", "kv_cache_step", '''
import torch.nn.functional as F
def kv_cache_step(q_t, k_t, v_t, cache):
    K = k_t[None] if cache is None else torch.cat([cache[0], k_t[None]])
    V = v_t[None] if cache is None else torch.cat([cache[1], v_t[None]])
    return F.scaled_dot_product_attention(q_t[None], K, V)[0], (K, V)
'''),
    # -- kv_cache_attention ---------------------------------------------------------------------
    ("cache-includes-future", "kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    outs = []
    for t in range(q.shape[0]):
        out, _ = scaled_dot_product_attention(q[t:t + 1], k, v)
        outs.append(out[0])
    return torch.stack(outs)
'''),
    ("new-token-excluded", "kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    k_cache, v_cache, outs = [], [], []
    for t in range(q.shape[0]):
        if k_cache:
            out, _ = scaled_dot_product_attention(q[t:t + 1], torch.stack(k_cache), torch.stack(v_cache))
            outs.append(out[0])
        else:
            outs.append(torch.zeros(v.shape[1]))
        k_cache.append(k[t])
        v_cache.append(v[t])
    return torch.stack(outs)
'''),
    ("missing-sqrt-dk-scaling", "kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    outs = []
    for t in range(q.shape[0]):
        w = torch.softmax(k[:t + 1] @ q[t], dim=0)
        outs.append(w @ v[:t + 1])
    return torch.stack(outs)
'''),
    ("cache-not-updated", "kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    cache = None
    outs = []
    for t in range(q.shape[0]):
        out_t, _ = kv_cache_step(q[t], k[t], v[t], cache)   # the new cache is dropped
        outs.append(out_t)
    return torch.stack(outs)
'''),
    ("kv-cache-step-not-used", "kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    # "equals causal attention over the whole sequence": one call, no cache at all
    out, _ = scaled_dot_product_attention(q, k, v, causal_mask(q.shape[0]))
    return out
'''),
    ("forbidden-api", "kv_cache_attention", '''
import torch.nn.functional as F
def kv_cache_attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
'''),
]

ALTERNATIVES = [
    # -- scaled_dot_product_attention ---------------------------------------------------------
    ("scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    return torch.einsum("...qk,...kv->...qv", weights, v), weights
'''),
    ("scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.matmul(q / math.sqrt(q.size(-1)), k.transpose(-1, -2))
    if mask is not None:
        additive = torch.zeros(mask.shape, dtype=scores.dtype).masked_fill(mask.logical_not(), float("-inf"))
        scores = scores + additive
    scores = scores - scores.amax(dim=-1, keepdim=True)
    e = scores.exp()
    weights = e / e.sum(dim=-1, keepdim=True)
    return (weights @ v).numpy(), weights.numpy()
'''),
    ("scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    # mask after the softmax, then renormalise: the same distribution as masking the scores
    weights = torch.softmax(q @ k.mT / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights @ v, weights
'''),
    ("scaled_dot_product_attention", '''
def scaled_dot_product_attention(q, k, v, mask=None):
    q64, k64, v64 = q.double(), k.double(), v.double()
    scores = q64 @ k64.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    weights = torch.softmax(scores, dim=-1)
    return (weights @ v64).to(q.dtype), weights.to(q.dtype)
'''),
    # -- causal_mask ----------------------------------------------------------------------------
    ("causal_mask", '''
def causal_mask(T):
    idx = torch.arange(T)
    return idx[:, None] >= idx[None, :]
'''),
    ("causal_mask", '''
def causal_mask(T):
    return ~torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
'''),
    # -- MultiHeadAttention ---------------------------------------------------------------------
    ("MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    """One fused qkv computation from the three projections, permute instead of transpose."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h = n_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, x, mask=None):
        B, T, D = x.shape
        w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        b = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        qkv = (x @ w.T + b).reshape(B, T, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(D // self.h)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), v)
        return self.out_proj(out.permute(0, 2, 1, 3).reshape(B, T, D)), None
'''),
    ("MultiHeadAttention", '''
class MultiHeadAttention(nn.Module):
    """A loop over the heads, each on its own slice of the projections, then a concatenation."""

    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, attn_mask=None):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        heads = []
        for h in range(self.n_heads):
            s = slice(h * self.d_head, (h + 1) * self.d_head)
            m = None
            if attn_mask is not None:
                m = attn_mask if attn_mask.dim() < 4 else attn_mask[:, h if attn_mask.shape[1] > 1 else 0]
            out, _ = scaled_dot_product_attention(q[..., s], k[..., s], v[..., s], m)
            heads.append(self.drop(out))
        return self.out_proj(torch.cat(heads, dim=-1))
'''),
    # -- attention_score_flops ------------------------------------------------------------------
    ("attention_score_flops", '''
def attention_score_flops(n, d):
    multiplies = n ** 2 * d
    adds = n ** 2 * d
    return int(multiplies + adds)
'''),
    ("attention_score_flops", '''
def attention_score_flops(n, d):
    return float(2 * n * n * d)
'''),
    # -- kv_cache_step --------------------------------------------------------------------------
    ("kv_cache_step", '''
def kv_cache_step(q_t, k_t, v_t, cache):
    # lists of rows, a hand-written softmax
    keys = [k_t] if cache is None else list(cache[0]) + [k_t]
    values = [v_t] if cache is None else list(cache[1]) + [v_t]
    K, V = torch.stack(keys), torch.stack(values)
    scores = torch.mv(K, q_t) / q_t.numel() ** 0.5
    w = torch.exp(scores - scores.max())
    return (w / w.sum()) @ V, (K, V)
'''),
    ("kv_cache_step", '''
def kv_cache_step(q_t, k_t, v_t, cache):
    if cache is None:
        cache = (k_t.new_empty(0, k_t.numel()), v_t.new_empty(0, v_t.numel()))
    K = torch.vstack([cache[0], k_t])
    V = torch.vstack([cache[1], v_t])
    out, _ = scaled_dot_product_attention(q_t.unsqueeze(0), K, V)
    return out.squeeze(0), [K, V]
'''),
    # -- kv_cache_attention ---------------------------------------------------------------------
    ("kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    cache, rows = None, []
    for q_t, k_t, v_t in zip(q, k, v):
        y, cache = kv_cache_step(q_t, k_t, v_t, cache)
        rows.append(y)
    return torch.stack(rows)
'''),
    ("kv_cache_attention", '''
def kv_cache_attention(q, k, v):
    T = q.shape[0]
    out = torch.empty(T, v.shape[1], dtype=v.dtype)
    cache = None
    for t in range(T):
        out[t], cache = kv_cache_step(q[t], k[t], v[t], cache)
    return out
'''),
]
