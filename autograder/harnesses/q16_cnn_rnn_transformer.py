"""Harness for q16_cnn_rnn_transformer: the student's three sequence models, built and exercised.

It runs in the worker next to the student's notebook (and in the parent on the reference for the
expected trace). It builds the model of one kind, seeded, and returns plain data: the output shape,
how much each output position moves when later tokens change (causality), and the loss before and
after a few Adam steps on a repeating sequence (learning). Nothing here knows the right answer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from whiteboard.worker.harness import get_function


def _max_abs(a: torch.Tensor) -> float:
    return float(a.detach().double().abs().max()) if a.numel() else 0.0


def _causality(model: nn.Module, base: torch.Tensor, vocab: int, seed: int) -> dict:
    """One forward pass over a batch that holds `base` (T,) and, for every t < T-1, a copy with token
    t+1 changed and a copy with every token after t changed. The largest change of the outputs at
    positions 0..t, per t, for each kind of copy (exactly 0 for a causal model)."""
    T = base.shape[0]
    g = torch.Generator().manual_seed(seed + 7)
    rows = [base]
    for t in range(T - 1):
        one = base.clone()
        one[t + 1] = (base[t + 1] + 1 + torch.randint(0, vocab - 1, (), generator=g)) % vocab
        rows.append(one)
    for t in range(T - 1):
        suffix = base.clone()
        shift = 1 + torch.randint(0, vocab - 1, (T - t - 1,), generator=g)
        suffix[t + 1:] = (base[t + 1:] + shift) % vocab
        rows.append(suffix)
    with torch.no_grad():
        out = model(torch.stack(rows))
    ref = out[0]
    single = [_max_abs(out[1 + t, :t + 1] - ref[:t + 1]) for t in range(T - 1)]
    suffix = [_max_abs(out[T + t, :t + 1] - ref[:t + 1]) for t in range(T - 1)]
    return {"future_effect": single, "suffix_effect": suffix, "scale": _max_abs(ref)}


def repeating_batch(vocab: int, batch: int, length: int, period: int, seed: int) -> torch.Tensor:
    """(batch, length) tokens: one pattern of `period` distinct tokens repeated, each row starting at
    another phase, so that the next token is a function of the current one."""
    g = torch.Generator().manual_seed(seed + 11)
    pattern = torch.randperm(vocab, generator=g)[:period]
    idx = (torch.arange(length)[None, :] + torch.arange(batch)[:, None]) % period
    return pattern[idx]


def _loss(model, seq, vocab):
    logits = model(seq[:, :-1])
    return F.cross_entropy(logits.reshape(-1, vocab), seq[:, 1:].reshape(-1))


def _learn(model: nn.Module, vocab: int, seed: int, steps: int, lr: float, batch: int, length: int,
           period: int) -> dict:
    seq = repeating_batch(vocab, batch, length + 1, period, seed)
    result = {"losses": [], "loss_before": None, "loss_after": None, "error": None}
    try:
        model.eval()
        with torch.no_grad():
            result["loss_before"] = float(_loss(model, seq, vocab))
        model.train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = _loss(model, seq, vocab)
            loss.backward()
            optimizer.step()
            result["losses"].append(float(loss.detach()))
        model.eval()
        with torch.no_grad():
            result["loss_after"] = float(_loss(model, seq, vocab))
    except NotImplementedError:
        raise
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return result


def sequence_model_trace(namespace: dict, kind: str = "transformer", vocab_size: int = 11,
                         d_model: int = 32, seed: int = 0, batch: int = 2, T: int = 10,
                         learn: bool = True, steps: int = 25, lr: float = 3e-3, learn_batch: int = 4,
                         learn_length: int = 16, period: int = 5) -> dict:
    """Build build_sequence_model(kind, vocab_size, d_model) (seeded) and exercise it in eval mode.

    Returns {"is_module", "type", "error" (text of an exception in a forward pass, or None),
    "shape" ([B, T, V] of model(tokens (batch, T)) or None), "expected_shape",
    "future_effect" / "suffix_effect" (per t < T-1, the largest change of outputs 0..t when token
    t+1 / every token after t changes), "scale" (largest |output|), "learning" (None when skipped,
    else {"losses", "loss_before", "loss_after" (eval mode), "error"})}.
    """
    fn = get_function(namespace, "build_sequence_model")
    vocab, T = int(vocab_size), int(T)
    torch.manual_seed(int(seed))
    model = fn(kind, vocab, int(d_model))
    out = {"is_module": isinstance(model, nn.Module), "type": type(model).__name__, "error": None,
           "shape": None, "expected_shape": [int(batch), T, vocab], "future_effect": [],
           "suffix_effect": [], "scale": 0.0, "learning": None}
    if not out["is_module"]:
        return out
    g = torch.Generator().manual_seed(int(seed) + 3)
    tokens = torch.randint(0, vocab, (int(batch), T), generator=g)
    model.eval()
    try:
        with torch.no_grad():
            y = model(tokens)
        out["shape"] = list(y.shape) if isinstance(y, torch.Tensor) else None
        if out["shape"] == out["expected_shape"]:
            out.update(_causality(model, tokens[0], vocab, int(seed)))
    except NotImplementedError:
        raise
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return out
    if learn and out["shape"] == out["expected_shape"]:
        out["learning"] = _learn(model, vocab, int(seed), int(steps), float(lr), int(learn_batch),
                                 int(learn_length), int(period))
    return out
