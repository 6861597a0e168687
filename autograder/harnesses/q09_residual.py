"""Harnesses for q09_residual: residual blocks built from the student's classes, and two functions
that take a model.

Modules cannot cross the process boundary, so these build them here: the student's BasicBlock /
Bottleneck with the check's arguments and a torchvision-style state dict (plain data: name ->
tensor), seeded models for layer_gradient_norms, the student's make_mlp with weights set here. They
report plain data (outputs, gradients, names, shapes) and never compute an expected value.
Everything runs in float64 so that the check can compare tightly.

`make_state_dict` is a helper for the check (it builds the input, not an answer): random weights
under the catalogue's submodule names, BN running statistics included.
"""
from __future__ import annotations

import torch
from torch import nn

from whiteboard.worker.harness import get_function

EXPANSION = {"BasicBlock": 1, "Bottleneck": 4}


# ---- the check's inputs -----------------------------------------------------------------------

def _bn(prefix: str, c: int, g: torch.Generator) -> dict:
    return {f"{prefix}.weight": 0.5 + torch.rand(c, generator=g, dtype=torch.float64),
            f"{prefix}.bias": 0.2 * torch.randn(c, generator=g, dtype=torch.float64),
            f"{prefix}.running_mean": 0.2 * torch.randn(c, generator=g, dtype=torch.float64),
            f"{prefix}.running_var": 0.5 + torch.rand(c, generator=g, dtype=torch.float64),
            f"{prefix}.num_batches_tracked": torch.tensor(0, dtype=torch.long)}


def _conv(name: str, c_out: int, c_in: int, k: int, g: torch.Generator) -> dict:
    w = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64) * (2.0 / (c_in * k * k)) ** 0.5
    return {f"{name}.weight": w}


def make_state_dict(block: str, args, seed: int = 0) -> dict:
    """A torchvision-style state dict for BasicBlock(in, out, stride) / Bottleneck(in, mid, stride)."""
    g = torch.Generator().manual_seed(int(seed))
    c_in, c, stride = (list(args) + [1])[:3]
    sd: dict = {}
    if block == "BasicBlock":
        c_out = c
        sd |= _conv("conv1", c, c_in, 3, g) | _bn("bn1", c, g)
        sd |= _conv("conv2", c, c, 3, g) | _bn("bn2", c, g)
    else:
        c_out = 4 * c
        sd |= _conv("conv1", c, c_in, 1, g) | _bn("bn1", c, g)
        sd |= _conv("conv2", c, c, 3, g) | _bn("bn2", c, g)
        sd |= _conv("conv3", c_out, c, 1, g) | _bn("bn3", c_out, g)
    if stride != 1 or c_in != c_out:
        sd |= _conv("downsample.0", c_out, c_in, 1, g) | _bn("downsample.1", c_out, g)
    return sd


# ---- BasicBlock / Bottleneck ------------------------------------------------------------------

def _describe(module: nn.Module) -> dict:
    convs = {}
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            convs[name] = {"in": m.in_channels, "out": m.out_channels, "kernel": list(m.kernel_size),
                           "stride": list(m.stride), "padding": [int(p) for p in m.padding]
                           if isinstance(m.padding, tuple) else str(m.padding),
                           "bias": m.bias is not None}
    sentinel = object()
    ds = getattr(module, "downsample", sentinel)
    if ds is sentinel:
        downsample = "absent"
    elif ds is None:
        downsample = "None"
    else:
        downsample = [type(c).__name__ for c in ds.children()] if isinstance(ds, nn.Module) \
            else type(ds).__name__
    return {"children": {n: type(c).__name__ for n, c in module.named_children()},
            "downsample": downsample, "convs": convs}


def _load(module: nn.Module, state_dict: dict) -> dict:
    """Load strictly if possible; otherwise what did not fit, and load the part that does."""
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in own)
    mismatched = sorted(k for k in own if k in state_dict
                        and tuple(own[k].shape) != tuple(torch.as_tensor(state_dict[k]).shape))
    try:
        module.load_state_dict(state_dict, strict=True)
        return {"strict_ok": True, "missing": [], "unexpected": [], "mismatched": [], "error": None}
    except Exception as exc:  # noqa: BLE001 - reported, the check names the problem
        error = f"{type(exc).__name__}: {exc}"[:500]
    fits = {k: v for k, v in state_dict.items() if k in own and k not in mismatched}
    module.load_state_dict(fits, strict=False)
    return {"strict_ok": False, "missing": missing, "unexpected": unexpected,
            "mismatched": mismatched, "error": error}


def block_trace(namespace: dict, block: str, args, state_dict, x, mode: str = "eval",
                grad: bool = False, seed: int = 0) -> dict:
    """Build `block`(*args) from the namespace, load `state_dict`, run it on x in `mode`.

    `state_dict` is a dict name -> tensor, or an int: the seed of make_state_dict(block, args).

    Returns:
        structure     children (name -> type), downsample ("None", "absent" or its layers' types),
                      every Conv2d's in/out/kernel/stride/padding/bias
        has_downsample_params   the block has parameters under downsample.*
        load          strict_ok, and otherwise the missing / unexpected / mismatched keys and the
                      error (the part that fits is loaded and the block is run anyway)
        out           the output (None if forward raised: then `error` says why)
        input_modified   forward changed x in place
        buffers_after    (mode "train") every running_mean / running_var after the pass
        x_grad, grads    (grad=True) d(sum(out * r))/dx and each parameter's gradient, r a fixed
                         random tensor
    """
    cls = get_function(namespace, block)
    torch.manual_seed(int(seed))
    module = cls(*[int(a) for a in args])
    if not isinstance(module, nn.Module):
        return {"is_module": False, "type": type(module).__name__}
    module = module.double()
    info = {"is_module": True, "structure": _describe(module),
            "has_downsample_params": any(k.startswith("downsample.") for k in module.state_dict())}
    if isinstance(state_dict, int):
        state_dict = make_state_dict(block, args, state_dict)
    info["load"] = _load(module, {k: torch.as_tensor(v) for k, v in state_dict.items()})
    module.train(mode == "train")
    x = torch.as_tensor(x, dtype=torch.float64)
    x_arg = x.clone().requires_grad_(bool(grad))
    out, error = None, None
    try:
        with torch.set_grad_enabled(bool(grad)):
            out = module(x_arg)
    except Exception as exc:  # noqa: BLE001 - a shape mismatch of a missing projection, reported
        error = f"{type(exc).__name__}: {exc}"[:500]
    info["input_modified"] = not torch.equal(x_arg.detach(), x)
    info["error"] = error
    if out is not None and not isinstance(out, torch.Tensor):
        info["output_type"] = type(out).__name__
        out = None
    info["out"] = None if out is None else out.detach().clone()
    if mode == "train":
        info["buffers_after"] = {k: v.detach().clone() for k, v in module.state_dict().items()
                                 if k.endswith("running_mean") or k.endswith("running_var")}
    if grad and out is not None and out.requires_grad:
        r = torch.randn(out.shape, generator=torch.Generator().manual_seed(int(seed) + 1),
                        dtype=torch.float64)
        try:
            (out * r).sum().backward()
            info["x_grad"] = None if x_arg.grad is None else x_arg.grad.detach().clone()
            info["grads"] = {n: p.grad.detach().clone() for n, p in module.named_parameters()
                             if p.grad is not None}
        except Exception as exc:  # noqa: BLE001
            info["backward_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return info


# ---- layer_gradient_norms ---------------------------------------------------------------------

class Reordered(nn.Module):
    """Layers defined in another order than the forward pass calls them, a BatchNorm in between."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.norm = nn.BatchNorm1d(8)
        self.second = nn.Linear(8, 8)
        self.first = nn.Linear(6, 8)

    def forward(self, x):
        h = torch.tanh(self.first(x))
        h = self.norm(torch.tanh(self.second(h)))
        return self.head(h)


class Shared(nn.Module):
    """One Linear called twice: listed once, with the gradient of both uses."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.mid = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = torch.tanh(self.mid(h))
        h = torch.tanh(self.mid(h))
        return self.out(h)


def _grad_model(name: str) -> tuple[nn.Module, tuple]:
    if name == "mlp":
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                             nn.Linear(16, 3)), (6,)
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                             nn.Flatten(), nn.Linear(4 * 4 * 4, 3)), (1, 6, 6)
    if name == "reordered":
        return Reordered(), (6,)
    if name == "shared":
        return Shared(), (6,)
    raise KeyError(name)


GRAD_MODELS = ("mlp", "cnn", "reordered", "shared")


def gradient_norms_trace(namespace: dict, model: str = "mlp", seed: int = 0, batch: int = 8,
                         stale: bool = True, loss: str = "cross_entropy") -> dict:
    """Call layer_gradient_norms(model, x, y, loss_fn) on a seeded float64 model.

    With stale=True every parameter already holds a gradient of 0.5s (a previous step's), which the
    function must clear. Returns the value as returned, `norms` (floats, or None if the value is not
    a sequence of numbers), `layers_called` (the Linear/Conv modules' names in the order of first
    call, as the harness saw them), `layers_defined` (in model.modules() order), the norm of each
    parameter's gradient afterwards, whether any weight changed, and how many hooks the call left
    registered (`hooks_left`).
    """
    fn = get_function(namespace, "layer_gradient_norms")
    torch.manual_seed(int(seed))
    net, shape = _grad_model(model)
    net = net.double().train()
    g = torch.Generator().manual_seed(int(seed) + 100)
    x = torch.randn((int(batch),) + shape, generator=g, dtype=torch.float64)
    if loss == "mse":
        y, loss_fn = torch.randn(int(batch), 3, generator=g, dtype=torch.float64), nn.MSELoss()
    else:
        y, loss_fn = torch.randint(0, 3, (int(batch),), generator=g), nn.CrossEntropyLoss()
    if stale:
        for p in net.parameters():
            p.grad = torch.full_like(p, 0.5)
    weighted = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    names = {id(m): n for n, m in net.named_modules()}
    called: list = []

    def record(module, inputs):
        if names[id(module)] not in called:
            called.append(names[id(module)])

    handles = [m.register_forward_pre_hook(record) for m in net.modules() if isinstance(m, weighted)]
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    hooks_before = _hook_count(net)
    try:
        value = fn(net, x, y, loss_fn)
        hooks_left = _hook_count(net) - hooks_before
    finally:
        for h in handles:
            h.remove()
    norms = None
    try:
        norms = [float(v) for v in value]
    except (TypeError, ValueError, RuntimeError):
        pass
    if isinstance(value, torch.Tensor):
        value = value.detach().clone()
    elif isinstance(value, (list, tuple)):
        value = [v.detach().clone() if isinstance(v, torch.Tensor) else v for v in value]
    return {"returned": value, "type": type(value).__name__, "norms": norms,
            "layers_called": called,
            "layers_defined": [n for n, m in net.named_modules() if isinstance(m, weighted)],
            "grad_norms_after": {n: None if p.grad is None else float(p.grad.norm())
                                 for n, p in net.named_parameters()},
            "weights_changed": any(not torch.equal(before[n], p.detach())
                                   for n, p in net.named_parameters()),
            "hooks_left": hooks_left}


def _hook_count(net: nn.Module) -> int:
    """Hooks registered on the model's modules, and torch's global module hooks."""
    from torch.nn.modules import module as torch_module

    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    count = sum(len(getattr(m, kind, None) or {}) for m in net.modules() for kind in kinds)
    for kind in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks"):
        count += len(getattr(torch_module, kind, None) or {})
    return count


# ---- make_mlp ---------------------------------------------------------------------------------

def mlp_trace(namespace: dict, depth: int, width: int, residual: bool, seed: int = 0,
              batch: int = 4, scale: float = 1.0) -> dict:
    """Build make_mlp(depth, width, residual), set its Linear layers' weights (in the order the
    forward pass calls them) from `seed`, and run it on a seeded (batch, width) input.

    Returns: is_module, linear_layers (per Linear in call order: [out, in, has_bias]), linear_calls
    (how many Linear forward calls one pass makes), relu_modules (nn.ReLU modules in the model),
    n_parameters, out, and grad_norms: the weight-gradient norm of each Linear (call order) for
    the loss mean(out^2), the quantity the notebook's figure plots per layer.
    """
    fn = get_function(namespace, "make_mlp")
    torch.manual_seed(int(seed))
    model = fn(int(depth), int(width), bool(residual))
    if not isinstance(model, nn.Module):
        return {"is_module": False, "type": type(model).__name__}
    model = model.double()
    g = torch.Generator().manual_seed(int(seed) + 1)
    x = torch.randn(int(batch), int(width), generator=g, dtype=torch.float64)
    order: list = []
    calls = [0]

    def record(module, inputs):
        calls[0] += 1
        if all(module is not m for m in order):
            order.append(module)

    handles = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for m in order:
            w = torch.randn(m.weight.shape, generator=g, dtype=torch.float64)
            m.weight.copy_(w * float(scale) / m.in_features ** 0.5)
            if m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g, dtype=torch.float64))
    model.zero_grad(set_to_none=True)
    out = model(x)
    info = {"is_module": True,
            "linear_layers": [[m.out_features, m.in_features, m.bias is not None] for m in order],
            "linear_calls": calls[0],
            "relu_modules": sum(isinstance(m, nn.ReLU) for m in model.modules()),
            "n_parameters": sum(p.numel() for p in model.parameters())}
    if not isinstance(out, torch.Tensor):
        return {**info, "out": None, "output_type": type(out).__name__}
    info["out"] = out.detach().clone()
    if out.requires_grad:
        out.pow(2).mean().backward()
        info["grad_norms"] = [None if m.weight.grad is None else float(m.weight.grad.norm())
                              for m in order]
    return info
