"""Harnesses for q20_generative_models: gan_step and ddpm_loss run on small instrumented models.

They run in the worker next to the student's notebook (and in the parent on the references, or on
a pitfall variant put in the namespace under the student's name, for the expected trace). Nothing
here knows the right answer.

gan_trace events (lists, in order):
    ["forward", "G" or "D", grad_enabled, input_requires_grad]
    ["zero_grad", "opt_d" | "opt_g" | "D" | "G"]            optimizer or module zero_grad()
    ["backward", reached_G, reached_D, stale_G, stale_D]     one per torch.autograd.backward or
                                                             torch.autograd.grad call
                                                             (loss.backward() included): which
                                                             network's parameters it reached, and
                                                             whether some reached .grad still held
                                                             the gradient planted before the call
                                                             (never for autograd.grad, which
                                                             leaves .grad alone)
    ["step", "opt_d" | "opt_g", changed_G, changed_D, stale] which network's weights the step moved,
                                                             and whether some .grad it used still
                                                             held a planted gradient (with
                                                             whatever backward added on top)
"""
from __future__ import annotations

import math

import torch
from torch import nn

from whiteboard.worker.harness import as_float, get_function, plain_tensor


def _seeded_(module: nn.Module, generator: torch.Generator, scale: float = 0.6) -> nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * scale)
    return module


# ---- gan_step ---------------------------------------------------------------------------------------

class TracedNet(nn.Module):
    """A small MLP that records its forward calls and module.zero_grad()."""

    def __init__(self, name: str, events: list, body: nn.Module):
        super().__init__()
        self.name, self._events, self.body = name, events, body

    def forward(self, x):
        self._events.append(["forward", self.name, bool(torch.is_grad_enabled()),
                             bool(getattr(x, "requires_grad", False))])
        return self.body(x)

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad", self.name])
        super().zero_grad(set_to_none)


class TracedSGD(torch.optim.SGD):
    """SGD that records zero_grad() and which network's weights each step() moved."""

    def __init__(self, name: str, params, events: list, lr: float, watched: dict):
        super().__init__(params, lr=lr)
        self.name, self._events, self._watched = name, events, watched
        self.shadow: dict = {}  # id(param) -> the stale .grad it would hold (set by _BackwardWatch)

    def _stale(self) -> bool:
        for group in self.param_groups:
            for p in group["params"]:
                shadow = self.shadow.get(id(p))
                if (shadow is not None and p.grad is not None
                        and bool(torch.allclose(p.grad, shadow, rtol=1e-6, atol=1e-9))):
                    return True
        return False

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad", self.name])
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        before = {k: [plain_tensor(p) for p in m.parameters()] for k, m in self._watched.items()}
        stale = self._stale()
        out = super().step(closure)
        changed = {k: any(not torch.equal(a, p.detach()) for a, p in zip(before[k], m.parameters()))
                   for k, m in self._watched.items()}
        self._events.append(["step", self.name, changed["G"], changed["D"], stale])
        return out


class _BackwardWatch:
    """Groups parameter-gradient hooks by backward call: torch.autograd.backward (which
    Tensor.backward calls) and torch.autograd.grad are wrapped while the harness runs. A parameter
    counts as stale when the gradient planted before the call is still in its .grad (the planted
    value plus whatever has been accumulated on top of it): `shadow` follows that sum, shared with
    the optimizers so that a step can tell whether it used it."""

    def __init__(self, events: list, nets: dict, planted: dict, optimizers=()):
        self.events, self.nets = events, nets
        self.shadow = {id(p): planted.get(id(p)) for m in nets.values() for p in m.parameters()}
        for optimizer in optimizers:
            optimizer.shadow = self.shadow
        self.current = None
        self.accumulates = True  # False inside autograd.grad, which returns gradients, not .grad
        for name, net in nets.items():
            for p in net.parameters():
                p.register_hook(self._hook(name, p))

    def _hook(self, name, p):
        def hook(grad):
            key = id(p)
            shadow = self.shadow.get(key)
            stale = False
            if self.accumulates:
                stale = (shadow is not None and p.grad is not None
                         and bool(torch.allclose(p.grad, shadow, rtol=1e-6, atol=1e-9)))
                self.shadow[key] = (shadow + grad.detach()) if stale else None
            if self.current is None or self.current is not self.events[-1] and self.unwrapped:
                # a backward that went through neither wrapper (a name imported before the
                # harness ran): one event until the next call, step or zero_grad is recorded
                self.current, self.unwrapped = ["backward", False, False, False, False], True
                self.events.append(self.current)
            i = 1 if name == "G" else 2
            self.current[i] = True
            self.current[i + 2] = self.current[i + 2] or stale
        return hook

    def _wrap(self, original, accumulates: bool):
        watch = self

        def wrapped(*args, **kwargs):
            watch.current, watch.unwrapped = ["backward", False, False, False, False], False
            watch.events.append(watch.current)
            watch.accumulates = accumulates
            try:
                return original(*args, **kwargs)
            finally:
                watch.current, watch.accumulates = None, True
        return wrapped

    def __enter__(self):
        self.unwrapped = False
        self.originals = torch.autograd.backward, torch.autograd.grad
        torch.autograd.backward = self._wrap(self.originals[0], accumulates=True)
        torch.autograd.grad = self._wrap(self.originals[1], accumulates=False)
        return self

    def __exit__(self, *exc):
        torch.autograd.backward, torch.autograd.grad = self.originals
        return False


class _NumericGrad(torch.autograd.Function):
    """The value of `fn(*inputs)` with a gradient rebuilt by central differences of `fn`.

    While gan_step is graded, discriminator_loss and generator_loss are stand-ins: they ask the
    grading parent for the value, which comes back as a plain tensor with no graph, so
    backward() would not reach the networks. Wrapped in this, such a value gets its gradient
    back, computed from the same stand-in (in float64), whatever the loss is. A loss that keeps
    its graph (the student's own, or the references' in the parent) is never wrapped.
    """

    @staticmethod
    def forward(ctx, fn, *inputs):
        ctx.fn = fn
        ctx.save_for_backward(*inputs)
        return torch.as_tensor(fn(*[x.detach() for x in inputs])).detach()

    @staticmethod
    def backward(ctx, grad_out):
        inputs = [x.detach().double() for x in ctx.saved_tensors]
        grads = [None]
        for i, x in enumerate(ctx.saved_tensors):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            g = torch.zeros(x.numel(), dtype=torch.float64)
            for j in range(x.numel()):
                h = 1e-5 * max(1.0, abs(float(inputs[i].reshape(-1)[j])))
                values = []
                for sign in (1.0, -1.0):
                    moved = inputs[i].clone()
                    moved.reshape(-1)[j] += sign * h
                    args = inputs[:i] + [moved] + inputs[i + 1:]
                    values.append(float(torch.as_tensor(ctx.fn(*args)).double().sum()))
                g[j] = (values[0] - values[1]) / (2 * h)
            grads.append((g.reshape(x.shape) * grad_out.double()).to(x.dtype))
        return tuple(grads)


def _differentiable(fn):
    """fn, but a tensor value that lost its graph (a stand-in's answer) gets its gradient back."""
    def loss(*args, **kwargs):
        value = fn(*args, **kwargs)
        tensors = all(isinstance(a, torch.Tensor) for a in args)
        if (kwargs or not args or not tensors or not isinstance(value, torch.Tensor)
                or value.requires_grad or not any(a.requires_grad for a in args)):
            return value
        return _NumericGrad.apply(fn, *args)

    loss.__name__ = getattr(fn, "__name__", "loss")
    return loss


def gan_nets(events: list, seed: int, z_dim: int = 3, x_dim: int = 2, hidden: int = 8):
    """The seeded generator and discriminator (no batch norm, no dropout)."""
    g = torch.Generator().manual_seed(int(seed))
    generator = TracedNet("G", events, nn.Sequential(nn.Linear(z_dim, hidden), nn.Tanh(),
                                                     nn.Linear(hidden, x_dim)))
    discriminator = TracedNet("D", events, nn.Sequential(nn.Linear(x_dim, hidden),
                                                         nn.LeakyReLU(0.2), nn.Linear(hidden, 1)))
    _seeded_(generator, g)
    _seeded_(discriminator, g)
    return generator, discriminator


def gan_trace(namespace: dict, seed: int = 0, batch: int = 6, z_dim: int = 3, x_dim: int = 2,
              lr_d: float = 0.1, lr_g: float = 0.1, plant_grads: bool = True) -> dict:
    """One call of the student's gan_step on traced networks and optimizers.

    With plant_grads, every parameter starts with a nonzero .grad (what an earlier step would
    leave behind), so that a missing zero_grad shows in the weights and in the trace.
    Returns the events, the returned pair described as floats, the final weights and facts read
    off the events (which say nothing about what is right).
    """
    fn = get_function(namespace, "gan_step")
    for name in ("discriminator_loss", "generator_loss"):
        if callable(namespace.get(name)):
            namespace[name] = _differentiable(namespace[name])
    events: list = []
    generator, discriminator = gan_nets(events, seed, z_dim, x_dim)
    watched = {"G": generator, "D": discriminator}
    opt_g = TracedSGD("opt_g", generator.parameters(), events, lr_g, watched)
    opt_d = TracedSGD("opt_d", discriminator.parameters(), events, lr_d, watched)
    g = torch.Generator().manual_seed(int(seed) + 500)
    planted = {}
    if plant_grads:
        for net in (generator, discriminator):
            for p in net.parameters():
                p.grad = torch.randn(p.shape, generator=g) * 3.0
                planted[id(p)] = p.grad.clone()
    real = torch.randn(batch, x_dim, generator=g) + 2.0
    z = torch.randn(batch, z_dim, generator=g)
    with _BackwardWatch(events, watched, planted, (opt_g, opt_d)):
        value = fn(generator, discriminator, opt_g, opt_d, real, z)
    returned = None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        returned = [as_float(v) for v in value]
    first_d_step = next((i for i, e in enumerate(events) if e[0] == "step" and e[1] == "opt_d"),
                        len(events))
    # the discriminator's own backward: those after the last generator step before its step
    g_steps_before = [i for i, e in enumerate(events[:first_d_step]) if e[0] == "step" and e[1] == "opt_g"]
    d_phase = events[(g_steps_before[-1] + 1 if g_steps_before else 0):first_d_step]
    return {
        "events": events,
        "returned": returned, "returned_type": type(value).__name__,
        "weights_G": [plain_tensor(p) for p in generator.parameters()],
        "weights_D": [plain_tensor(p) for p in discriminator.parameters()],
        # facts read off the events
        "g_reached_before_d_step": any(e[0] == "backward" and e[1] for e in d_phase),
        "g_stepped_before_d_step": any(e[0] == "step" and e[2] for e in events[:first_d_step]),
        "d_changed_after_d_step": any(e[0] == "step" and e[3] for e in events[first_d_step + 1:]),
        "d_step_used_stale": any(e[0] == "step" and e[1] == "opt_d" and e[4]
                                     for e in events[:first_d_step + 1]),
        "g_step_used_stale": any(e[0] == "step" and e[1] == "opt_g" and e[4] for e in events),
    }


# ---- ddpm_loss ----------------------------------------------------------------------------------------

class TinyEps(nn.Module):
    """A deterministic noise predictor: eps(x_t, t) = tanh(W x_t + b + (t / T) * v), float64,
    reshaped like x_t. Records each call's inputs."""

    def __init__(self, calls: list, shape, T: int, seed: int):
        super().__init__()
        n = int(math.prod(shape))
        self.lin = nn.Linear(n, n, dtype=torch.float64)
        self.t_vec = nn.Parameter(torch.zeros(n, dtype=torch.float64))
        _seeded_(self, torch.Generator().manual_seed(int(seed)), scale=0.4)
        self.T = int(T)
        self._calls = calls

    def forward(self, x, t):
        x = torch.as_tensor(x)
        t = torch.as_tensor(t)
        self._calls.append([plain_tensor(x), plain_tensor(t), bool(torch.is_grad_enabled())])
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        out = torch.tanh(self.lin(flat) + (t.to(torch.float64) / self.T)[:, None] * self.t_vec)
        return out.reshape(x.shape)


def ddpm_trace(namespace: dict, x0, t, noise, alphas_cumprod, seed: int = 0) -> dict:
    """The student's ddpm_loss(model, x0, t, noise, alphas_cumprod) with TinyEps as the model.

    Returns the loss (float), whether it is a tensor that requires grad, whether its backward
    reaches the model, and the inputs of each model call.
    """
    fn = get_function(namespace, "ddpm_loss")
    calls: list = []
    x0 = torch.as_tensor(x0)
    model = TinyEps(calls, tuple(x0.shape[1:]), len(alphas_cumprod), seed)
    value = fn(model, x0, torch.as_tensor(t), torch.as_tensor(noise), torch.as_tensor(alphas_cumprod))
    is_tensor = isinstance(value, torch.Tensor)
    out = {"loss": as_float(value), "type": type(value).__name__, "is_tensor": is_tensor,
           "shape": list(value.shape) if is_tensor else None,
           "requires_grad": bool(getattr(value, "requires_grad", False)),
           "grad_reaches_model": False, "model_calls": calls}
    if is_tensor and value.requires_grad and value.numel() == 1:
        value.reshape(()).backward()
        out["grad_reaches_model"] = any(p.grad is not None and bool(p.grad.abs().sum() > 0)
                                        for p in model.parameters())
    return out
