"""q14 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np`, `import torch`, `from torch import nn`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("gate-order", "lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, o, g = gates.chunk(4, dim=1)          # output gate before the candidate
    i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new
'''),
    ("gate-order", "gate_activations", '''
def gate_activations(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[1]
    z = torch.addmm(b_ih + b_hh, x, W_ih.t()) + h @ W_hh.t()
    i, g, f, o = torch.split(z, H, dim=1)       # TensorFlow's i, j, f, o
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}
'''),
    ("candidate-sigmoid", "lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    z = x @ W_ih.T + h @ W_hh.T + b_ih + b_hh
    i, f, g, o = torch.sigmoid(z).chunk(4, dim=-1)     # one sigmoid for all four
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new
'''),
    ("gates-tanh", "lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    z = torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    i, f, g, o = z.chunk(4, dim=-1)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new
'''),
    ("h-without-tanh", "lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[-1]
    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i = torch.sigmoid(z[:, :H])
    f = torch.sigmoid(z[:, H:2 * H])
    g = torch.tanh(z[:, 2 * H:3 * H])
    o = torch.sigmoid(z[:, 3 * H:])
    c_new = f * c + i * g
    h_new = o * c_new
    return h_new, c_new
'''),
    ("cell-missing-input-gate", "lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)
    i, f, g, o = gates.chunk(4, 1)
    f, o, g = torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
    c_new = f * c + g
    return o * torch.tanh(c_new), c_new
'''),
    ("cell-missing-input-gate", "lstm_forward", '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    h, c, outs = h0, c0, []
    for x_t in x:
        i, f, g, o = (x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), (h, c)
'''),
    ("state-not-carried", "lstm_forward", '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    outputs = []
    for t in range(x.shape[0]):
        h, c = lstm_cell(x[t], h0, c0, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs), (h, c)
'''),
    ("gates-before-activation", "gate_activations", '''
def gate_activations(x, h, c, W_ih, W_hh, b_ih, b_hh):
    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    return dict(zip("ifgo", z.chunk(4, dim=-1)))
'''),
    ("forbidden-api", "lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).to(x.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(W_ih)
        cell.weight_hh.copy_(W_hh)
        cell.bias_ih.copy_(b_ih)
        cell.bias_hh.copy_(b_hh)
        return cell(x, (h, c))
'''),
    ("forbidden-api", "lstm_forward", '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    out, h, c = torch.lstm(x, (h0[None], c0[None]), (W_ih, W_hh, b_ih, b_hh), True, 1, 0.0,
                           False, False, False)
    return out, (h[0], c[0])
'''),
    ("wrong-gate-slice", "init_forget_bias", '''
def init_forget_bias(lstm, value=1.0):
    H = lstm.hidden_size
    for name, param in lstm.named_parameters():
        if "bias" in name:
            param.data[:H].fill_(value)        # forget gate = first block
'''),
    ("first-layer-only", "init_forget_bias", '''
def init_forget_bias(lstm, value=1.0):
    H = lstm.hidden_size
    with torch.no_grad():
        lstm.bias_ih_l0[H:2 * H] = value
        lstm.bias_hh_l0[H:2 * H] = value
'''),
    ("one-bias-vector", "init_forget_bias", '''
def init_forget_bias(lstm, value=1.0):
    n = lstm.hidden_size
    for layer in range(lstm.num_layers):
        b = getattr(lstm, f"bias_ih_l{layer}")
        b.data[n:2 * n] = value
'''),
]

ALTERNATIVES = [
    # -- lstm_cell ---------------------------------------------------------------------------------
    ("lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[1]
    # one weight block per gate, as on the whiteboard
    W_xi, W_xf, W_xc, W_xo = (W_ih[k * H:(k + 1) * H] for k in range(4))
    W_hi, W_hf, W_hc, W_ho = (W_hh[k * H:(k + 1) * H] for k in range(4))
    b = b_ih + b_hh
    I = torch.sigmoid(x @ W_xi.T + h @ W_hi.T + b[:H])
    Fg = torch.sigmoid(x @ W_xf.T + h @ W_hf.T + b[H:2 * H])
    C_tilde = torch.tanh(x @ W_xc.T + h @ W_hc.T + b[2 * H:3 * H])
    O = torch.sigmoid(x @ W_xo.T + h @ W_ho.T + b[3 * H:])
    C = Fg * c + I * C_tilde
    return O * torch.tanh(C), C
'''),
    ("lstm_cell", '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    x, h, c, W_ih, W_hh, b_ih, b_hh = (np.asarray(a, dtype=np.float64) for a in (x, h, c, W_ih, W_hh, b_ih, b_hh))
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    z = np.concatenate([x, h], axis=1) @ np.concatenate([W_ih, W_hh], axis=1).T + b_ih + b_hh
    i, f, g, o = np.split(z, 4, axis=1)
    c_new = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c_new), c_new
'''),
    ("lstm_cell", '''
class LSTMCell(nn.Module):
    """The student's own cell class: its name is not torch's nn.LSTMCell, and that is allowed."""

    def __init__(self, W_ih, W_hh, b_ih, b_hh):
        super().__init__()
        self.W_ih, self.W_hh = nn.Parameter(W_ih.clone()), nn.Parameter(W_hh.clone())
        self.b = nn.Parameter(b_ih + b_hh)

    def forward(self, x, state):
        h, c = state
        z = F.linear(x, self.W_ih) + F.linear(h, self.W_hh) + self.b
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    with torch.no_grad():
        return LSTMCell(W_ih, W_hh, b_ih, b_hh)(x, (h, c))
'''),
    # -- lstm_forward ------------------------------------------------------------------------------
    ("lstm_forward", '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    h, c = h0, c0
    outputs = []
    for t in range(x.shape[0]):
        h, c = lstm_cell(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=0), (h, c)
'''),
    ("lstm_forward", '''
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    T, B, _ = x.shape
    H = h0.shape[-1]
    xproj = torch.einsum("tbd,gd->tbg", x, W_ih) + b_ih     # every step's input part at once
    out = x.new_zeros(T, B, H)
    h, c = h0, c0
    for t in range(T):
        z = xproj[t] + h @ W_hh.T + b_hh
        i, f = z[:, :H].sigmoid(), z[:, H:2 * H].sigmoid()
        g, o = z[:, 2 * H:3 * H].tanh(), z[:, 3 * H:].sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        out[t] = h
    return out, (h, c)
'''),
    # -- gate_activations --------------------------------------------------------------------------
    ("gate_activations", '''
def gate_activations(x, h, c, W_ih, W_hh, b_ih, b_hh):
    i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}
'''),
    ("gate_activations", '''
def gate_activations(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[-1]
    pre = F.linear(x, W_ih, b_ih) + F.linear(h, W_hh, b_hh)
    acts = {"i": torch.sigmoid, "f": torch.sigmoid, "g": torch.tanh, "o": torch.sigmoid}
    return {name: acts[name](pre[..., k * H:(k + 1) * H]) for k, name in enumerate("ifgo")}
'''),
    # -- init_forget_bias --------------------------------------------------------------------------
    ("init_forget_bias", '''
def init_forget_bias(lstm, value=1.0):
    H = lstm.hidden_size
    for name, param in lstm.named_parameters():
        if "bias" in name:
            param.data[H:2 * H].fill_(value)
'''),
    ("init_forget_bias", '''
@torch.no_grad()
def init_forget_bias(lstm, value=1.0):
    n = lstm.hidden_size
    for layer in range(lstm.num_layers):
        for kind in ("ih", "hh"):
            getattr(lstm, f"bias_{kind}_l{layer}")[n:2 * n] = value
'''),
    ("init_forget_bias", '''
def init_forget_bias(lstm, value=1.0):
    for names in lstm._all_weights:
        for name in filter(lambda n: "bias" in n, names):
            bias = getattr(lstm, name)
            start, end = bias.size(0) // 4, bias.size(0) // 2
            with torch.no_grad():
                bias[start:end].fill_(value)
'''),
]
