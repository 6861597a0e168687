"""Harnesses for q07_regularization: dropout takes a torch.Generator, decay_param_groups a model.

Neither can cross the process boundary, so these build them here from plain parameters (a seed,
a model name), call the student's function and report what it did as plain data. Nothing here
knows the right answer: dropout is judged by the check on the statistics reported (keep rate, mean,
the scales of the kept values, identity in evaluation), decay_param_groups on where each named
parameter went.
"""
from __future__ import annotations

import torch
from torch import nn

from whiteboard.worker.harness import get_function


# ---- dropout ------------------------------------------------------------------------------------

def _input(n: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """Values in [1, 2) (no zeros, so that a zero in the output means a dropped unit), (n/100, 100)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    rows = max(1, n // 100)
    return (1.0 + torch.rand(rows, 100, generator=g, dtype=torch.float64)).to(dtype)


def _summary(out, x: torch.Tensor) -> dict:
    """Statistics of one dropout output `out` for the input `x`."""
    info = {"type": type(out).__name__, "is_tensor": isinstance(out, torch.Tensor)}
    if not isinstance(out, torch.Tensor):
        return info
    out = out.detach()
    info.update(shape=list(out.shape), dtype=str(out.dtype).replace("torch.", ""),
                same_object=False)
    if tuple(out.shape) != tuple(x.shape):
        return info
    o, xs = out.double(), x.double()
    finite = bool(torch.isfinite(o).all())
    kept = o != 0
    ratio = o[kept & torch.isfinite(o)] / xs[kept & torch.isfinite(o)]
    # the distinct factors the kept values were multiplied by (4 significant digits, at most 6)
    scales = sorted({float(f"{v:.4g}") for v in ratio.unique().tolist()})
    info.update(finite=finite, equals_input=bool(torch.equal(o, xs)),
                keep_rate=float(kept.double().mean()),
                mean_ratio=float(o[torch.isfinite(o)].sum() / xs.sum()) if finite else None,
                kept_scales=scales[:6], n_scales=len(scales), all_zero=bool((o == 0).all()))
    return info


def dropout_trace(namespace: dict, p: float, training: bool = True, n: int = 20_000, seed: int = 0,
                  dtype: str = "float32") -> dict:
    """Call dropout(x, p, training, generator) on n positive values with a seeded generator.

    Returns the summary of the output (keep_rate, mean_ratio = sum(out) / sum(x), kept_scales =
    the distinct out/x among kept elements, equals_input, finite, all_zero, shape, dtype) and:
        input_modified    x was changed in place
        generator_used    the generator's state moved
        global_rng_used   torch's global generator moved (torch.rand without generator=,
                          F.dropout, nn.Dropout)
        reproducible      a second call with a generator seeded the same gives the same output
        n, p, training    echoed, for the check's statistics
    """
    fn = get_function(namespace, "dropout")
    dt = getattr(torch, dtype)
    x = _input(int(n), int(seed), dt)
    x_arg = x.clone()
    g = torch.Generator().manual_seed(int(seed))
    g_before = g.get_state().clone()
    global_before = torch.get_rng_state().clone()
    out = fn(x_arg, float(p), bool(training), g)
    generator_used = not torch.equal(g.get_state(), g_before)
    global_used = not torch.equal(torch.get_rng_state(), global_before)
    input_modified = not torch.equal(x_arg, x)
    info = _summary(out, x)
    if isinstance(out, torch.Tensor):
        info["same_object"] = out is x_arg
    again = fn(x.clone(), float(p), bool(training), torch.Generator().manual_seed(int(seed)))
    reproducible = (isinstance(out, torch.Tensor) and isinstance(again, torch.Tensor)
                    and out.shape == again.shape and torch.equal(out.detach(), again.detach()))
    info.update(input_modified=input_modified, generator_used=generator_used,
                global_rng_used=global_used, reproducible=bool(reproducible),
                n=int(x.numel()), p=float(p), training=bool(training))
    return info


# ---- decay_param_groups -------------------------------------------------------------------------

class _Block(nn.Module):
    """A nested block: LayerNorm then a Linear pair, so that names and types are not all top-level."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width, bias=False)


class DecayModel(nn.Module):
    """Linear, Conv1d/2d, BatchNorm, LayerNorm and Embedding layers, some nested, one bias-free conv."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv1d = nn.Conv1d(8, 8, 3, bias=False)
        self.bn1d = nn.BatchNorm1d(8)
        self.blocks = nn.Sequential(_Block(8), _Block(8))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 5)


class DecayModelWithFreeParameter(DecayModel):
    """DecayModel plus a bare nn.Parameter (a learned positional table) and a GroupNorm."""

    def __init__(self):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(6, 8))
        self.gn = nn.GroupNorm(2, 4)


MODELS = {"standard": DecayModel, "free_parameter": DecayModelWithFreeParameter}


def _describe_parameters(model: nn.Module) -> list:
    """Each parameter: qualified name, the type of the module that owns it, its attribute name."""
    out = []
    for module_name, module in model.named_modules():
        for attr, param in module.named_parameters(recurse=False):
            name = f"{module_name}.{attr}" if module_name else attr
            out.append({"name": name, "module": type(module).__name__, "attr": attr,
                        "shape": list(param.shape)})
    return out


def decay_groups_trace(namespace: dict, weight_decay: float = 0.05, model: str = "standard",
                       seed: int = 0) -> dict:
    """Call decay_param_groups(model, weight_decay) on a model of every kind of layer.

    Returns:
        parameters   every parameter of the model: name, owning module type, attribute, shape
        groups       per returned group: the names of its parameters (in its order), its
                     weight_decay (None when the key is missing), its keys
        decay_of     name -> the weight_decay of the group it is in ("missing" if in none,
                     "duplicate" if in more than one place)
        unknown      how many returned parameters are not parameters of the model
        adamw_ok     torch.optim.AdamW accepted the groups (adamw_error otherwise)
        weights_changed   the call changed a parameter's value
    """
    fn = get_function(namespace, "decay_param_groups")
    torch.manual_seed(int(seed))
    net = MODELS[model]()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    names = {id(p): n for n, p in net.named_parameters()}
    value = fn(net, float(weight_decay))
    info = {"parameters": _describe_parameters(net), "type": type(value).__name__}
    try:
        groups = list(value)
    except TypeError:
        return {**info, "groups": None}
    described, seen, unknown = [], {}, 0
    for group in groups:
        if not isinstance(group, dict):
            described.append({"type": type(group).__name__})
            continue
        params = group.get("params", [])
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        group["params"] = params  # a generator would be spent: keep the list for AdamW below
        wd = group.get("weight_decay")
        wd = float(wd) if isinstance(wd, (int, float)) and not isinstance(wd, bool) else None
        member_names = []
        for p in params:
            name = names.get(id(p))
            if name is None:
                unknown += 1
                continue
            member_names.append(name)
            seen.setdefault(name, []).append(wd)
        described.append({"names": member_names, "weight_decay": wd,
                          "keys": sorted(str(k) for k in group)})
    decay_of = {}
    for name in names.values():
        got = seen.get(name, [])
        decay_of[name] = "missing" if not got else ("duplicate" if len(got) > 1 else got[0])
    try:
        torch.optim.AdamW(groups, lr=1e-3)
        adamw_ok, adamw_error = True, None
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the check names the problem
        adamw_ok, adamw_error = False, f"{type(exc).__name__}: {exc}"[:300]
    changed = any(not torch.equal(before[n], p.detach()) for n, p in net.named_parameters())
    return {**info, "groups": described, "decay_of": decay_of, "unknown": unknown,
            "adamw_ok": adamw_ok, "adamw_error": adamw_error, "weights_changed": changed}
