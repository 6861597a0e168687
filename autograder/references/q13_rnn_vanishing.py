"""q13_rnn_vanishing: reference answers and the classic mistakes as code. Never leaves the instructor.

Shapes: x (T, B, D), h0 (B, H), W_xh (D, H), W_hh (H, H), b_h (H,); h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h).

The references compute with torch's own machinery where the exercise says "as torch": rnn_forward is
nn.RNN (tanh) holding the given weights, hidden_grad_norms is autograd, clip_grad_norm is
torch.nn.utils.clip_grad_norm_ on copies. The pitfall variants are the same computations, written out,
with one mistake each.

`train_truncated_bptt` takes objects, so its check runs autograder/harnesses/q13_rnn_vanishing.py on
the student's namespace and on the references' and compares the traces; the rules that name its
mistakes from the student's trace alone hold no answer and live in autograder/labels/q13_rnn_vanishing.py.
"""
import numpy as np
import torch

from autograder.labels.q13_rnn_vanishing import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# No stand-ins: a hidden_grad_norms that runs the recurrence through the student's own rnn_forward
# needs autograd through it (one step at a time, retain_grad on each h), which a stand-in answered
# by the parent cannot give (its result crosses the process boundary as plain data, without a graph).
STANDINS = ()

CLIP_EPS = 1e-6               # as torch.nn.utils.clip_grad_norm_: max_norm / (total + 1e-6)


def _tensors(*arrays):
    """Tensors of one floating dtype (float64 unless every input is a float32 tensor or array)."""
    ts = [a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in arrays]
    dtype = ts[0].dtype
    for t in ts[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    return [t.detach().to(dtype) for t in ts]


# ---- rnn_forward ----------------------------------------------------------------------------------

def _recurrence(x, h0, W_xh, W_hh, b_h, activation=torch.tanh):
    """[h_1, ..., h_T]: one tensor (B, H) per step; differentiable in whatever requires grad."""
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = activation(x[t] @ W_xh + h @ W_hh + b_h)
        hs.append(h)
    return hs


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """nn.RNN (tanh, one layer, time first) holding the weights: weight_ih = W_xh^T,
    weight_hh = W_hh^T, bias_ih = b_h, bias_hh = 0."""
    dtype = _tensors(x, h0, W_xh, W_hh, b_h)[0].dtype
    x, h0, W_xh, W_hh, b_h = (a.to(dtype) if isinstance(a, torch.Tensor) else
                              torch.as_tensor(np.asarray(a)).to(dtype) for a in (x, h0, W_xh, W_hh, b_h))
    rnn = torch.nn.RNN(W_xh.shape[0], W_xh.shape[1], nonlinearity="tanh").to(dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
    hs, _ = rnn(x, h0[None])     # differentiable in x and h0, as a student's own loop would be
    return hs if hs.requires_grad and (x.requires_grad or h0.requires_grad) else hs.detach()


@PITFALLS.variant("rnn_forward", "returns-last-only")
def rnn_forward_last(x, h0, W_xh, W_hh, b_h):
    return _recurrence(*_tensors(x, h0, W_xh, W_hh, b_h))[-1]


@PITFALLS.variant("rnn_forward", "missing-tanh")
def rnn_forward_linear(x, h0, W_xh, W_hh, b_h):
    return torch.stack(_recurrence(*_tensors(x, h0, W_xh, W_hh, b_h), activation=lambda z: z))


@PITFALLS.variant("rnn_forward", "includes-initial-state")
def rnn_forward_with_h0(x, h0, W_xh, W_hh, b_h):
    x, h0, W_xh, W_hh, b_h = _tensors(x, h0, W_xh, W_hh, b_h)
    return torch.stack([h0] + _recurrence(x, h0, W_xh, W_hh, b_h))


# ---- hidden_grad_norms ----------------------------------------------------------------------------

def _grad_norms(x, h0, W_xh, W_hh, b_h, loss="last"):
    x, h0, W_xh, W_hh, b_h = _tensors(x, h0, W_xh, W_hh, b_h)
    with torch.enable_grad():
        h0 = h0.clone().requires_grad_(True)        # so that every h_t is part of a graph
        hs = _recurrence(x, h0, W_xh, W_hh, b_h)
        L = hs[-1].sum() if loss == "last" else torch.stack(hs).sum()
        # The gradient with respect to an intermediate h_t is the total derivative: it includes
        # every path from h_t through h_{t+1}, ..., h_T to the loss.
        grads = torch.autograd.grad(L, hs)
    return np.array([float(torch.linalg.vector_norm(g)) for g in grads])


def hidden_grad_norms(x, h0, W_xh, W_hh, b_h):
    return _grad_norms(x, h0, W_xh, W_hh, b_h)


@PITFALLS.variant("hidden_grad_norms", "reversed-time")
def hidden_grad_norms_reversed(x, h0, W_xh, W_hh, b_h):
    return _grad_norms(x, h0, W_xh, W_hh, b_h)[::-1].copy()


@PITFALLS.variant("hidden_grad_norms", "direct-gradient-only")
def hidden_grad_norms_direct(x, h0, W_xh, W_hh, b_h):
    x, h0 = _tensors(x, h0)
    out = np.zeros(x.shape[0])
    out[-1] = np.sqrt(h0.numel())      # dL/dh_T is all ones; every earlier direct gradient is 0
    return out


@PITFALLS.variant("hidden_grad_norms", "loss-over-all-steps")
def hidden_grad_norms_sum_loss(x, h0, W_xh, W_hh, b_h):
    return _grad_norms(x, h0, W_xh, W_hh, b_h, loss="all")


# ---- clip_grad_norm -------------------------------------------------------------------------------

def _global_norm(grads):
    if not grads:
        return torch.zeros(())
    # as torch: the norm of the per-tensor norms
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def _grads(grads):
    return [g.detach() if isinstance(g, torch.Tensor) else torch.as_tensor(np.asarray(g)) for g in grads]


def clip_grad_norm(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on throwaway parameters holding copies of the gradients."""
    grads = _grads(grads)
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    # The norm as a float ("a float or 0-dim tensor"): the engine's codec carries a 0-dim array as
    # shape (1,), so a 0-dim tensor here would reach a student kit's frozen data with another shape.
    return [p.grad for p in params], float(total)


def _norm_unless_clipped_differently(clipped, grads, max_norm):
    """The global norm where `clipped` equals the right clipping, else a masked entry: a variant
    with a wrong clipping names the mistake whatever norm the student returned beside it."""
    right, total = clip_grad_norm(grads, max_norm)
    if all(torch.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(clipped, right)):
        return clipped, total
    # shape (1,), not 0-dim: the codec would turn a 0-dim array into (1,) on its way into a kit
    return clipped, np.ma.masked_array([total], mask=[True])


@PITFALLS.variant("clip_grad_norm", "per-tensor-clipping")
def clip_grad_norm_per_tensor(grads, max_norm):
    grads = _grads(grads)
    clipped = [g * torch.clamp(max_norm / (torch.linalg.vector_norm(g) + CLIP_EPS), max=1.0) for g in grads]
    return _norm_unless_clipped_differently(clipped, grads, max_norm)


@PITFALLS.variant("clip_grad_norm", "per-tensor-clipping")
def clip_grad_norm_per_tensor_no_eps(grads, max_norm):
    grads = _grads(grads)
    clipped = []
    for g in grads:
        n = torch.linalg.vector_norm(g)
        clipped.append(g * (max_norm / n) if n > max_norm else g.clone())
    return _norm_unless_clipped_differently(clipped, grads, max_norm)


@PITFALLS.variant("clip_grad_norm", "value-clipping")
def clip_grad_norm_by_value(grads, max_norm):
    grads = _grads(grads)
    return _norm_unless_clipped_differently([g.clamp(-max_norm, max_norm) for g in grads], grads, max_norm)


@PITFALLS.variant("clip_grad_norm", "clips-below-threshold")
def clip_grad_norm_always(grads, max_norm):
    grads = _grads(grads)
    total = _global_norm(grads)
    return [g * (max_norm / (total + CLIP_EPS)).to(g.dtype) for g in grads], float(total)


@PITFALLS.variant("clip_grad_norm", "clips-below-threshold")
def clip_grad_norm_always_no_eps(grads, max_norm):
    grads = _grads(grads)
    total = _global_norm(grads)
    return [g * (max_norm / total).to(g.dtype) for g in grads], float(total)


@PITFALLS.variant("clip_grad_norm", "clips-below-threshold")
def clip_grad_norm_inverted_test(grads, max_norm):
    grads = _grads(grads)
    total = _global_norm(grads)
    if total < max_norm:
        return [g * (max_norm / (total + CLIP_EPS)).to(g.dtype) for g in grads], float(total)
    return [g.clone() for g in grads], float(total)


@PITFALLS.variant("clip_grad_norm", "norm-after-clipping")
def clip_grad_norm_returns_clipped_norm(grads, max_norm):
    clipped, _ = clip_grad_norm(grads, max_norm)
    return clipped, float(_global_norm(clipped))


# ---- train_truncated_bptt -------------------------------------------------------------------------

def _detach(state):
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(_detach(s) for s in state)    # a tuple (h, c), or a list


def train_truncated_bptt(model, chunks, optimizer, loss_fn):
    h, losses = None, []
    for x, y in chunks:
        if h is not None:
            h = _detach(h)      # keep the values, cut the graph: backprop stops at the chunk edge
        optimizer.zero_grad()
        logits, h = model(x, h)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
