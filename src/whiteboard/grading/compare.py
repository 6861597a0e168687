"""Comparing what a student returned with what the reference returns, with dtype-aware tolerances.

`mismatch(got, expected)` answers None when they agree, else a (label, detail) pair whose label is
one of the generic catalogue labels: wrong-type, wrong-shape, nan-or-inf, wrong-value.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from whiteboard.worker.codec import Opaque

# (rtol, atol) by the precision of the less precise of the two values compared.
TOLERANCES = {
    np.dtype(np.float64): (1e-6, 1e-9),
    np.dtype(np.float32): (1e-4, 1e-6),
    np.dtype(np.float16): (1e-2, 1e-3),
}


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter")


def is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or _is_tensor(x)


def as_numpy(x: Any) -> np.ndarray:
    if _is_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def type_name(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, Opaque):
        return x.type_name
    if _is_tensor(x):
        return f"torch.Tensor ({str(x.dtype).replace('torch.', '')})"
    if isinstance(x, np.ndarray):
        return f"np.ndarray ({x.dtype})"
    return type(x).__name__


def tolerance(*values: Any, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    worst = (0.0, 0.0)
    for v in values:
        dt = as_numpy(v).dtype if is_array(v) else np.dtype(np.float64)
        worst = max(worst, TOLERANCES.get(dt, (0.0, 0.0)))
    return (worst[0] if rtol is None else rtol, worst[1] if atol is None else atol)


def mismatch(got: Any, expected: Any, *, rtol: float | None = None, atol: float | None = None,
             strict_type: bool = False, equal_nan: bool = False) -> tuple[str, str] | None:
    """Why `got` is not `expected` as (label, detail), or None if it is (within tolerance)."""
    if expected is None:
        return None if got is None else ("wrong-type", f"expected None, got {type_name(got)}")
    if got is None:
        return ("wrong-type", "returned None: is a `return` statement missing?")
    if isinstance(got, Opaque):
        return ("wrong-type", f"returned a {got.type_name}, expected {type_name(expected)}")

    if is_array(expected):
        if not is_array(got) and not isinstance(got, (int, float, np.generic)):
            return ("wrong-type", f"returned a {type_name(got)}, expected {type_name(expected)}")
        if strict_type and _is_tensor(expected) != _is_tensor(got):
            return ("wrong-type", f"returned a {type_name(got)}, expected {type_name(expected)}")
        mask = np.ma.getmaskarray(expected) if isinstance(expected, np.ma.MaskedArray) else None
        g, e = as_numpy(got), np.asarray(expected.data) if mask is not None else as_numpy(expected)
        if strict_type and g.dtype != e.dtype:
            return ("wrong-type", f"dtype {g.dtype}, expected {e.dtype}")
        if g.shape != e.shape:
            return ("wrong-shape", f"shape {tuple(g.shape)}, expected {tuple(e.shape)}")
        if mask is not None:  # a variant compared in part: masked entries match anything
            g = np.where(mask, e, g.astype(np.result_type(g, e)))
            expected = e
        return _compare_arrays(g, e, got, expected, rtol, atol, equal_nan)

    if isinstance(expected, bool):
        if isinstance(got, (bool, np.bool_)) or (is_array(got) and as_numpy(got).shape == ()):
            return None if bool(got) == expected else ("wrong-value", f"{got!r}, expected {expected!r}")
        return ("wrong-type", f"returned a {type_name(got)}, expected bool")

    if isinstance(expected, str):
        if not isinstance(got, str):
            return ("wrong-type", f"returned a {type_name(got)}, expected str")
        return None if got == expected else ("wrong-value", f"{got!r}, expected {expected!r}")

    if isinstance(expected, (int, float, np.number)):
        if is_array(got) and as_numpy(got).size == 1 and as_numpy(got).ndim <= 1:
            got = as_numpy(got).reshape(()).item()
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.number)):
            return ("wrong-type", f"returned a {type_name(got)}, expected a number")
        g, e = float(got), float(expected)
        if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
            if math.isfinite(g) and g == e:
                return None
            return ("wrong-value" if math.isfinite(g) else "nan-or-inf", f"{_num(got)}, expected {expected}")
        if equal_nan and math.isnan(g) and math.isnan(e):
            return None
        if not math.isfinite(g) and math.isfinite(e):
            return ("nan-or-inf", f"{got}, expected {_num(e)}")
        if not math.isfinite(e):  # abs(g - inf) <= inf would let any number match inf
            return None if g == e else ("wrong-value", f"{_num(g)}, expected {_num(e)}")
        r, a = tolerance(got, expected, rtol=rtol, atol=atol)
        if g == e or abs(g - e) <= a + r * abs(e):
            return None
        return ("wrong-value", f"{_num(g)}, expected {_num(e)}")

    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return ("wrong-type", f"returned a {type_name(got)}, expected a {type(expected).__name__} "
                    f"of {len(expected)}")
        if len(got) != len(expected):
            return ("wrong-shape", f"a {type(got).__name__} of {len(got)} items, expected {len(expected)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            m = mismatch(g, e, rtol=rtol, atol=atol, strict_type=strict_type, equal_nan=equal_nan)
            if m:
                return (m[0], f"item [{i}]: {m[1]}")
        return None

    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return ("wrong-type", f"returned a {type_name(got)}, expected a dict")
        if set(got) != set(expected):
            return ("wrong-shape", f"keys {sorted(map(str, got))}, expected {sorted(map(str, expected))}")
        for k in expected:
            m = mismatch(got[k], expected[k], rtol=rtol, atol=atol, strict_type=strict_type,
                         equal_nan=equal_nan)
            if m:
                return (m[0], f"[{k!r}]: {m[1]}")
        return None
    raise TypeError(f"cannot compare with a {type(expected).__name__}")


def _compare_arrays(g, e, got, expected, rtol, atol, equal_nan):
    if e.dtype == bool or g.dtype == bool or e.dtype.kind in "iu" and g.dtype.kind in "iu":
        bad = g != e
        if not bad.any():
            return None
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return ("wrong-value", f"{int(bad.sum())} of {bad.size} entries differ, first at {list(idx)}: "
                f"{g[idx]!r} instead of {e[idx]!r}")
    g64, e64 = g.astype(np.float64), e.astype(np.float64)
    g_bad, e_bad = ~np.isfinite(g64), ~np.isfinite(e64)
    if equal_nan:
        if (np.isnan(g64) != np.isnan(e64)).any():
            return ("wrong-value", "NaNs in different places")
    elif (g_bad & ~e_bad).any():
        idx = tuple(int(i) for i in np.argwhere(g_bad & ~e_bad)[0])
        return ("nan-or-inf", f"{int((g_bad & ~e_bad).sum())} entries are NaN or inf, first at {list(idx)}")
    r, a = tolerance(got, expected, rtol=rtol, atol=atol)
    with np.errstate(invalid="ignore"):
        close = np.isclose(g64, e64, rtol=r, atol=a, equal_nan=True)
    if close.all():
        return None
    diff = np.where(close, 0, np.abs(np.nan_to_num(g64 - e64, nan=np.inf)))
    idx = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    yours, wanted = _num(g64[idx]), _num(e64[idx])
    if yours == wanted:  # alike to 6 digits: show enough of them, and how far apart they are
        yours, wanted = f"{g64[idx]:.12g}", f"{e64[idx]:.12g}"
        wanted += f" (a difference of {diff[idx]:.2g}, more than this check allows)"
    return ("wrong-value", f"{int((~close).sum())} of {close.size} entries differ; the largest "
            f"difference is at {list(idx)}: {yours} instead of {wanted}")


def _num(x: Any) -> str:
    try:
        return f"{float(x):.6g}"
    except (TypeError, ValueError):
        return repr(x)


def show(x: Any, limit: int = 12) -> str:
    """A value as a student should see it in a message: small, rounded, its type and shape named."""
    if is_array(x):
        a = as_numpy(x)
        kind = "tensor" if _is_tensor(x) else "array"
        with np.printoptions(precision=4, suppress=True, threshold=limit, edgeitems=2, linewidth=100):
            body = np.array2string(a, separator=", ")
        if a.size > limit or a.ndim > 2:
            return f"{kind} of shape {tuple(a.shape)}, {a.dtype}, e.g. {body[:300]}"
        return f"{kind}({body})"
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, (tuple, list)):
        inner = ", ".join(show(v, limit) for v in list(x)[:6])
        more = ", ..." if len(x) > 6 else ""
        return f"({inner}{more})" if isinstance(x, tuple) else f"[{inner}{more}]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {show(v, limit)}" for k, v in list(x.items())[:8]) + "}"
    if isinstance(x, Opaque):
        return f"a {x.type_name}"
    text = repr(x)
    return text if len(text) < 300 else text[:300] + "..."
