"""Where a check's expected values come from: the references, or a student kit's frozen data.

A check never calls a reference directly; it asks its assignment's oracle:

    signature(function)                      the argument names (for messages)
    expected(function, args, kwargs)         the reference's result
    variants(function, args, kwargs)         [(label, result)] of every pitfall variant
    standin(function, args, kwargs)          the reference's result for a stand-in call
    answer_key(name)                         digests of an answer given as a value (answers.py)
    trace(module, harness, params, function) the harness run on the references' namespace
    variant_traces(...)                      [(label, trace)] with one variant swapped in

`LiveOracle` computes them from `autograder/references/` (the instructor's side). `RecordingOracle`
does the same and keeps every answer, so that `whiteboard student-kit` can freeze them into data.
`FrozenOracle` answers from that data (the student kit's side): it holds no code of the references,
only their outputs on the public checks' inputs. An oracle's inputs must therefore be fixed by the
check (a seed, a constant), never by what the student returned; a question the frozen data cannot
answer raises `NotFrozen`, and the check is reported as not run.
"""
from __future__ import annotations

import copy
import importlib.util
import inspect
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from whiteboard.worker import codec


class NotFrozen(LookupError):
    """The frozen data has no answer for this question (its inputs depend on the student)."""


def _quietly(fn: Callable, *args, **kwargs) -> Any:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))


def load_module(path: Path, name: str) -> types.ModuleType:
    """Import a file of the autograder (a harness module) under `name`, once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class LiveOracle:
    """Answers from the reference module of an assignment (and its pitfall variants)."""

    def __init__(self, references: types.ModuleType, harness_dir: Path | None = None):
        self.references = references
        self.harness_dir = Path(harness_dir) if harness_dir else None
        self.standins: tuple[str, ...] = tuple(getattr(references, "STANDINS", ()))
        self.pitfalls = references.PITFALLS

    def signature(self, function: str) -> tuple[str, ...]:
        try:
            params = inspect.signature(getattr(self.references, function)).parameters.values()
        except (AttributeError, TypeError, ValueError):
            return ()
        return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))

    def parameters(self, function: str) -> list[list]:
        """[[name], [name, default], ...] of the reference's signature (to key stand-in calls the
        same whether an argument was passed by position, by name or left to its default)."""
        try:
            params = inspect.signature(getattr(self.references, function)).parameters.values()
        except (AttributeError, TypeError, ValueError):
            return []
        out = []
        for p in params:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                return []
            out.append([p.name] if p.default is p.empty else [p.name, p.default])
        return out

    def expected(self, function: str, args: tuple, kwargs: dict) -> Any:
        return getattr(self.references, function)(*copy.deepcopy(args), **copy.deepcopy(kwargs))

    def variants(self, function: str, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
        out = []
        for label, variant in self.pitfalls.variants.get(function, []):
            try:
                out.append((label, _quietly(variant, *args, **kwargs)))
            except Exception:  # a variant that cannot run on these inputs explains nothing here
                continue
        return out

    def standin(self, function: str, args: tuple, kwargs: dict) -> Any:
        if function not in self.standins:
            raise LookupError(f"{function} is not a stand-in")
        return self.expected(function, args, kwargs)

    def answer_key(self, name: str) -> dict:
        """For an answer given as a value: digests of the right answer and of each listed wrong
        answer with its label (see answers.py), never the answers themselves."""
        from whiteboard.grading import answers

        right = self.references.ANSWERS[name]
        wrong = getattr(self.references, "WRONG_ANSWERS", {}).get(name, [])
        return {"right": answers.key(right), "wrong": [[answers.key(v), label] for v, label in wrong]}

    # -- harness traces -------------------------------------------------------------------------

    def namespace(self, replace: dict[str, Callable] | None = None) -> dict:
        """The references' functions in a fresh dict that is also their globals, so that a harness
        can swap one of them (as it swaps the student's) and the others see the swap."""
        ns: dict = {}
        for name, value in vars(self.references).items():
            if isinstance(value, types.FunctionType) and value.__module__ == self.references.__name__:
                value = _rebind(value, ns)
            ns[name] = value
        for name, fn in (replace or {}).items():
            ns[name] = _rebind(fn, ns)
        return ns

    def _harness(self, module: str, harness: str) -> Callable:
        if module == "common":
            from whiteboard.worker import harness as common

            return getattr(common, harness)
        if self.harness_dir is None:
            raise LookupError("no harness folder")
        loaded = load_module(self.harness_dir / f"{module}.py", f"whiteboard_harnesses.{module}")
        return getattr(loaded, harness)

    def trace(self, module: str, harness: str, params: dict, function: str) -> Any:
        return self._run(module, harness, params, None)

    def variant_traces(self, module: str, harness: str, params: dict, function: str) -> list[tuple[str, Any]]:
        out = []
        for label, variant in self.pitfalls.variants.get(function, []):
            try:
                out.append((label, self._run(module, harness, params, {function: variant})))
            except Exception:
                continue
        return out

    def _run(self, module: str, harness: str, params: dict, replace: dict | None) -> Any:
        import random

        import torch

        run = self._harness(module, harness)
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        # through the codec both ways, so the reference sees and returns exactly what a worker would
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codec.round_trip(run(self.namespace(replace), **codec.round_trip(params)))


def _rebind(fn: types.FunctionType, globals_: dict) -> types.FunctionType:
    new = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    return new


# ---- recording and replaying --------------------------------------------------------------------

def _key(kind: str, name: str, inputs: Any) -> str:
    return codec.fingerprint([kind, name, inputs])


class RecordingOracle:
    """A LiveOracle that keeps every answer it gives, as frozen data for a student kit.

    It records eagerly: asked for an expected value it also records every variant's result on the
    same inputs, and asked for a trace every variant's trace, because a check asks for those only
    when the student's answer is wrong, which the solution's never is.
    """

    def __init__(self, live: LiveOracle):
        self.live = live
        self.standins = live.standins
        self.entries: dict[str, dict] = {}
        self._put("standins", "", [], list(live.standins))

    def _put(self, kind: str, name: str, inputs: Any, value: Any) -> Any:
        self.entries.setdefault(_key(kind, name, inputs), {"kind": kind, "name": name,
                                                           "inputs": inputs, "value": value})
        return value

    def signature(self, function: str) -> tuple[str, ...]:
        return self._put("signature", function, [], self.live.signature(function))

    def expected(self, function, args, kwargs):
        self.variants(function, args, kwargs)
        return self._put("expected", function, [list(args), kwargs],
                         self.live.expected(function, args, kwargs))

    def variants(self, function, args, kwargs):
        return self._put("variants", function, [list(args), kwargs],
                         self.live.variants(function, args, kwargs))

    def standin(self, function, args, kwargs):
        params = self._put("parameters", function, [], self.live.parameters(function))
        return self._put("standin", function, canonical_call(params, args, kwargs),
                         self.live.standin(function, args, kwargs))

    def answer_key(self, name):
        return self._put("answer_key", name, [], self.live.answer_key(name))

    def trace(self, module, harness, params, function):
        self.variant_traces(module, harness, params, function)
        return self._put("trace", f"{module}.{harness}", [params],
                         self.live.trace(module, harness, params, function))

    def variant_traces(self, module, harness, params, function):
        return self._put("variant_traces", f"{module}.{harness}/{function}", [params],
                         self.live.variant_traces(module, harness, params, function))

    def dump(self, stem: Path) -> None:
        """Write the answers as `<stem>.json` + `<stem>.npz` (see codec.dump), adding to what an
        earlier recording there holds."""
        entries = dict(codec.load(stem)["entries"]) if Path(stem).with_suffix(".json").exists() else {}
        entries.update(self.entries)
        codec.dump({"version": 1, "entries": sorted(entries.items())}, stem)


class FrozenOracle:
    """Answers from a student kit's frozen data; NotFrozen for anything else."""

    def __init__(self, stem: Path):
        data = codec.load(stem)
        self.entries: dict[str, dict] = dict(data["entries"])
        self.by_name: dict[tuple[str, str], list[dict]] = {}
        for entry in self.entries.values():
            self.by_name.setdefault((entry["kind"], entry["name"]), []).append(entry)
        self.standins = tuple(next((e["value"] for e in self.entries.values() if e["kind"] == "standins"), ()))

    def _get(self, kind: str, name: str, inputs: Any) -> Any:
        entry = self.entries.get(_key(kind, name, inputs))
        if entry is None:
            # The inputs were made on another machine: floats may differ in the last bits.
            entry = next((e for e in self.by_name.get((kind, name), []) if _close(e["inputs"], inputs)), None)
        if entry is None:
            raise NotFrozen(f"{kind} of {name} on these inputs is not in the kit's data")
        return copy.deepcopy(entry["value"])

    def signature(self, function):
        try:
            return self._get("signature", function, [])
        except NotFrozen:
            return ()

    def expected(self, function, args, kwargs):
        return self._get("expected", function, [list(args), kwargs])

    def variants(self, function, args, kwargs):
        try:
            return self._get("variants", function, [list(args), kwargs])
        except NotFrozen:
            return []

    def standin(self, function, args, kwargs):
        try:
            params = self._get("parameters", function, [])
        except NotFrozen:
            params = []
        return self._get("standin", function, canonical_call(params, args, kwargs))

    def answer_key(self, name):
        return self._get("answer_key", name, [])

    def trace(self, module, harness, params, function):
        return self._get("trace", f"{module}.{harness}", [params])

    def variant_traces(self, module, harness, params, function):
        try:
            return self._get("variant_traces", f"{module}.{harness}/{function}", [params])
        except NotFrozen:
            return []


def canonical_call(params: list[list], args: tuple | list, kwargs: dict) -> list:
    """A call's inputs in one form however it was written: every argument by name, in the
    signature's order, defaults filled in (`params` from `parameters()`); as given if it cannot
    be bound (no signature, or arguments the signature does not have)."""
    names = [p[0] for p in params]
    if not params or len(args) > len(names) or any(k not in names for k in kwargs):
        return [list(args), dict(kwargs)]
    bound = dict(zip(names, args))
    if any(k in bound for k in kwargs):
        return [list(args), dict(kwargs)]
    bound.update(kwargs)
    for p in params:
        if p[0] not in bound and len(p) == 2:
            bound[p[0]] = p[1]
    return [[], {n: bound[n] for n in names if n in bound}]


def _close(a: Any, b: Any) -> bool:
    """Equal plain data, floats to within a few units in the last place."""
    from whiteboard.grading.compare import mismatch

    try:
        return mismatch(b, a, rtol=1e-9, atol=1e-12, strict_type=True, equal_nan=True) is None
    except TypeError:
        return False


class ComparingOracle:
    """Answers like `live` and asks `frozen` the same question, noting where the two differ.

    The kit's tests grade with it: a student kit runs the same check code as the instructor, so
    where the frozen data gives every answer the references give, the kit's verdicts are the
    instructor's. `differences` lists each question the frozen data got wrong or could not answer.

    A stand-in call the kit has no answer for is not a difference but a `fallback`: there the kit
    lets the student's own function answer (see worker.process._reference_proxy), which gives the
    reference's answer whenever that function is right, as it is in a mutant with its one mistake
    elsewhere.
    """

    def __init__(self, live: LiveOracle, frozen: FrozenOracle):
        self.live, self.frozen = live, frozen
        self.standins = live.standins
        self.differences: list[str] = []
        self.fallbacks: list[str] = []
        if tuple(frozen.standins) != tuple(live.standins):
            self.differences.append(f"stand-ins {frozen.standins} in the kit, {live.standins} here")

    def _both(self, what: str, ask: Callable[[Any], Any]) -> Any:
        from whiteboard.grading.compare import mismatch

        answer = ask(self.live)
        try:
            kept = ask(self.frozen)
        except NotFrozen:
            self.differences.append(f"{what}: not in the kit's data")
            return answer
        try:
            problem = mismatch(kept, answer, equal_nan=True)
        except TypeError as exc:
            problem = ("wrong-type", str(exc))
        if problem:
            self.differences.append(f"{what}: the kit's answer differs ({problem[1]})")
        return answer

    def signature(self, function):
        return self._both(f"signature of {function}", lambda o: o.signature(function))

    def expected(self, function, args, kwargs):
        return self._both(f"expected {function}", lambda o: o.expected(function, args, kwargs))

    def variants(self, function, args, kwargs):
        return self._both(f"variants of {function}", lambda o: o.variants(function, args, kwargs))

    def standin(self, function, args, kwargs):
        try:
            self.frozen.standin(function, args, kwargs)
        except NotFrozen:
            self.fallbacks.append(f"stand-in {function}")
            return self.live.standin(function, args, kwargs)
        return self._both(f"stand-in {function}", lambda o: o.standin(function, args, kwargs))

    def answer_key(self, name):
        return self._both(f"answer key of {name}", lambda o: o.answer_key(name))

    def trace(self, module, harness, params, function):
        return self._both(f"trace {harness}", lambda o: o.trace(module, harness, params, function))

    def variant_traces(self, module, harness, params, function):
        return self._both(f"variant traces {harness}/{function}",
                          lambda o: o.variant_traces(module, harness, params, function))
