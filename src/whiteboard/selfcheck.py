"""Self-check from inside a notebook: run one function's checks on the live definitions.

The visible cell after each exercise calls `check("softmax")`. It runs the same pytest checks as
the grader, but against the functions defined in this very kernel (so there is nothing to save
first), and prints what passed and, for what failed, the mistake and its fix. Grading proper always
happens in an isolated worker (`whiteboard grade`, `pytest autograder/`); this is for feedback.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from whiteboard import codec
from whiteboard.submission import CallResult, error_from_reply

# Set while a self-check runs; the plugin's `nb` fixture then grades this namespace in-process.
LIVE: dict[str, Any] = {}


class InProcessNotebook:
    """The `Notebook` interface over a live namespace (the kernel's globals), without isolation."""

    def __init__(self, namespace: dict, assignment: str, references):
        self.namespace = namespace
        self.assignment = assignment
        self.references = references
        self.errors: list[str] = []
        self.problem = None

    def call(self, function, *args, standins=(), forbidden=(), timeout=None, **kwargs):
        out = self.run("common", "call", dict(function=function, args=list(args), kwargs=kwargs),
                       standins=standins, forbidden=forbidden)
        v = out.value
        return v["value"], v["args_after"], v["kwargs_after"], out.forbidden_used

    def run(self, module, harness, params, *, standins=(), forbidden=(), timeout=None, seed=0):
        from whiteboard.worker import run_call

        msg = {"harness_module": module, "harness": harness, "params": codec.round_trip(params),
               "standins": list(standins), "forbidden": list(forbidden), "seed": seed}
        reply = run_call(self.namespace, msg, lambda name: _plain_data_wrapper(self.references(name)),
                         only_loaded=True)
        if reply["event"] == "error":
            raise error_from_reply(reply)
        # Round-trip through the codec so values look exactly as they do from a worker.
        return CallResult(codec.round_trip(reply["value"]), reply["forbidden_used"])

    def close(self):
        pass


def _plain_data_wrapper(ref):
    def standin(*args, **kwargs):
        return codec.round_trip(ref(*codec.round_trip(list(args)), **codec.round_trip(kwargs)))
    return standin


def check(function: str, assignment: str | None = None, namespace: dict | None = None) -> None:
    """Run the checks of `function` against its live definition and print the outcome."""
    if os.environ.get("WHITEBOARD_WORKER") or os.environ.get("NBGRADER_EXECUTION"):
        return  # grading runs these checks itself, in isolation
    from whiteboard.grade import find_autograder, grade

    namespace = namespace if namespace is not None else inspect.stack()[1].frame.f_globals
    try:
        autograder = find_autograder()
    except FileNotFoundError as exc:
        print(f"Self-check unavailable: {exc}")
        return
    if assignment is None:
        assignment = namespace.get("ASSIGNMENT") or _guess_assignment(autograder, function)
    LIVE.update(namespace=namespace, function=function)
    try:
        results = grade(Path.cwd(), [assignment], autograder=autograder, function=function)
    finally:
        LIVE.clear()
    _print(results["assignments"].get(assignment), function)


def _guess_assignment(autograder: Path, function: str) -> str:
    for test in sorted(autograder.glob("test_q*.py")):
        if f'grades("{function}")' in test.read_text():
            return test.stem[len("test_"):]
    raise LookupError(f"no assignment has checks for {function}")


def _print(result: dict | None, function: str) -> None:
    checks = [c for c in (result or {}).get("checks", []) if c["function"] == function]
    if not checks:
        print(f"No checks ran for {function}.")
        return
    got = sum(c["points"] for c in checks)
    total = sum(c["max_points"] for c in checks)
    verdict = "all checks pass" if got == total else "some checks fail"
    print(f"{function}: {got:g} / {total:g} points, {verdict}")
    for c in checks:
        print(f"  {'ok  ' if c['passed'] else 'FAIL'} {c['id']}" + ("" if c["passed"] else f"  [{c['pitfall']}]"))
    for c in checks:
        if not c["passed"]:
            print()
            print("\n".join("  " + ln for ln in c["message"].splitlines()))
