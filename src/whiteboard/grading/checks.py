"""The vocabulary of the check modules: call the student, compare, diagnose, fail with a label.

A check is a pytest test in `autograder/test_<assignment>.py` that takes the `nb` fixture, a
`Check`. It asks the student's notebook to call a function (`nb.expect`, `nb.call`, `nb.run`),
asks the oracle for what the reference gives on the same inputs, and on a mismatch asks for the
pitfall variants' results: the variant that reproduces the student's answer names the mistake.

Every check runs twice when the instructor grades: once on its public inputs (the ones a student
kit carries the answers for) and once on hidden inputs drawn from the course secret. Inputs come
from `nb.rng(k)` / `nb.seed(k)`, which give the same numbers as `np.random.default_rng(k)` / `k` in
the public run and secret ones in the hidden run, so one check body serves both.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np

from whiteboard.grading.compare import mismatch, show
from whiteboard.grading.labels import Labels
from whiteboard.grading.oracle import NotFrozen
from whiteboard.grading.submission import CallResult, StudentError


class CheckFailed(AssertionError):
    """A failed check: `label` is a catalogue pitfall label, `message` teaches the fix."""

    def __init__(self, label: str, message: str):
        super().__init__(message)
        self.label = label
        self.message = message


class Assignment:
    """One assignment of one submission: its notebook, its oracle and its labels.

    Lives as long as the notebook is graded; every check of it shares the notebook process.
    """

    def __init__(self, name: str, notebook, oracle, labels: Labels, secret: str = "",
                 forbidden: dict | tuple = ()):
        """`forbidden`: the APIs the exercise must do without (dotted names), for every function
        (a tuple) or per function (a dict); the labels module's FORBIDDEN."""
        self.name = name
        self.notebook = notebook
        self.oracle = oracle
        self.labels = labels
        self.secret = secret
        self.forbidden = forbidden
        self.timed_out: set[str] = set()  # functions that already hung: later checks fail at once

    def check(self, check_id: str, hidden: bool = False) -> "Check":
        return Check(self, check_id, hidden)


def _indented(text: str, by: int) -> str:
    return text.replace("\n", "\n" + " " * by)


def _reproduces(got: Any, produced: Any, rtol: float | None, atol: float | None) -> bool:
    try:
        return mismatch(got, produced, rtol=rtol, atol=atol, equal_nan=True) is None
    except Exception:  # noqa: BLE001 - a variant's odd output explains nothing
        return False


def call_text(function: str, args: tuple, kwargs: dict, names: tuple[str, ...] = ()) -> str:
    """`function(a, b) with` and each argument shown small, for a message."""
    def name(i: int) -> str:
        return names[i] if i < len(names) else f"arg{i}"

    parts = [f"    {name(i)} = {_indented(show(a), 7 + len(name(i)))}" for i, a in enumerate(args)]
    parts += [f"    {k} = {_indented(show(v), 7 + len(k))}" for k, v in kwargs.items()]
    shown = ", ".join([name(i) for i in range(len(args))] + [f"{k}={k}" for k in kwargs])
    return f"{function}({shown}) with\n" + "\n".join(parts)


class Check:
    """What a check module sees as `nb`: one check of one assignment, public or hidden."""

    def __init__(self, assignment: Assignment, check_id: str, hidden: bool):
        self.assignment = assignment
        self.check_id = check_id
        self.hidden = hidden

    # -- inputs ----------------------------------------------------------------------------------

    def seed(self, k: int = 0) -> int:
        """`k` in the public run; in the hidden run a number drawn from the course secret."""
        if not self.hidden:
            return int(k)
        digest = hashlib.sha256(f"{self.assignment.secret}\0{self.check_id}\0{k}".encode()).digest()
        return int.from_bytes(digest[:4], "little")

    def rng(self, k: int = 0) -> np.random.Generator:
        """np.random.default_rng(k) in the public run, a secret generator in the hidden one."""
        return np.random.default_rng(self.seed(k))

    # -- failing ---------------------------------------------------------------------------------

    def fail(self, label: str, what: str) -> CheckFailed:
        """A CheckFailed whose message is `what` followed by the label's explanation."""
        return CheckFailed(label, f"{what.rstrip()}\n{self.assignment.labels.explain(label)}")

    # -- calling the student ---------------------------------------------------------------------

    def _standins(self, function: str) -> tuple[str, ...]:
        return tuple(s for s in self.assignment.oracle.standins if s != function)

    def _guard(self, function: str) -> None:
        if function in self.assignment.timed_out:
            raise self.fail("timeout", f"{function} did not return in time in an earlier check, so "
                            "this check was not run.")

    def _failed_call(self, function: str, err: StudentError) -> CheckFailed:
        if err.notebook:  # the notebook itself: say so, not "run the function on the small example"
            return CheckFailed(err.kind, f"The notebook: {err.message}")
        if err.forbidden_used and err.kind != "timeout":
            return self.fail("forbidden-api", f"{function} used {', '.join(err.forbidden_used)}, which "
                             f"this exercise must do without (and then: {err.message}).")
        if err.kind == "timeout":
            self.assignment.timed_out.add(function)
        return self.fail(err.kind, f"{function}: {err.message}")

    def call(self, function: str, *args: Any, timeout: float | None = None, forbidden: tuple = (),
             **kwargs: Any) -> tuple[Any, list, dict, list]:
        """The student's `function(*args, **kwargs)`: (value, args_after, kwargs_after, forbidden_used)."""
        out = self.run(function, "call", dict(function=function, args=list(args), kwargs=kwargs),
                       module="common", timeout=timeout, forbidden=forbidden, raise_forbidden=False)
        return out["value"], out["args_after"], out["kwargs_after"], self._last_forbidden

    def run(self, function: str, harness: str, params: dict, *, module: str | None = None,
            timeout: float | None = None, forbidden: tuple = (), seed: int = 0,
            raise_forbidden: bool = True) -> Any:
        """Run harness `harness` of autograder/harnesses/<module>.py (default: this assignment's)
        on the student's namespace, exercising `function`; return what it returns. `forbidden`
        defaults to what the labels module's FORBIDDEN says of `function`."""
        self._guard(function)
        if not forbidden:
            rule = self.assignment.forbidden
            forbidden = tuple(rule.get(function, ()) if isinstance(rule, dict) else rule)
        try:
            out: CallResult = self.assignment.notebook.run(
                module or self.assignment.name, harness, params, standins=self._standins(function),
                forbidden=forbidden, seed=seed, **({} if timeout is None else {"timeout": timeout}))
        except StudentError as err:
            raise self._failed_call(function, err) from None
        self._last_forbidden = out.forbidden_used
        if raise_forbidden and out.forbidden_used:
            raise self.fail("forbidden-api", f"{function} used {', '.join(out.forbidden_used)}, which "
                            "this exercise must do without.")
        return out.value

    # -- the oracle ------------------------------------------------------------------------------

    def _ask(self, question: Callable[[], Any]) -> Any:
        try:
            return question()
        except NotFrozen:
            import pytest

            pytest.skip("the kit has no expected value for this check's inputs (they depend on your "
                        "earlier answers); your instructor's grade runs it")

    def reference(self, function: str) -> Callable[..., Any]:
        """The reference `function` (through the oracle: call it only on inputs the check fixed)."""
        return lambda *args, **kwargs: self._ask(
            lambda: self.assignment.oracle.expected(function, args, kwargs))

    def trace(self, harness: str, params: dict, function: str, module: str | None = None) -> Any:
        """What harness `harness` returns on the references' namespace: the expected trace."""
        return self._ask(lambda: self.assignment.oracle.trace(module or self.assignment.name, harness,
                                                              params, function))

    def variant_traces(self, harness: str, params: dict, function: str,
                       module: str | None = None) -> list[tuple[str, Any]]:
        """[(label, trace)]: the harness on the references with one pitfall variant of `function`."""
        return self._ask(lambda: self.assignment.oracle.variant_traces(
            module or self.assignment.name, harness, params, function))

    def names(self, function: str) -> tuple[str, ...]:
        """The argument names of `function`, as the catalogue gives them."""
        return tuple(self.assignment.oracle.signature(function))

    # -- the common check ------------------------------------------------------------------------

    def expect(self, function: str, *args: Any, rtol: float | None = None, atol: float | None = None,
               strict_type: bool = False, forbidden: tuple = (), timeout: float | None = None,
               may_mutate: bool = False, output: Callable[[Any], Any] | None = None,
               **kwargs: Any) -> Any:
        """Check `function(*args, **kwargs)` against the reference; name the pitfall on a mismatch.

        `output` picks the part of the result to compare (applied to the student's and the
        reference's results alike). Returns the student's value when it matches.
        """
        got, args_after, kwargs_after, used = self.call(function, *args, timeout=timeout,
                                                        forbidden=forbidden, **kwargs)
        called = call_text(function, args, kwargs, self.names(function))
        if not may_mutate:
            changed = mismatch(args_after, list(args), rtol=0, atol=0, equal_nan=True) or \
                mismatch(kwargs_after, kwargs, rtol=0, atol=0, equal_nan=True)
            if changed:
                raise self.fail("mutates-input", f"{called}\nchanged its input in place ({changed[1]}).")
        expected = self.reference(function)(*args, **kwargs)
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

    def expect_each(self, function: str, calls: list[tuple], *, rtol: float | None = None,
                    atol: float | None = None) -> list[Any]:
        """`expect` on each argument tuple of `calls`, judged together: when a result is wrong,
        the pitfall named is one whose variants reproduce the student's results on every call
        (where one number could come from two mistakes, the other calls tell them apart), else
        the generic label. Returns the student's values when all match."""
        rows = []
        for args in calls:
            got, args_after, _, used = self.call(function, *args)
            called = call_text(function, args, {}, self.names(function))
            changed = mismatch(args_after, list(args), rtol=0, atol=0, equal_nan=True)
            if changed:
                raise self.fail("mutates-input", f"{called}\nchanged its input in place ({changed[1]}).")
            expected = self.reference(function)(*args)
            rows.append((args, called, got, expected, used,
                         mismatch(got, expected, rtol=rtol, atol=atol)))
        wrong = [row for row in rows if row[5]]
        if not wrong:
            used = sorted({name for row in rows for name in row[4]})
            if used:
                raise self.fail("forbidden-api", f"{function} used {', '.join(used)}, which this "
                                "exercise must do without.")
            return [row[2] for row in rows]

        def reproduced(args, got) -> list[str]:
            labels = [label for label, produced in self.assignment.oracle.variants(function, args, {})
                      if _reproduces(got, produced, rtol, atol)]
            detected = self.detect(function, got, *args)
            return labels + ([detected] if detected else [])

        fits = [reproduced(args, got) for args, _, got, *_ in rows]
        first = rows.index(wrong[0])
        label = next((lab for lab in fits[first] if all(lab in f for f in fits)), wrong[0][5][0])
        lines = [f"{called}\n  expected: {_indented(show(expected), 12)}\n"
                 f"  got:      {_indented(show(got), 12)}" for _, called, got, expected, _, bad in rows if bad]
        more = "" if len(wrong) == 1 else f"\n({len(wrong)} of {len(rows)} calls are wrong)"
        raise self.fail(label, "\n".join(lines) + f"\n  ({wrong[0][5][1]}){more}")

    def diagnose(self, function: str, got: Any, args: tuple, kwargs: dict,
                 pick: Callable[[Any], Any] = lambda v: v, rtol: float | None = None,
                 atol: float | None = None) -> str | None:
        """The label of the first pitfall variant that reproduces `got` (or detector that
        recognises it), or None."""
        for label, produced in self.assignment.oracle.variants(function, args, kwargs):
            try:
                if mismatch(got, pick(produced), rtol=rtol, atol=atol, equal_nan=True) is None:
                    return label
            except Exception:
                continue
        return self.detect(function, got, *args, **kwargs)

    def detect(self, function: str, got: Any, *args: Any, **kwargs: Any) -> str | None:
        """The label of the first detector of `function` that recognises `got`, or None."""
        import copy
        import warnings

        for label, test in self.assignment.labels.detectors.get(function, []):
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if test(got, *copy.deepcopy(args), **copy.deepcopy(kwargs)):
                        return label
            except Exception:
                continue
        return None

    # -- answers given as values ------------------------------------------------------------------

    def answer(self, name: str) -> Any:
        """The value the notebook left in its module-level variable `name` (None if it set none)."""
        return self.run(name, "read", {"names": [name]}, module="common")[name]

    def expect_answer(self, name: str, kind: str, options: tuple = (), shown: str | None = None) -> Any:
        """Grade the variable `name` as an answer of `kind`:

            "choice"  one of `options` (strings)        "set"     a set of `options`
            "order"   a list of all `options`           "mapping" a dict of `options`' keys to values
            "count"   an int                            "number"  a number (relative 1e-3)
            "numbers" a list of numbers                 "counts"  a tuple of ints

        None is not-implemented; a value of another type, or outside the listed options, is
        wrong-type (the message lists what is allowed); a listed wrong answer names its
        misconception; any other wrong answer is wrong-value. Returns the value when right.
        """
        from whiteboard.grading import answers

        value = _plain(self.answer(name))
        what = shown or f"`{name}`"
        if value is None:
            raise self.fail("not-implemented", f"{what} is still None: set it to your answer.")
        problem = _answer_type_problem(value, kind, options)
        if problem:
            raise self.fail("wrong-type", f"{what} = {show(value)}: {problem}")
        answer_key = self._ask(lambda: self.assignment.oracle.answer_key(name))
        if answers.matches(value, answer_key["right"]):
            return value
        for wrong_key, label in answer_key["wrong"]:
            if answers.matches(value, wrong_key):
                raise self.fail(label, f"{what} = {show(value)} is not right.")
        raise self.fail("wrong-value", f"{what} = {show(value)} is not right.")

    def match_variant(self, got: Any, candidates: list[tuple[str, Any]],
                      compare: Callable[[Any, Any], bool]) -> str | None:
        """The label of the first (label, value) candidate for which compare(got, value) holds."""
        for label, value in candidates:
            try:
                if compare(got, value):
                    return label
            except Exception:
                continue
        return None


def _plain(value: Any) -> Any:
    """NumPy and torch scalars as Python numbers, 1-D arrays and tensors as lists (a student may
    compute an answer with either)."""
    from whiteboard.grading.compare import as_numpy, is_array

    if isinstance(value, np.generic):
        return value.item()
    if is_array(value):
        array = as_numpy(value)
        return array.item() if array.ndim == 0 else array.tolist() if array.ndim == 1 else value
    return value


def _answer_type_problem(value: Any, kind: str, options: tuple) -> str | None:
    """Why `value` is not an answer of `kind` (None when it is one)."""
    def is_number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    listed = f"one of {', '.join(repr(o) for o in options)}" if options else ""
    if kind == "choice":
        return None if isinstance(value, str) and value in options else f"expected {listed}."
    if kind == "set":
        items = list(value) if isinstance(value, (set, frozenset, list, tuple)) else None
        if items is None or not all(isinstance(v, str) and v in options for v in items):
            return f"expected a set of items, each {listed}."
        return None
    if kind == "order":
        if not isinstance(value, (list, tuple)) or sorted(map(str, value)) != sorted(options):
            return f"expected a list holding each of {', '.join(repr(o) for o in options)} once, in some order."
        return None
    if kind == "mapping":
        keys, values = options
        if (not isinstance(value, dict) or set(value) != set(keys)
                or not all(isinstance(v, str) and v in values for v in value.values())):
            return (f"expected a dict with the keys {', '.join(repr(k) for k in keys)}, each mapped to one of "
                    f"{', '.join(repr(v) for v in values)}.")
        return None
    if kind == "count":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
        return None if ok else "expected a whole number (an int)."
    if kind == "number":
        return None if is_number(value) else "expected a number."
    if kind == "numbers":
        n = len(options) if options else None
        if not isinstance(value, (list, tuple)) or not all(is_number(v) for v in value) or (n and len(value) != n):
            return f"expected a list of {n or 'some'} numbers."
        return None
    if kind == "counts":
        n = len(options) if options else None
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value) \
                or (n and len(value) != n):
            return f"expected a tuple of {n or 'some'} whole numbers."
        return None
    raise ValueError(f"unknown answer kind {kind!r}")
