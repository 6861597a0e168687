"""q16_cnn_rnn_transformer: reference answers and the classic mistakes as code. Never leaves the instructor.

The complexity functions return plain ints; sinusoidal_positional_encoding a (T, d) tensor.
`build_sequence_model` makes a module, so its check runs
autograder/harnesses/q16_cnn_rnn_transformer.py on the student's namespace and names its mistakes
with rules on the student's trace alone (sequence_model_problem, in the labels module).
"""
import torch
import torch.nn.functional as F
from torch import nn

from autograder.labels.q16_cnn_rnn_transformer import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
STANDINS = ("sinusoidal_positional_encoding",)   # a student's transformer may call it
ARCHS = ("rnn", "cnn", "self_attention")


def _arch(arch):
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
    return arch


# ---- path length, sequential operations, cost per layer ---------------------------------------------

def max_path_length(arch, n, kernel=3):
    n, kernel = int(n), int(kernel)
    return {"rnn": n - 1, "self_attention": 1,
            "cnn": -(-(n - 1) // (kernel - 1))}[_arch(arch)]   # ceil((n-1)/(k-1)) stacked convs


@PITFALLS.variant("max_path_length", "path-not-ceiled")
def max_path_length_floor(arch, n, kernel=3):
    if _arch(arch) == "cnn":
        return (int(n) - 1) // (int(kernel) - 1)
    return max_path_length(arch, n, kernel)


@PITFALLS.variant("max_path_length", "path-divides-by-kernel")
def max_path_length_over_kernel(arch, n, kernel=3):
    if _arch(arch) == "cnn":
        return -(-(int(n) - 1) // int(kernel))
    return max_path_length(arch, n, kernel)


@PITFALLS.variant("max_path_length", "path-divides-by-kernel")
def max_path_length_n_over_kernel(arch, n, kernel=3):
    if _arch(arch) == "cnn":
        return -(-int(n) // int(kernel))
    return max_path_length(arch, n, kernel)


@PITFALLS.variant("max_path_length", "path-divides-by-kernel")
def max_path_length_n_floor_kernel(arch, n, kernel=3):
    if _arch(arch) == "cnn":
        return int(n) // int(kernel)
    return max_path_length(arch, n, kernel)


@PITFALLS.variant("max_path_length", "rnn-path-n")
def max_path_length_rnn_n(arch, n, kernel=3):
    return int(n) if _arch(arch) == "rnn" else max_path_length(arch, n, kernel)


def sequential_operations(arch, n):
    return {"rnn": int(n), "cnn": 1, "self_attention": 1}[_arch(arch)]


def layer_flops(arch, n, d, kernel=3):
    n, d, kernel = int(n), int(d), int(kernel)
    return {"rnn": n * d * d, "cnn": kernel * n * d * d, "self_attention": n * n * d}[_arch(arch)]


@PITFALLS.variant("layer_flops", "flops-swapped")
def layer_flops_swapped(arch, n, d, kernel=3):
    n, d = int(n), int(d)
    if _arch(arch) == "rnn":
        return n * n * d
    if arch == "self_attention":
        return n * d * d
    return layer_flops(arch, n, d, kernel)


@PITFALLS.variant("layer_flops", "cnn-flops-missing-kernel")
def layer_flops_cnn_without_kernel(arch, n, d, kernel=3):
    if _arch(arch) == "cnn":
        return int(n) * int(d) * int(d)
    return layer_flops(arch, n, d, kernel)


# ---- sinusoidal_positional_encoding ---------------------------------------------------------------

def _encoding(T, d, *, swap=False, exponent="pair", blocks=False):
    """The encoding with one knob per classic mistake; the defaults are the right answer.
    Computed in float64 (angles up to T radians), returned in torch's default dtype."""
    T, d = int(T), int(d)
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    even, odd = torch.arange(0, d, 2, dtype=torch.float64), torch.arange(1, d, 2, dtype=torch.float64)
    if exponent == "pair":            # column 2i and 2i+1 share 10000^(2i/d)
        f_even, f_odd = 10000.0 ** (-even / d), 10000.0 ** (-(odd - 1) / d)
    elif exponent == "column":        # 10000^(j/d) with j the column itself
        f_even, f_odd = 10000.0 ** (-even / d), 10000.0 ** (-odd / d)
    elif exponent == "no-two":        # 10000^(i/d) with i the pair index
        f_even, f_odd = 10000.0 ** (-(even / 2) / d), 10000.0 ** (-((odd - 1) / 2) / d)
    elif exponent == "two-column":    # 10000^(2j/d) with j the column
        f_even, f_odd = 10000.0 ** (-2 * even / d), 10000.0 ** (-2 * odd / d)
    elif exponent == "multiply":      # pos * 10000^(2i/d)
        f_even, f_odd = 10000.0 ** (even / d), 10000.0 ** ((odd - 1) / d)
    else:
        raise ValueError(exponent)
    first, second = (torch.cos, torch.sin) if swap else (torch.sin, torch.cos)
    a, b = first(pos * f_even), second(pos * f_odd)
    if blocks:      # sin of every pair, then cos of every pair (tensor2tensor's layout)
        pe = torch.cat([a, b], dim=1)
    else:
        pe = torch.zeros(T, d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = a, b
    return pe.to(torch.get_default_dtype())


def sinusoidal_positional_encoding(T, d):
    return _encoding(T, d)


@PITFALLS.variant("sinusoidal_positional_encoding", "sin-cos-swapped")
def pe_cos_even(T, d):
    return _encoding(T, d, swap=True)


for _exponent in ("column", "no-two", "two-column", "multiply"):
    def _pe(T, d, _e=_exponent):
        return _encoding(T, d, exponent=_e)
    _pe.__name__ = _pe.__qualname__ = f"pe_exponent_{_exponent.replace('-', '_')}"
    PITFALLS.variant("sinusoidal_positional_encoding", "pe-exponent-wrong")(_pe)


@PITFALLS.variant("sinusoidal_positional_encoding", "pe-blocks-not-interleaved")
def pe_sin_block_then_cos_block(T, d):
    return _encoding(T, d, blocks=True)


@PITFALLS.variant("sinusoidal_positional_encoding", "pe-blocks-not-interleaved")
def pe_cos_block_then_sin_block(T, d):
    return _encoding(T, d, blocks=True, swap=True)


# ---- build_sequence_model -------------------------------------------------------------------------

class CausalConvLM(nn.Module):
    """Embedding, residual stack of 1-D convolutions padded on the left only, linear head."""

    def __init__(self, vocab_size, d_model, kernel=3, layers=3):
        super().__init__()
        self.kernel = kernel
        self.embed = nn.Embedding(vocab_size, d_model)
        self.convs = nn.ModuleList(nn.Conv1d(d_model, d_model, kernel) for _ in range(layers))
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):                       # (B, T) -> (B, T, vocab)
        x = self.embed(tokens).transpose(1, 2)       # (B, d, T)
        for conv in self.convs:
            # kernel-1 zeros on the left: output t sees inputs t-kernel+1 .. t, never t+1
            x = x + torch.relu(conv(F.pad(x, (self.kernel - 1, 0))))
        return self.head(x.transpose(1, 2))


class RecurrentLM(nn.Module):
    """Embedding, one-directional LSTM, linear head."""

    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.rnn = nn.LSTM(d_model, d_model, batch_first=True)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


class TransformerLM(nn.Module):
    """Embedding plus sinusoidal positions, two pre-norm encoder layers under a causal mask, head."""

    def __init__(self, vocab_size, d_model, layers=2):
        super().__init__()
        heads = next(h for h in (4, 2, 1) if d_model % h == 0)
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.embed(tokens) + sinusoidal_positional_encoding(T, self.d_model).to(self.embed.weight.dtype)
        # True above the diagonal = may not attend: position t reads positions 0..t only
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        return self.head(self.encoder(x, mask=mask))


def build_sequence_model(kind, vocab_size, d_model):
    if kind == "cnn":
        return CausalConvLM(vocab_size, d_model)
    if kind == "rnn":
        return RecurrentLM(vocab_size, d_model)
    if kind == "transformer":
        return TransformerLM(vocab_size, d_model)
    raise ValueError(f"kind must be 'cnn', 'rnn' or 'transformer', not {kind!r}")
