"""Harnesses for q18_transformer_block: the block and the decoding loop, run on built objects.

They run in the worker next to the student's notebook (and in the parent on the references, or on
a pitfall variant put in the namespace under the student's name, for the expected trace). Each
builds the student's class or a small seeded model, calls it and returns plain data. Nothing here
knows the right answer.

    block_structure   the parameter names and shapes of TransformerBlock(d_model, n_heads, d_ff, pre_norm)
    block_forward     that block with a state dict loaded (strict), run in eval mode on given inputs
    greedy_trace      greedy_decode on a tiny language model that records each forward call:
                      ["forward", training, grad_enabled, [B, T]]
"""
from __future__ import annotations

import torch
from torch import nn

from whiteboard.worker.harness import get_function


# ---- TransformerBlock -----------------------------------------------------------------------------

def block_state(d_model: int, d_ff: int, seed: int = 0) -> dict:
    """A seeded state dict with the catalogue's keys. LayerNorm weights are not 1 and biases not
    0, so that every parameter shows in the output; linear weights are scaled by 1/sqrt(fan_in) so
    that activations stay of order 1 (GELU and its tanh approximation then differ visibly)."""
    d, f = int(d_model), int(d_ff)
    g = torch.Generator().manual_seed(int(seed))

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    return {
        "ln1.weight": 1.0 + randn(d, scale=0.3), "ln1.bias": randn(d, scale=0.3),
        "attn.in_proj_weight": randn(3 * d, d, scale=d ** -0.5),
        "attn.in_proj_bias": randn(3 * d, scale=0.2),
        "attn.out_proj.weight": randn(d, d, scale=d ** -0.5),
        "attn.out_proj.bias": randn(d, scale=0.2),
        "ln2.weight": 1.0 + randn(d, scale=0.3), "ln2.bias": randn(d, scale=0.3),
        "ff.0.weight": randn(f, d, scale=1.5 * d ** -0.5), "ff.0.bias": randn(f, scale=0.5),
        "ff.2.weight": randn(d, f, scale=f ** -0.5), "ff.2.bias": randn(d, scale=0.2),
    }


def _build_block(namespace: dict, d_model, n_heads, d_ff, pre_norm):
    cls = get_function(namespace, "TransformerBlock")
    # Positional, as the catalogue orders them, so that a renamed keyword still works.
    return cls(int(d_model), int(n_heads), int(d_ff), bool(pre_norm))


def block_structure(namespace: dict, d_model: int, n_heads: int, d_ff: int,
                    pre_norm: bool = True) -> dict:
    """The block's parameters and persistent buffers (name -> shape) and its ff's layer types."""
    module = _build_block(namespace, d_model, n_heads, d_ff, pre_norm)
    ff = getattr(module, "ff", None)
    layers = []
    if isinstance(ff, nn.Module):
        for child in ff.children():
            layers.append([type(child).__name__, str(getattr(child, "approximate", ""))])
    return {
        "is_module": isinstance(module, nn.Module),
        "parameters": {n: list(p.shape) for n, p in module.named_parameters()},
        "state_keys": sorted(module.state_dict().keys()),
        "ff_layers": layers,
        "attn_type": type(getattr(module, "attn", None)).__name__,
    }


def block_forward(namespace: dict, d_model: int, n_heads: int, d_ff: int, pre_norm: bool,
                  inputs: list, weights: dict | None = None, seed: int = 0) -> dict:
    """Build the student's block, load `weights` (or block_state(seed)) strictly, and run it in
    eval mode under no_grad on each `(x, mask)` of `inputs` (mask None or a (T, T) bool tensor).

    Returns {"problems": [sentences], "outs": [tensor or None per input], "out_types": [...]}.
    """
    module = _build_block(namespace, d_model, n_heads, d_ff, pre_norm)
    state = weights if weights is not None else block_state(d_model, d_ff, seed)
    state = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in state.items()}
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        return {"problems": [f"the test weights could not be loaded: {exc}"[:600]],
                "outs": [None] * len(inputs), "out_types": []}
    module.eval()
    outs, types = [], []
    with torch.no_grad():
        for x, mask in inputs:
            x = torch.as_tensor(x, dtype=torch.float32)
            out = module(x) if mask is None else module(x, torch.as_tensor(mask, dtype=torch.bool))
            # nn.MultiheadAttention returns (output, weights); accept a block that passes it on.
            if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
                types.append("tuple")
                out = out[0]
            else:
                types.append(type(out).__name__)
            outs.append(out.detach().as_subclass(torch.Tensor).clone()
                        if isinstance(out, torch.Tensor) else None)
    return {"problems": [], "outs": outs, "out_types": types}


# ---- greedy_decode ------------------------------------------------------------------------------

class TinyLM(nn.Module):
    """A deterministic causal language model: the logits at position t depend on tokens 0..t only
    (token t's embedding plus the running mean of the embeddings). In training mode it adds a large bonus to token `train_token`,
    a stand-in for dropout, so that decoding in training mode gives other tokens. Every forward
    call is recorded."""

    def __init__(self, events: list, vocab: int = 11, d: int = 8, seed: int = 0,
                 train_token: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.emb = nn.Embedding(vocab, d)
        self.proj = nn.Linear(d, vocab)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(vocab, d, generator=g) * 2.0)
            self.proj.weight.copy_(torch.randn(vocab, d, generator=g) * 3.0 / d ** 0.5)
            self.proj.bias.copy_(torch.randn(vocab, generator=g) * 0.5)
        self.train_token = int(train_token)
        self._events = events

    def forward(self, ids):
        ids = torch.as_tensor(ids)
        self._events.append(["forward", bool(self.training), bool(torch.is_grad_enabled()),
                             list(ids.shape)])
        h = self.emb(ids.long())
        steps = torch.arange(1, h.shape[1] + 1, dtype=h.dtype)[None, :, None]
        # The current token plus the mean of the prefix: a causal model whose greedy path moves.
        logits = self.proj(torch.tanh(h + torch.cumsum(h, dim=1) / steps))
        if self.training:
            bonus = torch.zeros(logits.shape[-1], dtype=logits.dtype)
            bonus[self.train_token] = 50.0
            logits = logits + bonus
        return logits


def greedy_trace(namespace: dict, prompt, max_new_tokens: int, seed: int = 0, vocab: int = 11,
                 start_mode: str = "train") -> dict:
    """The student's greedy_decode on TinyLM, which starts in `start_mode`."""
    fn = get_function(namespace, "greedy_decode")
    events: list = []
    model = TinyLM(events, vocab=vocab, seed=seed)
    model.train(start_mode == "train")
    prompt = torch.as_tensor(prompt).long()
    passed = prompt.clone()
    value = fn(model, passed, int(max_new_tokens))
    out = {"events": events, "prompt_unchanged": bool(torch.equal(passed, prompt)),
           "is_tensor": isinstance(value, torch.Tensor), "type": type(value).__name__,
           "dtype": str(value.dtype).replace("torch.", "") if hasattr(value, "dtype") else None,
           "ids": None}
    if isinstance(value, torch.Tensor):
        out["ids"] = value.detach().as_subclass(torch.Tensor).clone()
    return out
