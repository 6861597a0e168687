"""q13 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np`, `import torch`, `from torch import nn`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("returns-last-only", "rnn_forward", '''
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    h = h0
    for x_t in x:
        h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)
    return h
'''),
    ("missing-tanh", "rnn_forward", '''
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    T = x.shape[0]
    hs = []
    h = h0
    for t in range(T):
        h = x[t] @ W_xh + h @ W_hh + b_h
        hs.append(h)
    return torch.stack(hs)
'''),
    ("includes-initial-state", "rnn_forward", '''
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    hs = [h0]
    for t in range(len(x)):
        hs.append(torch.tanh(x[t] @ W_xh + hs[-1] @ W_hh + b_h))
    return torch.stack(hs)
'''),
    ("reversed-time", "hidden_grad_norms", '''
def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    # forward, keeping every state
    hs, h = [], h0
    for t in range(x.shape[0]):
        h = torch.tanh(x[t] @ W_xh + h @ W_hh + b_h)
        hs.append(h)
    # backward through time by hand: dL/dh_T = 1, dL/dh_{t-1} = (dL/dh_t * (1 - h_t^2)) @ W_hh^T
    g = torch.ones_like(hs[-1])
    norms = []
    for t in reversed(range(len(hs))):
        norms.append(g.norm().item())
        g = (g * (1 - hs[t] ** 2)) @ W_hh.T
    return np.array(norms)
'''),
    ("direct-gradient-only", "hidden_grad_norms", '''
def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    W_hh = W_hh.clone().requires_grad_(True)
    h, hs = h0, []
    for t in range(len(x)):
        h = torch.tanh(x[t] @ W_xh + h @ W_hh + b_h)
        hs.append(h)
    hs = torch.stack(hs)
    hs.retain_grad()
    hs[-1].sum().backward()
    return hs.grad.flatten(1).norm(dim=1).numpy()
'''),
    ("per-tensor-clipping", "clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    clipped, squares = [], 0.0
    for g in grads:
        n = g.norm()
        squares += n ** 2
        if n > max_norm:
            g = g * (max_norm / (n + 1e-6))
        clipped.append(g)
    return clipped, squares ** 0.5
'''),
    ("value-clipping", "clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    return [torch.clamp(g, min=-max_norm, max=max_norm) for g in grads], total
'''),
    ("clips-below-threshold", "clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    total = torch.norm(torch.stack([torch.norm(g) for g in grads]))
    coef = max_norm / (total + 1e-6)
    return [g * coef for g in grads], total
'''),
    ("mutates-input", "clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    total = torch.norm(torch.stack([g.norm() for g in grads]))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)          # like clip_grad_norm_: in place
    return grads, total
'''),
    ("norm-after-clipping", "clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    if total > max_norm:
        grads = [g * max_norm / (total + 1e-6) for g in grads]
        total = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    return grads, total
'''),
    ("hidden-not-detached", "train_truncated_bptt", '''
def train_truncated_bptt(model, chunks, optimizer, loss_fn):
    losses = []
    hidden = None
    for x, y in chunks:
        optimizer.zero_grad()
        logits, hidden = model(x, hidden)      # the state goes on, history and all
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''),
    ("hidden-not-detached", "train_truncated_bptt", '''
def train_truncated_bptt(model, chunks, optimizer, loss_fn):
    losses, h = [], None
    for x, y in chunks:
        if isinstance(h, tuple):
            h = (h[0].detach(), h[1])              # the cell state keeps its graph
        elif h is not None:
            h = h.detach()
        optimizer.zero_grad()
        out, h = model(x, h)
        loss = loss_fn(out, y)
        loss.backward(retain_graph=True)
        optimizer.step()
        losses.append(float(loss))
    return losses
'''),
    ("hidden-state-reset", "train_truncated_bptt", '''
def train_truncated_bptt(model, chunks, optimizer, loss_fn):
    losses = []
    for x, y in chunks:
        optimizer.zero_grad()
        logits, _ = model(x, None)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''),
]

ALTERNATIVES = [
    # -- rnn_forward -------------------------------------------------------------------------------
    ("rnn_forward", '''
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    T, B, _ = x.shape
    hs = torch.empty(T, B, W_hh.shape[0], dtype=x.dtype)
    xw = torch.einsum("tbd,dh->tbh", x, W_xh) + b_h     # all input projections at once
    h = h0
    for t in range(T):
        h = torch.tanh(xw[t] + h @ W_hh)
        hs[t] = h
    return hs
'''),
    ("rnn_forward", '''
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    x, h, W_xh, W_hh, b_h = (np.asarray(a, dtype=np.float64) for a in (x, h0, W_xh, W_hh, b_h))
    out = []
    for x_t in x:
        h = np.tanh(x_t.dot(W_xh) + h.dot(W_hh) + b_h)
        out.append(h)
    return np.stack(out)
'''),
    # -- hidden_grad_norms -------------------------------------------------------------------------
    ("hidden_grad_norms", '''
def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    h = h0.clone().requires_grad_()
    states = []
    for t in range(x.shape[0]):
        h = torch.tanh(x[t] @ W_xh + h @ W_hh + b_h)
        h.retain_grad()
        states.append(h)
    states[-1].sum().backward()
    return np.array([s.grad.norm().item() for s in states])
'''),
    ("hidden_grad_norms", '''
def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    # backpropagation through time by hand, in numpy
    x, h, Wx, Wh, b = (np.asarray(a, dtype=np.float64) for a in (x, h0, W_xh, W_hh, b_h))
    hs = []
    for x_t in x:
        h = np.tanh(x_t @ Wx + h @ Wh + b)
        hs.append(h)
    T = len(hs)
    norms = np.zeros(T)
    grad = np.ones_like(hs[-1])
    for t in range(T - 1, -1, -1):
        norms[t] = np.linalg.norm(grad)
        grad = (grad * (1.0 - hs[t] ** 2)) @ Wh.T
    return norms
'''),
    ("hidden_grad_norms", '''
def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    W_hh = W_hh.detach().requires_grad_(True)
    h, hs = h0, []
    for x_t in x.unbind(0):
        h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)
        hs.append(h)
    grads = torch.autograd.grad(hs[-1].sum(), hs)
    return torch.stack([torch.linalg.norm(g) for g in grads]).numpy()
'''),
    ("hidden_grad_norms", '''
def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    # reuse rnn_forward one step at a time, keeping each state in the graph
    h, states = h0.detach().clone().requires_grad_(True), []
    for t in range(x.shape[0]):
        h = rnn_forward(x[t:t + 1], h, W_xh, W_hh, b_h)[0]
        h.retain_grad()
        states.append(h)
    states[-1].sum().backward()
    return np.array([float(s.grad.norm()) for s in states])
'''),
    # -- clip_grad_norm ----------------------------------------------------------------------------
    ("clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    total_norm = torch.sqrt(sum(torch.sum(g ** 2) for g in grads))
    if total_norm > max_norm:
        scale = max_norm / total_norm          # no epsilon: the same within rounding
        return [g * scale for g in grads], total_norm
    return [g.clone() for g in grads], total_norm
'''),
    ("clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    # let PyTorch do it, on copies held by throwaway parameters
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params], total.item()
'''),
    ("clip_grad_norm", '''
def clip_grad_norm(grads, max_norm):
    flat = torch.cat([g.reshape(-1) for g in grads])
    total = flat.norm(2)
    clip_coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    return [g.mul(clip_coef) for g in grads], float(total)
'''),
    # -- train_truncated_bptt ----------------------------------------------------------------------
    ("train_truncated_bptt", '''
def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)

def train_truncated_bptt(model, chunks, optimizer, loss_fn):
    hidden = None
    losses = []
    for inputs, targets in chunks:
        model.zero_grad()
        output, hidden = model(inputs, hidden)
        loss = loss_fn(output.reshape(-1, output.size(-1)), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        hidden = repackage_hidden(hidden)
        losses.append(loss.item())
    return losses
'''),
    ("train_truncated_bptt", '''
def train_truncated_bptt(model, chunks, optimizer, loss_fn):
    state, history = None, []
    for x, y in chunks:
        if state is not None:
            state = state.detach() if torch.is_tensor(state) else tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    return history
'''),
]
