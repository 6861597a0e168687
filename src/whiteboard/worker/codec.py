"""Plain data across the process boundary.

The worker runs untrusted code, so whatever it sends back must not be able to carry code: the
structure travels as JSON and every array as a raw `.npy` blob read with `allow_pickle=False`.
Nothing from the worker is ever unpickled.

A message is one frame on a stream socket:

    MAGIC (4 bytes) | header length (4) | blob length (8) | header JSON | blobs

Containers are tagged so that a student's dict can never be mistaken for one of ours:
``{"L": [...]}`` list, ``{"T": [...]}`` tuple, ``{"Z": [...]}`` set, ``{"D": [[key, value], ...]}`` dict,
``{"A": i}`` ndarray, ``{"X": i, ...}`` torch tensor, ``{"S": dtype, "v": x}`` numpy scalar,
``{"O": type name, "repr": text}`` anything else (reported, never rebuilt).

The same tree, written as a JSON file beside an `.npz` of its arrays (`dump`/`load`), is the
frozen data of a student kit. Only there may a `numpy.ma.MaskedArray` travel (``{"M": i, "m": j}``:
a pitfall variant's output compared in part); from a worker a masked array arrives as its data, so
no student can send an answer that "matches anything".
"""
from __future__ import annotations

import io
import json
import socket
import struct
import time
from typing import Any

import numpy as np

MAGIC = b"WBv1"
_HEAD = struct.Struct("!4sIQ")
MAX_FRAME_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 64
MAX_ITEMS = 100_000
_SIMPLE_KINDS = set("biufc")


class FrameError(Exception):
    """The stream did not hold a well-formed frame (a worker died mid-write, or lied)."""


def _tensor_type():
    import sys

    torch = sys.modules.get("torch")
    return torch.Tensor if torch is not None else None


def _to_tree(obj: Any, masked: bool = False) -> tuple[Any, list[np.ndarray]]:
    """The tagged JSON tree of `obj` and the arrays it refers to by index."""
    arrays: list[np.ndarray] = []
    count = [0]
    tensor = _tensor_type()

    def add_array(arr: np.ndarray) -> int:
        # np.ascontiguousarray would make a 0-dim array 1-dim: a scalar tensor must stay a scalar
        arrays.append(arr if arr.flags.c_contiguous else np.array(arr, order="C"))
        return len(arrays) - 1

    def enc(x: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise ValueError("value too deeply nested or too large to send")
        if x is None or isinstance(x, (bool, str)):
            return x
        if type(x) is int:
            return x
        if type(x) is float:
            return x
        if masked and isinstance(x, np.ma.MaskedArray):
            return {"M": add_array(np.asarray(x.data)), "m": add_array(np.ma.getmaskarray(x))}
        if isinstance(x, np.ndarray):
            arr = np.asarray(x)
            if arr.dtype.kind not in _SIMPLE_KINDS:
                return {"O": f"ndarray of dtype {arr.dtype}", "repr": ""}
            return {"A": add_array(arr)}
        if isinstance(x, np.generic):
            if x.dtype.kind not in _SIMPLE_KINDS or x.dtype.kind == "c":
                return {"O": type(x).__name__, "repr": ""}
            return {"S": x.dtype.str, "v": x.item()}
        if tensor is not None and isinstance(x, tensor):
            import torch

            t = x.detach()
            dtype = str(t.dtype).replace("torch.", "")
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            if t.is_complex() or t.layout != torch.strided:
                return {"O": f"Tensor ({dtype}, {t.layout})", "repr": ""}
            return {"X": add_array(t.cpu().resolve_conj().resolve_neg().numpy()), "dtype": dtype,
                    "grad": bool(x.requires_grad), "device": str(x.device)}
        if isinstance(x, bool) or isinstance(x, int):  # int/bool subclasses
            return int(x)
        if isinstance(x, float):
            return float(x)
        if type(x) in (list, tuple):
            return {"L" if type(x) is list else "T": [enc(v, depth + 1) for v in x]}
        if type(x) in (set, frozenset):
            return {"Z": [enc(v, depth + 1) for v in x]}
        if type(x) is dict:
            return {"D": [[enc(k, depth + 1), enc(v, depth + 1)] for k, v in x.items()]}
        if tensor is not None and type(x).__name__ == "Size":
            return {"T": [int(v) for v in x]}
        name = f"{type(x).__module__}.{type(x).__qualname__}"
        try:
            text = repr(x)[:300]
        except BaseException:  # a student's __repr__ may raise anything
            text = ""
        return {"O": name, "repr": text}

    return enc(obj, 0), arrays


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def encode(obj: Any) -> bytes:
    """Serialise plain data (and arrays/tensors) into one frame."""
    tree, arrays = _to_tree(obj)
    header = json.dumps(tree, allow_nan=True).encode()
    blobs = [_npy(a) for a in arrays]
    body = b"".join(blobs)
    lengths = json.dumps([len(b) for b in blobs]).encode()
    header = lengths + b"\n" + header
    return _HEAD.pack(MAGIC, len(header), len(body)) + header + body


def decode(header: bytes, body: bytes) -> Any:
    """Rebuild plain data from a frame's parts. Only arrays, tensors and builtins come out."""
    try:
        lengths_line, _, doc = header.partition(b"\n")
        lengths = json.loads(lengths_line)
        tree = json.loads(doc)
    except ValueError as exc:
        raise FrameError(f"unreadable header: {exc}") from None
    offsets, pos = [], 0
    for n in lengths:
        if not isinstance(n, int) or n < 0:
            raise FrameError("bad blob length")
        offsets.append((pos, pos + n))
        pos += n
    if pos != len(body):
        raise FrameError("blob lengths do not add up")

    def array(i: Any) -> np.ndarray:
        if not isinstance(i, int) or not 0 <= i < len(offsets):
            raise FrameError("bad array index")
        a, b = offsets[i]
        return np.lib.format.read_array(io.BytesIO(body[a:b]), allow_pickle=False)

    return _from_tree(tree, array)


def _from_tree(tree: Any, array_at, masked: bool = False) -> Any:
    """Rebuild plain data from a tagged tree; `array_at(i)` reads the i-th array."""

    def array(i: Any) -> np.ndarray:
        arr = array_at(i)
        if arr.dtype.kind not in _SIMPLE_KINDS:
            raise FrameError("unexpected array dtype")
        return arr

    def dec(x: Any) -> Any:
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if not isinstance(x, dict) or len(x) == 0:
            raise FrameError("untagged container")
        if "L" in x:
            return [dec(v) for v in x["L"]]
        if "T" in x:
            return tuple(dec(v) for v in x["T"])
        if "Z" in x:
            return {_hashable(dec(v)) for v in x["Z"]}
        if "D" in x:
            return {_hashable(dec(k)): dec(v) for k, v in x["D"]}
        if "A" in x:
            return array(x["A"])
        if "M" in x:
            if not masked:
                raise FrameError("a masked array outside frozen data")
            return np.ma.MaskedArray(array(x["M"]), mask=array(x["m"]).astype(bool))
        if "X" in x:
            import torch

            arr = array(x["X"])
            t = torch.from_numpy(arr.copy())
            dtype = getattr(torch, str(x.get("dtype", "")), None)
            if isinstance(dtype, torch.dtype):
                t = t.to(dtype)
            return t
        if "S" in x:
            dt = np.dtype(str(x["S"]))
            if dt.kind not in _SIMPLE_KINDS:
                raise FrameError("unexpected scalar dtype")
            return dt.type(x["v"])
        if "O" in x:
            return Opaque(str(x["O"]), str(x.get("repr", "")))
        raise FrameError("unknown tag")

    return dec(tree)


def dump(obj: Any, stem) -> None:
    """Write `obj` as `<stem>.json` (the tree) and `<stem>.npz` (its arrays): frozen data."""
    from pathlib import Path

    tree, arrays = _to_tree(obj, masked=True)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".npz"), "wb") as f:
        np.savez_compressed(f, **{f"a{i}": a for i, a in enumerate(arrays)})
    stem.with_suffix(".json").write_text(json.dumps(tree, allow_nan=True, separators=(",", ":")))


def load(stem) -> Any:
    """Read what `dump` wrote (arrays with allow_pickle=False: data, never code)."""
    from pathlib import Path

    stem = Path(stem)
    tree = json.loads(stem.with_suffix(".json").read_text())
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
        table = {name: arrays[name] for name in arrays.files}
    return _from_tree(tree, lambda i: table[f"a{i}"], masked=True)


def fingerprint(obj: Any) -> str:
    """A stable digest of plain data: the same inputs give the same key in every process."""
    import hashlib

    tree, arrays = _to_tree(obj)
    h = hashlib.sha256(json.dumps(tree, allow_nan=True, sort_keys=True).encode())
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


def round_trip(obj: Any) -> Any:
    """`obj` as it would arrive from a worker: encoded into a frame and decoded again."""
    data = encode(obj)
    _, hlen, blen = _HEAD.unpack(data[:_HEAD.size])
    return decode(data[_HEAD.size:_HEAD.size + hlen], data[_HEAD.size + hlen:])


def _hashable(k: Any) -> Any:
    if isinstance(k, list):
        return tuple(k)
    if isinstance(k, np.ndarray):
        return repr(k)
    return k


class Opaque:
    """Stands for a value that could not travel as plain data (a module, a generator, ...)."""

    def __init__(self, type_name: str, text: str):
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


# ---- framing -----------------------------------------------------------------------------

def send(sock: socket.socket, obj: Any) -> None:
    sock.sendall(encode(obj))


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            raise TimeoutError from None
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, deadline: float | None = None, max_bytes: int = MAX_FRAME_BYTES) -> Any:
    """Read one frame. Raises TimeoutError, EOFError or FrameError."""
    head = _recv_exact(sock, _HEAD.size, deadline)
    magic, hlen, blen = _HEAD.unpack(head)
    if magic != MAGIC:
        raise FrameError("bad magic")
    if hlen + blen > max_bytes:
        raise FrameError(f"message of {hlen + blen} bytes is over the {max_bytes}-byte limit")
    header = _recv_exact(sock, hlen, deadline)
    body = _recv_exact(sock, blen, deadline)
    return decode(header, body)
