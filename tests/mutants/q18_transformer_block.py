"""q18 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function or
class. The notebook's setup cell does `import numpy as np`, `import torch`,
`from torch import nn`, `import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    # -- layer_norm -----------------------------------------------------------------------------
    ("normalizes-over-batch", "layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta
'''),
    ("unbiased-variance", "layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return x_hat * gamma + beta
'''),
    ("eps-outside-sqrt", "layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    std = x.std(-1, keepdim=True, unbiased=False)
    return gamma * (x - mean) / (std + eps) + beta
'''),
    ("forbidden-api", "layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)
'''),
    # -- TransformerBlock -----------------------------------------------------------------------
    ("missing-residual", "TransformerBlock", '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        m = None if mask is None else ~mask
        if self.pre_norm:
            h = self.ln1(x)
            x = self.attn(h, h, h, attn_mask=m)[0]          # the sub-layer replaces x
            x = x + self.ff(self.ln2(x))
        else:
            x = self.ln1(self.attn(x, x, x, attn_mask=m)[0])
            x = self.ln2(x + self.ff(x))
        return x
'''),
    ("post-norm-for-pre-norm", "TransformerBlock", '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        # "Add & Norm" as in the paper's figure, whatever pre_norm says
        attn_mask = None if mask is None else ~mask
        x = self.ln1(x + self.attn(x, x, x, attn_mask=attn_mask)[0])
        x = self.ln2(x + self.ff(x))
        return x
'''),
    ("mask-inverted", "TransformerBlock", '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def _sa(self, h, mask):
        out, _ = self.attn(h, h, h, attn_mask=mask)
        return out

    def forward(self, x, mask=None):
        if self.pre_norm:
            x = x + self._sa(self.ln1(x), mask)
            return x + self.ff(self.ln2(x))
        x = self.ln1(x + self._sa(x, mask))
        return self.ln2(x + self.ff(x))
'''),
    ("ffn-activation-wrong", "TransformerBlock", '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        m = None if mask is None else ~mask
        if self.pre_norm:
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=m)[0]
            x = x + self.ff(self.ln2(x))
        else:
            x = self.ln1(x + self.attn(x, x, x, attn_mask=m)[0])
            x = self.ln2(x + self.ff(x))
        return x
'''),
    ("mask-ignored", "TransformerBlock", '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        if self.pre_norm:
            h = self.ln1(x)
            x = x + self.attn(h, h, h)[0]
            x = x + self.ff(self.ln2(x))
        else:
            x = self.ln1(x + self.attn(x, x, x)[0])
            x = self.ln2(x + self.ff(x))
        return x
'''),
    # -- masks --------------------------------------------------------------------------------
    ("padding-mask-inverted", "padding_mask", '''
def padding_mask(lengths, T):
    return torch.arange(T)[None, :] >= lengths[:, None]
'''),
    ("encoder-mask-causal", "encoder_attention_mask", '''
def encoder_attention_mask(lengths, T):
    keep = padding_mask(lengths, T)[:, None, None, :]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return keep & causal
'''),
    ("padding-ignored", "encoder_attention_mask", '''
def encoder_attention_mask(lengths, T):
    B = len(lengths)
    return torch.ones(B, 1, T, T, dtype=torch.bool)
'''),
    ("decoder-mask-not-causal", "decoder_attention_mask", '''
def decoder_attention_mask(lengths, T):
    B = lengths.shape[0]
    pad = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    return pad.view(B, 1, 1, T).expand(B, 1, T, T).clone()
'''),
    ("padding-ignored", "decoder_attention_mask", '''
def decoder_attention_mask(lengths, T):
    causal = torch.tril(torch.ones(T, T)).bool()
    return causal.repeat(lengths.shape[0], 1, 1, 1)
'''),
    # -- gpt_param_count ------------------------------------------------------------------------
    ("forgot-biases", "gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    d = d_model
    attn = 4 * d * d                 # Wq, Wk, Wv, Wo
    mlp = d * d_ff + d_ff * d
    ln = 2 * (2 * d)
    total = vocab_size * d + max_len * d + n_layers * (attn + mlp + ln) + 2 * d
    if not tied_embeddings:
        total += vocab_size * d
    return total
'''),
    ("forgot-layernorm", "gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    per_layer = (3 * d_model * d_model + 3 * d_model) + (d_model * d_model + d_model) \\
        + (d_model * d_ff + d_ff) + (d_ff * d_model + d_model)
    embeddings = (vocab_size + max_len) * d_model
    head = 0 if tied_embeddings else vocab_size * d_model
    return embeddings + n_layers * per_layer + head
'''),
    ("head-counted-when-tied", "gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    d = d_model
    block = 4 * d * d + 4 * d + 2 * d * d_ff + d_ff + d + 4 * d
    emb = vocab_size * d + max_len * d
    lm_head = vocab_size * d
    return emb + n_layers * block + 2 * d + lm_head
'''),
    ("params-scale-with-heads", "gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    d = d_model
    one_head = 3 * (d * d + d)                  # a query, key and value projection per head
    attn = n_heads * one_head + (d * d + d)     # plus the output projection
    ffn = d * d_ff + d_ff + d_ff * d + d
    block = attn + ffn + 2 * 2 * d
    total = vocab_size * d + max_len * d + n_layers * block + 2 * d
    return total if tied_embeddings else total + vocab_size * d
'''),
    ("forgot-position-embedding", "gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    d = d_model
    block = 4 * d * d + 4 * d + 2 * d * d_ff + d_ff + d + 4 * d
    total = vocab_size * d + n_layers * block + 2 * d
    return total if tied_embeddings else total + vocab_size * d
'''),
    # -- greedy_decode ------------------------------------------------------------------------
    ("decodes-from-first-position", "greedy_decode", '''
def greedy_decode(model, prompt_ids, max_new_tokens):
    model.eval()
    out = prompt_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(out)
            next_id = torch.argmax(logits[:, 0], dim=-1)
            out = torch.cat([out, next_id[:, None]], dim=1)
    return out
'''),
    ("missing-eval-mode", "greedy_decode", '''
def greedy_decode(model, prompt_ids, max_new_tokens):
    ids = prompt_ids.clone()
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(ids)
            next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            ids = torch.cat((ids, next_token), dim=1)
    return ids
'''),
    ("missing-no-grad", "greedy_decode", '''
def greedy_decode(model, prompt_ids, max_new_tokens):
    model.eval()
    ids = prompt_ids
    for _ in range(max_new_tokens):
        logits = model(ids)
        next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)
        ids = torch.cat((ids, next_token), dim=1)
    return ids
'''),
]

ALTERNATIVES = [
    # -- layer_norm -----------------------------------------------------------------------------
    ("layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) * gamma + beta
'''),
    ("layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    # by hand, as on a whiteboard: sums over the feature axis
    d = x.shape[-1]
    mu = x.sum(-1, keepdim=True) / d
    centred = x - mu
    sigma2 = (centred * centred).sum(-1, keepdim=True) / d
    return gamma * (centred / (sigma2 + eps) ** 0.5) + beta
'''),
    ("layer_norm", '''
def layer_norm(x, gamma, beta, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, unbiased=False, keepdim=True)
    return torch.addcmul(beta, (x - mean) / torch.sqrt(var + eps), gamma)
'''),
    # -- TransformerBlock -----------------------------------------------------------------------
    ("TransformerBlock", '''
class TransformerBlock(nn.Module):
    """Submodules created in another order; the flag branches once, in __init__."""
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ln1 = nn.LayerNorm(d_model)
        self._forward = self._pre if pre_norm else self._post

    def _sa(self, h, mask):
        return self.attn(h, h, h, attn_mask=None if mask is None else ~mask, need_weights=False)[0]

    def _pre(self, x, mask):
        x = x + self._sa(self.ln1(x), mask)
        return x + self.ff(self.ln2(x))

    def _post(self, x, mask):
        x = self.ln1(x + self._sa(x, mask))
        return self.ln2(x + self.ff(x))

    def forward(self, x, mask=None):
        return self._forward(x, mask)
'''),
    ("TransformerBlock", '''
class TransformerBlock(nn.Module):
    """Attention written out with the weights of self.attn (an additive float mask)."""
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.n_heads, self.pre_norm = n_heads, pre_norm
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def self_attention(self, h, mask):
        B, T, D = h.shape
        H = self.n_heads
        q, k, v = F.linear(h, self.attn.in_proj_weight, self.attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(B, T, H, D // H).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / (D // H) ** 0.5
        if mask is not None:
            bias = torch.zeros(T, T).masked_fill(~mask, float("-inf"))
            scores = scores + bias
        out = torch.softmax(scores, dim=-1) @ v
        return self.attn.out_proj(out.transpose(1, 2).reshape(B, T, D))

    def forward(self, x, mask=None):
        if self.pre_norm:
            x = x + self.self_attention(self.ln1(x), mask)
            x = x + self.ff(self.ln2(x))
        else:
            x = self.ln1(x + self.self_attention(x, mask))
            x = self.ln2(x + self.ff(x))
        return x
'''),
    ("TransformerBlock", '''
class TransformerBlock(nn.Module):
    """d2l style: ff built from an OrderedDict-free Sequential, the mask as a float -inf mask."""
    def __init__(self, d_model, n_heads, d_ff, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ff = nn.Sequential()
        self.ff.append(nn.Linear(d_model, d_ff))
        self.ff.append(nn.GELU(approximate="none"))
        self.ff.append(nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        attn_mask = None
        if mask is not None:
            attn_mask = torch.where(mask, 0.0, float("-inf"))
        if self.pre_norm:
            y = self.ln1(x)
            x = x + self.attn(y, y, y, attn_mask=attn_mask)[0]
            return x + self.ff(self.ln2(x))
        x = self.ln1(x + self.attn(x, x, x, attn_mask=attn_mask)[0])
        return self.ln2(x + self.ff(x))
'''),
    # -- masks --------------------------------------------------------------------------------
    ("padding_mask", '''
def padding_mask(lengths, T):
    B = lengths.shape[0]
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b in range(B):
        mask[b, :int(lengths[b])] = True
    return mask
'''),
    ("padding_mask", '''
def padding_mask(lengths, T):
    positions = torch.arange(T).expand(len(lengths), T)
    return positions < lengths.unsqueeze(1)
'''),
    ("encoder_attention_mask", '''
def encoder_attention_mask(lengths, T):
    keys = padding_mask(lengths, T)                   # (B, T)
    return keys[:, None, None, :].expand(-1, 1, T, T)
'''),
    ("encoder_attention_mask", '''
def encoder_attention_mask(lengths, T):
    B = len(lengths)
    mask = torch.zeros(B, 1, T, T, dtype=torch.bool)
    for b in range(B):
        n = int(lengths[b])
        for q in range(T):
            mask[b, 0, q, :n] = True
    return mask
'''),
    ("decoder_attention_mask", '''
def decoder_attention_mask(lengths, T):
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    return encoder_attention_mask(lengths, T) & causal
'''),
    ("decoder_attention_mask", '''
def decoder_attention_mask(lengths, T):
    q = torch.arange(T).view(1, 1, T, 1)
    k = torch.arange(T).view(1, 1, 1, T)
    L = lengths.view(-1, 1, 1, 1)
    return (k < L) & (k <= q)
'''),
    # -- gpt_param_count ------------------------------------------------------------------------
    ("gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    # build it and count, as `sum(p.numel() for p in model.parameters())` does (shared once)
    blocks = nn.ModuleList([TransformerBlock(d_model, n_heads, d_ff) for _ in range(n_layers)])
    tok = nn.Embedding(vocab_size, d_model)
    pos = nn.Embedding(max_len, d_model)
    ln_f = nn.LayerNorm(d_model)
    head = nn.Linear(d_model, vocab_size, bias=False)
    if tied_embeddings:
        head.weight = tok.weight
    model = nn.ModuleList([tok, pos, blocks, ln_f, head])
    return sum(p.numel() for p in model.parameters())
'''),
    ("gpt_param_count", '''
def gpt_param_count(vocab_size, max_len, d_model, n_heads, d_ff, n_layers, tied_embeddings=True):
    def linear(n_in, n_out, bias=True):
        return n_in * n_out + (n_out if bias else 0)

    def layernorm(d):
        return 2 * d

    attention = 3 * linear(d_model, d_model) + linear(d_model, d_model)
    mlp = linear(d_model, d_ff) + linear(d_ff, d_model)
    block = layernorm(d_model) + attention + layernorm(d_model) + mlp
    count = vocab_size * d_model + max_len * d_model + n_layers * block + layernorm(d_model)
    if not tied_embeddings:
        count += linear(d_model, vocab_size, bias=False)
    return int(count)
'''),
    # -- greedy_decode ------------------------------------------------------------------------
    ("greedy_decode", '''
def greedy_decode(model, prompt_ids, max_new_tokens):
    model.train(False)
    tokens = [prompt_ids]
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            ids = torch.cat(tokens, dim=1)
            tokens.append(model(ids)[:, -1].topk(1, dim=-1).indices)
    return torch.cat(tokens, dim=1)
'''),
    ("greedy_decode", '''
@torch.no_grad()
def greedy_decode(model, prompt_ids, max_new_tokens):
    was_training = model.training
    model.eval()
    B, T = prompt_ids.shape
    out = torch.empty(B, T + max_new_tokens, dtype=torch.long)
    out[:, :T] = prompt_ids
    for t in range(T, T + max_new_tokens):
        logits = model(out[:, :t])
        out[:, t] = logits[:, t - 1, :].argmax(-1)
    model.train(was_training)
    return out
'''),
]
