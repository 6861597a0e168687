"""Harnesses for q15_self_attention: build a MultiHeadAttention, and watch a decoding loop.

A module cannot cross the process boundary, so these run next to the code they exercise: in the
worker on the student's namespace, and through the oracle on the references' namespace (which
gives the expected trace). They construct the class, load the weights the check sent, run it, and
send back plain data (tensors, lists of strings). They never hold an expected value.
"""
from __future__ import annotations

from whiteboard.worker.harness import get_function

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


def _build(namespace: dict, d_model: int, n_heads: int):
    cls = get_function(namespace, "MultiHeadAttention")
    return cls(int(d_model), int(n_heads))


def _describe_projections(module, d_model: int) -> list:
    """What is wrong with the four projections, as sentences (empty when all is well)."""
    import torch

    problems = []
    for name in PROJECTIONS:
        layer = getattr(module, name, None)
        if layer is None:
            problems.append(f"{name} is missing")
            continue
        weight = getattr(layer, "weight", None)
        bias = getattr(layer, "bias", None)
        if not isinstance(weight, torch.Tensor):
            problems.append(f"{name} has no weight tensor (is it an nn.Linear?)")
            continue
        if tuple(weight.shape) != (d_model, d_model):
            problems.append(f"{name}.weight has shape {tuple(weight.shape)}, expected "
                            f"({d_model}, {d_model})")
        if not isinstance(bias, torch.Tensor):
            problems.append(f"{name} has no bias (nn.Linear(d_model, d_model) has bias=True)")
        elif tuple(bias.shape) != (d_model,):
            problems.append(f"{name}.bias has shape {tuple(bias.shape)}, expected ({d_model},)")
    return problems


def mha_structure(namespace: dict, d_model: int, n_heads: int) -> dict:
    """The projections' problems, and the names of all parameters with their shapes."""
    module = _build(namespace, d_model, n_heads)
    params = {name: list(p.shape) for name, p in module.named_parameters()}
    return {"problems": _describe_projections(module, int(d_model)), "parameters": params}


def mha_forward(namespace: dict, d_model: int, n_heads: int, weights: dict, x, mask=None) -> dict:
    """Build the module, copy `weights` (name -> {"weight", "bias"}) in, run forward(x[, mask])."""
    import torch

    module = _build(namespace, d_model, n_heads)
    problems = _describe_projections(module, int(d_model))
    if problems:
        return {"problems": problems, "out": None, "returned_tuple": False}
    with torch.no_grad():
        for name in PROJECTIONS:
            layer = getattr(module, name)
            layer.weight.copy_(weights[name]["weight"])
            layer.bias.copy_(weights[name]["bias"])
    if hasattr(module, "eval"):
        module.eval()
    with torch.no_grad():
        out = module(x) if mask is None else module(x, mask)
    returned_tuple = False
    # nn.MultiheadAttention returns (output, weights); accept that shape of answer too.
    if isinstance(out, (tuple, list)) and len(out) in (1, 2) and isinstance(out[0], torch.Tensor):
        out, returned_tuple = out[0], True
    return {"problems": [], "out": out, "returned_tuple": returned_tuple}


def kv_cache_run(namespace: dict, q, k, v) -> dict:
    """Run kv_cache_attention(q, k, v) with kv_cache_step watched: its output, and for each call
    of kv_cache_step the number of tokens in the cache it was given (0 for None, -1 for a cache
    that is not a pair of tensors)."""
    step = get_function(namespace, "kv_cache_step")
    lengths: list = []

    def watched(q_t, k_t, v_t, cache, *args, **kwargs):
        try:
            lengths.append(0 if cache is None else int(cache[0].shape[0]))
        except Exception:
            lengths.append(-1)
        return step(q_t, k_t, v_t, cache, *args, **kwargs)

    namespace["kv_cache_step"] = watched
    try:
        out = get_function(namespace, "kv_cache_attention")(q, k, v)
    finally:
        namespace["kv_cache_step"] = step
    return {"out": out, "cache_lengths": lengths}
