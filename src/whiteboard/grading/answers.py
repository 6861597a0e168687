"""Answers given as values (the rapid-fire drill's `rf01 = "sigmoid"`), compared without holding them.

An answer key is a tree shaped like the answer whose leaves are salted digests, so that a student
kit can say right or wrong, and name a listed misconception, without carrying the answers in
plain form:

    string, bool, int    {"x": digest of the value}                       (exact)
    other number         {"f": digest of the value at 4 significant digits}
                         (a student's number matches if one within a relative 1e-3 of it has
                         that digest: the catalogue's tolerance, to a unit of the 4th digit)
    set                  {"s": digest of its sorted items}  (a list or tuple of the items too)
    dict                 {"d": digest of its sorted items}
    list / tuple         {"l": [key of each item]}          (a tuple for a list and back)
    ANY                  {"a": ""}                          (matches any value: "6 as the first entry")

`key(value)` makes a key; `matches(value, key)` compares a student's value with one.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

SALT = "whiteboard-answer-v1"
SIGNIFICANT = 4
RTOL = 1e-3


class _Any:
    """A wildcard inside a listed wrong answer: `(6, ANY, ANY)` is any triple starting with 6."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()


def _digest(text: str) -> str:
    return hashlib.sha256(f"{SALT}\0{text}".encode()).hexdigest()[:24]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _rounded(x: float) -> str:
    return f"{float(x):.{SIGNIFICANT - 1}e}"


def _canonical(x: Any) -> str:
    """A stable text for a hashable item of a set or dict (numbers as numbers: 5 == 5.0)."""
    if _is_number(x):
        return repr(float(x)) if not float(x).is_integer() else str(int(x))
    if isinstance(x, (list, tuple)):
        return "(" + ",".join(_canonical(v) for v in x) + ")"
    return repr(x)


def key(value: Any) -> dict:
    """The answer key of a right (or listed wrong) answer."""
    if value is ANY:
        return {"a": ""}
    if isinstance(value, (set, frozenset)):
        return {"s": _digest("|".join(sorted(_canonical(v) for v in value)))}
    if isinstance(value, dict):
        return {"d": _digest("|".join(sorted(f"{_canonical(k)}:{_canonical(v)}" for k, v in value.items())))}
    if isinstance(value, (list, tuple)):
        return {"l": [key(v) for v in value]}
    if isinstance(value, bool) or isinstance(value, str) or (isinstance(value, int)):
        return {"x": _digest(_canonical(value))}
    if _is_number(value):
        return {"f": _digest(_rounded(value))}
    raise TypeError(f"an answer cannot be a {type(value).__name__}")


def _float_matches(x: Any, digest: str) -> bool:
    if not _is_number(x) or not math.isfinite(float(x)):
        return False
    x = float(x)
    if x == 0:
        return _digest(_rounded(0.0)) == digest
    unit = 10 ** (math.floor(math.log10(abs(x))) - (SIGNIFICANT - 1))
    reach = math.ceil(RTOL * abs(x) / unit) + 1
    base = float(_rounded(x))
    return any(_digest(_rounded(base + k * unit)) == digest for k in range(-reach, reach + 1))


def matches(value: Any, answer_key: dict) -> bool:
    """Whether a student's `value` is the answer `answer_key` was made from, by the catalogue's
    rules (a set may come as a list or tuple, a list as a tuple, counts exact, other numbers to a
    relative 1e-3)."""
    kind, expected = next(iter(answer_key.items()))
    if kind == "a":
        return True
    if kind == "s":
        if not isinstance(value, (set, frozenset, list, tuple)):
            return False
        try:
            return key(set(value))["s"] == expected and len(set(value)) == len(value)
        except TypeError:
            return False
    if kind == "d":
        return isinstance(value, dict) and key(value)["d"] == expected
    if kind == "l":
        return (isinstance(value, (list, tuple)) and len(value) == len(expected)
                and all(matches(v, k) for v, k in zip(value, expected)))
    if kind == "f":
        return _float_matches(value, expected)
    if isinstance(value, bool) or value is None:
        return _digest(_canonical(value)) == expected
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3000000.0 for a count
    return not isinstance(value, (set, frozenset, dict, list, tuple)) and _digest(_canonical(value)) == expected
