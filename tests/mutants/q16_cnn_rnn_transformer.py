"""q16 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import math`, `import numpy as np`, `import torch`,
`from torch import nn`, `import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

# A student's three models with one of them wrong; the two right ones are kept short.
_SHORT_RNN = '''
class ShortRNN(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d_model)
        self.rnn = nn.GRU(d_model, d_model, batch_first=True)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        return self.out(self.rnn(self.emb(tokens))[0])
'''

_SHORT_CNN = '''
class ShortCNN(nn.Module):
    def __init__(self, vocab_size, d_model, k=3):
        super().__init__()
        self.k = k
        self.emb = nn.Embedding(vocab_size, d_model)
        self.conv1 = nn.Conv1d(d_model, d_model, k)
        self.conv2 = nn.Conv1d(d_model, d_model, k)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        x = self.emb(tokens).transpose(1, 2)
        x = torch.relu(self.conv1(F.pad(x, (self.k - 1, 0))))
        x = torch.relu(self.conv2(F.pad(x, (self.k - 1, 0))))
        return self.out(x.transpose(1, 2))
'''

_SHORT_TRANSFORMER = '''
class ShortTransformer(nn.Module):
    def __init__(self, vocab_size, d_model, max_len=256):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, 4, 2 * d_model, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.emb(tokens) + self.pos(torch.arange(T))
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.out(self.enc(x, mask=mask, is_causal=True))
'''

_BUILD = '''
def build_sequence_model(kind, vocab_size, d_model):
    return {"cnn": ShortCNN, "rnn": ShortRNN, "transformer": ShortTransformer}[kind](vocab_size, d_model)
'''

MUTANTS = [
    ("sin-cos-swapped", "sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    pe = torch.zeros(T, d)
    position = torch.arange(0, T, dtype=torch.float).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.cos(position * div_term)
    pe[:, 1::2] = torch.sin(position * div_term)
    return pe
'''),
    ("pe-exponent-wrong", "sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    pos = np.arange(T)[:, None]
    j = np.arange(d)[None, :]
    angles = pos / np.power(10000, j / d)        # the column index in the exponent
    pe = np.zeros((T, d))
    pe[:, 0::2] = np.sin(angles[:, 0::2])
    pe[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.tensor(pe, dtype=torch.float32)
'''),
    ("pe-exponent-wrong", "sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    pe = torch.zeros(T, d)
    for pos in range(T):
        for i in range(0, d, 2):
            angle = pos / (10000 ** (i / d))
            pe[pos, i] = math.sin(angle)
            if i + 1 < d:
                pe[pos, i + 1] = math.cos(pos / (10000 ** ((i + 1) / d)))
    return pe
'''),
    ("pe-blocks-not-interleaved", "sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    half = d // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) * 2 / d)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).float()
'''),
    ("future-leak", "build_sequence_model", _SHORT_RNN + _SHORT_CNN + '''
class ShortTransformer(nn.Module):
    def __init__(self, vocab_size, d_model, max_len=256):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, 4, 2 * d_model, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        x = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1]))
        return self.out(self.enc(x))             # every position attends to every other
''' + _BUILD),
    ("future-leak", "build_sequence_model", _SHORT_RNN + _SHORT_TRANSFORMER + '''
class ShortCNN(nn.Module):
    def __init__(self, vocab_size, d_model, k=3):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d_model)
        self.conv1 = nn.Conv1d(d_model, d_model, k, padding=k // 2)   # "same" padding
        self.conv2 = nn.Conv1d(d_model, d_model, k, padding=k // 2)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        x = self.emb(tokens).transpose(1, 2)
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.out(x.transpose(1, 2))
''' + _BUILD),
    ("future-leak", "build_sequence_model", _SHORT_CNN + _SHORT_TRANSFORMER + '''
class ShortRNN(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d_model)
        self.rnn = nn.LSTM(d_model, d_model // 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        return self.out(self.rnn(self.emb(tokens))[0])
''' + _BUILD),
]

# Labels of our own (beyond the catalogue): each named by its checks too.
MUTANTS += [
    ("path-not-ceiled", "max_path_length", '''
def max_path_length(arch, n, kernel=3):
    if arch == "cnn":
        return (n - 1) // (kernel - 1)             # a partial last layer is dropped
    return {"rnn": n - 1, "self_attention": 1}[arch]
'''),
    ("path-divides-by-kernel", "max_path_length", '''
def max_path_length(arch, n, kernel=3):
    if arch == "cnn":
        return math.ceil(n / kernel)               # each layer "covers" kernel positions
    return {"rnn": n - 1, "self_attention": 1}[arch]
'''),
    ("rnn-path-n", "max_path_length", '''
def max_path_length(arch, n, kernel=3):
    if arch == "rnn":
        return n                                   # counts the states, not the steps between them
    if arch == "cnn":
        return math.ceil((n - 1) / (kernel - 1))
    return 1
'''),
    ("flops-swapped", "layer_flops", '''
def layer_flops(arch, n, d, kernel=3):
    return {"rnn": n * n * d, "cnn": kernel * n * d * d, "self_attention": n * d * d}[arch]
'''),
    ("cnn-flops-missing-kernel", "layer_flops", '''
def layer_flops(arch, n, d, kernel=3):
    return {"rnn": n * d * d, "cnn": n * d * d, "self_attention": n * n * d}[arch]
'''),
    ("cannot-learn", "build_sequence_model", _SHORT_CNN + _SHORT_TRANSFORMER + '''
class ShortRNN(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.emb = nn.Embedding(vocab_size, d_model)
        self.rnn = nn.GRU(d_model, d_model, batch_first=True)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        head = nn.Linear(out.shape[-1], self.vocab_size)   # a new, untrained head at every call
        return head(out)
''' + _BUILD),
]

ALTERNATIVES = [
    # -- max_path_length ---------------------------------------------------------------------------
    ("max_path_length", '''
def max_path_length(arch, n, kernel=3):
    if arch == "rnn":
        return n - 1
    if arch == "cnn":
        return math.ceil((n - 1) / (kernel - 1))
    if arch == "self_attention":
        return 1
    raise ValueError(arch)
'''),
    ("max_path_length", '''
def max_path_length(arch, n, kernel=3):
    if arch == "cnn":
        layers, reach = 0, 0
        while reach < n - 1:          # each layer reaches kernel - 1 positions further
            reach += kernel - 1
            layers += 1
        return layers
    return {"rnn": n - 1, "self_attention": 1}[arch]
'''),
    # -- sequential_operations ---------------------------------------------------------------------
    ("sequential_operations", '''
def sequential_operations(arch, n):
    return n if arch == "rnn" else 1
'''),
    ("sequential_operations", '''
def sequential_operations(arch, n):
    table = {"rnn": lambda n: n, "cnn": lambda n: 1, "self_attention": lambda n: 1}
    return int(table[arch](n))
'''),
    # -- layer_flops -------------------------------------------------------------------------------
    ("layer_flops", '''
def layer_flops(arch, n, d, kernel=3):
    if arch == "rnn":
        return n * d ** 2
    elif arch == "cnn":
        return kernel * n * d ** 2
    elif arch == "self_attention":
        return n ** 2 * d
    raise ValueError(f"unknown architecture {arch}")
'''),
    ("layer_flops", '''
def layer_flops(arch, n, d, kernel=3):
    per_position = {"rnn": d * d, "cnn": kernel * d * d, "self_attention": n * d}
    return int(np.int64(n) * per_position[arch])
'''),
    # -- sinusoidal_positional_encoding ------------------------------------------------------------
    ("sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    # the PyTorch tutorial's PositionalEncoding, float32 throughout
    position = torch.arange(T).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe
'''),
    ("sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    pos = np.arange(T)[:, np.newaxis]
    i = np.arange(d)[np.newaxis, :]
    angle_rates = 1 / np.power(10000, (2 * (i // 2)) / np.float64(d))
    angles = pos * angle_rates
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(angles)
'''),
    ("sinusoidal_positional_encoding", '''
def sinusoidal_positional_encoding(T, d):
    i = torch.arange(d // 2, dtype=torch.float64)
    freq = 1.0 / 10000 ** (2 * i / d)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), freq)
    return torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(T, d)      # interleave pairs
'''),
    # -- build_sequence_model ----------------------------------------------------------------------
    ("build_sequence_model", '''
class CausalSelfAttention(nn.Module):
    def __init__(self, d, n_head, block_size=128):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.n_head = n_head
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size))
                             .view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)

class Block(nn.Module):
    def __init__(self, d, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, n_head)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

class GPT(nn.Module):
    def __init__(self, vocab_size, d, n_layer=2, n_head=4, block_size=128):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d)
        self.wpe = nn.Embedding(block_size, d)
        self.blocks = nn.ModuleList([Block(d, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab_size, bias=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

class WaveNetish(nn.Module):
    """Dilated convolutions, padded on both sides by PyTorch, the right-hand extra cut off."""
    def __init__(self, vocab_size, d, k=2, layers=4):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.convs = nn.ModuleList(nn.Conv1d(d, d, k, dilation=2 ** i, padding=(k - 1) * 2 ** i)
                                   for i in range(layers))
        self.head = nn.Linear(d, vocab_size)

    def forward(self, tokens):
        T = tokens.shape[1]
        h = self.emb(tokens).transpose(1, 2)
        for conv in self.convs:
            h = h + torch.tanh(conv(h)[..., :T])       # keep the first T outputs: the causal ones
        return self.head(h.transpose(1, 2))

class GRULM(nn.Module):
    def __init__(self, vocab_size, d):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.gru = nn.GRU(d, d, num_layers=2, batch_first=True)
        self.head = nn.Linear(d, vocab_size)

    def forward(self, tokens):
        out, _ = self.gru(self.emb(tokens))
        return self.head(out)

def build_sequence_model(kind, vocab_size, d_model):
    if kind == "transformer":
        return GPT(vocab_size, d_model)
    if kind == "cnn":
        return WaveNetish(vocab_size, d_model)
    if kind == "rnn":
        return GRULM(vocab_size, d_model)
    raise ValueError(kind)
'''),
    ("build_sequence_model", '''
class PETransformer(nn.Module):
    def __init__(self, vocab_size, d_model, nhead=2):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=64, dropout=0.1)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1)
        self.decoder = nn.Linear(d_model, vocab_size)

    def forward(self, src):                                   # (B, T), time second
        T = src.size(1)
        x = self.embedding(src) * math.sqrt(self.d_model) + sinusoidal_positional_encoding(T, self.d_model)
        mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        x = self.encoder(x.transpose(0, 1), mask)             # sequence first, as the tutorial
        return self.decoder(x.transpose(0, 1))

class CausalConv(nn.Module):
    def __init__(self, vocab_size, d_model, kernel_size=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConstantPad1d((kernel_size - 1, 0), 0.0), nn.Conv1d(d_model, d_model, kernel_size), nn.GELU(),
            nn.ConstantPad1d((kernel_size - 1, 0), 0.0), nn.Conv1d(d_model, d_model, kernel_size), nn.GELU(),
        )
        self.embed = nn.Embedding(vocab_size, d_model)
        self.proj = nn.Linear(d_model, vocab_size)

    def forward(self, x):
        return self.proj(self.net(self.embed(x).permute(0, 2, 1)).permute(0, 2, 1))

class VanillaRNN(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.rnn = nn.RNN(d_model, d_model, nonlinearity="tanh", batch_first=True)
        self.proj = nn.Linear(d_model, vocab_size)

    def forward(self, x):
        h, _ = self.rnn(self.embed(x))
        return self.proj(h)

def build_sequence_model(kind, vocab_size, d_model):
    models = {"transformer": PETransformer, "cnn": CausalConv, "rnn": VanillaRNN}
    if kind not in models:
        raise ValueError(f"unknown kind {kind!r}")
    return models[kind](vocab_size, d_model)
'''),
]
