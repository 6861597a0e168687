"""The vocabulary of the autograder modules: fail with a label, compare with the reference, diagnose.

A check is a pytest test in `autograder/`. It asks the student's notebook (through an `Assignment`)
to call a function, computes the expected value with the reference here in the trusted process,
and on a mismatch runs the registered pitfall variants on the same inputs: the variant that
reproduces the student's answer names the mistake.
"""
from __future__ import annotations

import copy
import warnings
from types import ModuleType
from typing import Any, Callable

import numpy as np

from whiteboard.compare import mismatch, show
from whiteboard.labels import GENERIC
from whiteboard.submission import Notebook, StudentError


class CheckFailed(AssertionError):
    """A failed check: `label` is a catalogue pitfall label, `message` teaches the fix."""

    def __init__(self, label: str, message: str):
        super().__init__(message)
        self.label = label
        self.message = message


class Pitfalls:
    """The labels an assignment can report, their explanations, and the variants that reproduce them."""

    def __init__(self, labels: dict[str, tuple[str, str]]):
        self.labels = {**GENERIC, **labels}
        self.variants: dict[str, list[tuple[str, Callable]]] = {}
        self.detectors: dict[str, list[tuple[str, Callable]]] = {}

    def _registrar(self, table: dict, function: str, label: str) -> Callable[[Callable], Callable]:
        if label not in self.labels:
            raise KeyError(f"unknown label {label!r}: add it to the assignment's LABELS")

        def register(fn: Callable) -> Callable:
            table.setdefault(function, []).append((label, fn))
            return fn
        return register

    def variant(self, function: str, label: str) -> Callable[[Callable], Callable]:
        """Register `fn` as `function` written with the mistake `label`."""
        return self._registrar(self.variants, function, label)

    def detector(self, function: str, label: str) -> Callable[[Callable], Callable]:
        """Register `test(got, *args, **kwargs) -> bool`: a property of a wrong answer that names
        `label` when no variant reproduces it exactly (e.g. "sums to 1 along another axis")."""
        return self._registrar(self.detectors, function, label)

    def explain(self, label: str) -> str:
        why, fix = self.labels.get(label, ("", ""))
        return f"Likely mistake ({label}): {why}\nHow to fix it: {fix}"


def fail(pitfalls: Pitfalls, label: str, what: str) -> CheckFailed:
    """A CheckFailed whose message is `what` followed by the label's explanation."""
    return CheckFailed(label, f"{what.rstrip()}\n{pitfalls.explain(label)}")


def _indented(text: str, by: int) -> str:
    return text.replace("\n", "\n" + " " * by)


def _call_text(function: str, args: tuple, kwargs: dict, names: tuple[str, ...] | None) -> str:
    parts = []
    for i, a in enumerate(args):
        label = names[i] if names and i < len(names) else f"arg{i}"
        parts.append(f"    {label} = {_indented(show(a), 7 + len(label))}")
    parts += [f"    {k} = {_indented(show(v), 7 + len(k))}" for k, v in kwargs.items()]
    shown = ", ".join((names[i] if names and i < len(names) else f"arg{i}") for i in range(len(args)))
    shown = ", ".join(x for x in [shown] + [f"{k}={k}" for k in kwargs] if x)
    return f"{function}({shown}) with\n" + "\n".join(parts)


class Assignment:
    """One assignment of one submission: the student's notebook beside the reference module.

    The reference module defines the reference functions under the catalogue's names, `PITFALLS`
    (a `Pitfalls`), and `STANDINS`: the functions that, when another graded function calls them,
    are answered by the reference so that one mistake is charged once.
    """

    def __init__(self, notebook: Notebook, references: ModuleType):
        self.notebook = notebook
        self.references = references
        self.pitfalls: Pitfalls = references.PITFALLS
        self.standins: tuple[str, ...] = tuple(getattr(references, "STANDINS", ()))
        self.timed_out: set[str] = set()  # functions that already hung: later checks fail at once

    def reference(self, name: str) -> Callable:
        return getattr(self.references, name)

    def fail(self, label: str, what: str) -> CheckFailed:
        return fail(self.pitfalls, label, what)

    # -- calling the student -----------------------------------------------------------------

    def _skip_if_hung(self, function: str) -> None:
        if function in self.timed_out:
            raise self.fail("timeout", f"{function} did not return in time in an earlier check, so "
                            "this check was not run.")

    def _failed_call(self, function: str, err: StudentError) -> CheckFailed:
        if err.kind == "timeout":
            self.timed_out.add(function)
        return self.fail(err.kind, f"{function}: {err.message}")

    def call(self, function: str, *args: Any, timeout: float | None = None, forbidden: tuple = (),
             **kwargs: Any) -> tuple[Any, list, dict, list]:
        """The student's `function(*args, **kwargs)`: (value, args_after, kwargs_after, forbidden_used)."""
        standins = tuple(s for s in self.standins if s != function)
        extra = {} if timeout is None else {"timeout": timeout}
        self._skip_if_hung(function)
        try:
            return self.notebook.call(function, *args, standins=standins, forbidden=forbidden,
                                      **extra, **kwargs)
        except StudentError as err:
            raise self._failed_call(function, err) from None

    def run(self, function: str, harness_module: str, harness: str, params: dict, *,
            timeout: float | None = None, forbidden: tuple = (), seed: int = 0) -> Any:
        """Run a harness of `whiteboard.harnesses` that exercises the student's `function`."""
        standins = tuple(s for s in self.standins if s != function)
        extra = {} if timeout is None else {"timeout": timeout}
        self._skip_if_hung(function)
        try:
            out = self.notebook.run(harness_module, harness, params, standins=standins,
                                    forbidden=forbidden, seed=seed, **extra)
        except StudentError as err:
            raise self._failed_call(function, err) from None
        if out.forbidden_used:
            raise self.fail("forbidden-api", f"{function} used {', '.join(out.forbidden_used)}.")
        return out.value

    # -- the common check ----------------------------------------------------------------------

    def expect(self, function: str, *args: Any, names: tuple[str, ...] | None = None,
               rtol: float | None = None, atol: float | None = None, strict_type: bool = False,
               forbidden: tuple = (), timeout: float | None = None, may_mutate: bool = False,
               output: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        """Check `function(*args, **kwargs)` against the reference; name the pitfall on a mismatch.

        `names` are the argument names shown in messages; `output` picks the part of the result to
        compare (applied to the student's and the reference's results alike).
        Returns the student's value when it matches.
        """
        got, args_after, kwargs_after, used = self.call(function, *args, timeout=timeout,
                                                        forbidden=forbidden, **kwargs)
        called = _call_text(function, args, kwargs, names)
        if not may_mutate:
            changed = mismatch(args_after, list(args), rtol=0, atol=0, equal_nan=True) or \
                mismatch(kwargs_after, kwargs, rtol=0, atol=0, equal_nan=True)
            if changed:
                raise self.fail("mutates-input", f"{called}\nchanged its input in place "
                                f"({changed[1]}).")
        expected = self.reference(function)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        pick = output or (lambda v: v)
        try:
            got_part = pick(got)
        except Exception:
            got_part = got
        problem = mismatch(got_part, pick(expected), rtol=rtol, atol=atol, strict_type=strict_type)
        if problem is None:
            if used:
                raise self.fail("forbidden-api", f"{function} used {', '.join(used)}, which this "
                                "exercise must do without.")
            return got
        label = self.diagnose(function, got_part, args, kwargs, pick, rtol, atol) or problem[0]
        raise self.fail(label, f"{called}\n  expected: {_indented(show(pick(expected)), 12)}\n"
                        f"  got:      {_indented(show(got_part), 12)}\n  ({problem[1]})")

    def diagnose(self, function: str, got: Any, args: tuple, kwargs: dict,
                 pick: Callable[[Any], Any] = lambda v: v, rtol: float | None = None,
                 atol: float | None = None) -> str | None:
        """The label of the first pitfall variant that reproduces `got` (or detector that
        recognises it), or None."""
        for label, variant in self.pitfalls.variants.get(function, []):
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    produced = pick(variant(*copy.deepcopy(args), **copy.deepcopy(kwargs)))
            except Exception:
                continue
            try:
                if mismatch(got, produced, rtol=rtol, atol=atol, equal_nan=True) is None:
                    return label
            except TypeError:
                continue
        for label, test in self.pitfalls.detectors.get(function, []):
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if test(got, *copy.deepcopy(args), **copy.deepcopy(kwargs)):
                        return label
            except Exception:
                continue
        return None
