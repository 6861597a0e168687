"""Grading a submission programmatically: the same pytest checks, run in this process."""
from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from whiteboard import sandbox
from whiteboard.results import results_from_reports
from whiteboard.notebook import imported_modules, read_code_cells
from whiteboard.submission import zygote

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def find_autograder(start: Path | None = None) -> Path:
    """autograder/ in the current directory or above it, else the one beside this package."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "autograder" / "conftest.py").exists():
            return d / "autograder"
    if (PACKAGE_ROOT / "autograder" / "conftest.py").exists():
        return PACKAGE_ROOT / "autograder"
    raise FileNotFoundError("no autograder/ directory found; run from the course directory or "
                            "pass --autograder")


def available_assignments(autograder: Path) -> list[str]:
    return sorted(p.stem[len("test_"):] for p in autograder.glob("test_q*.py"))


def notebook_imports(submission: Path, assignments: list[str]) -> set[str]:
    """The modules the notebooks of `assignments` under `submission` import (one that cannot be
    read imports nothing)."""
    modules: set[str] = set()
    for a in assignments:
        try:
            modules |= imported_modules(read_code_cells(submission / a / f"{a}.ipynb"))
        except (OSError, ValueError):
            pass
    return modules


class _Collector:
    """Keeps hold of the session's config, where the plugin stashes the graded reports."""

    config = None

    def pytest_configure(self, config) -> None:
        self.config = config


def grade(submission: Path | str, assignments: list[str] | None = None,
          autograder: Path | None = None, quiet: bool = True,
          function: str | None = None, warn: bool = True) -> dict[str, Any]:
    """Grade the notebooks under `submission` (laid out like release/) and return the results dict.

    By default the assignments graded are those with a folder in `submission`, or all of them if
    it has none. `warn`: say on stderr (once per process) which sandbox protections were off.
    """
    submission = Path(submission).resolve()
    autograder = autograder or find_autograder()
    known = available_assignments(autograder)
    if assignments is None:
        present = [a for a in known if (submission / a).is_dir()]
        assignments = present or known
    unknown = sorted(set(assignments) - set(known))
    if unknown:
        raise ValueError(f"no autograder for {', '.join(unknown)} (known: {', '.join(known)})")
    files = [str(autograder / f"test_{a}.py") for a in assignments]
    collector = _Collector()
    # unraisableexception runs gc.collect() five times at the end: ~1 s with torch in memory.
    args = [*files, "--submission", str(submission), "-p", "no:cacheprovider", "-q",
            "-p", "no:unraisableexception", "-p", "no:threadexception",
            "--rootdir", str(autograder.parent), "-W", "ignore"]
    if function:
        args += ["--function", function]
    out = io.StringIO()
    from whiteboard.selfcheck import LIVE

    if not LIVE:  # a self-check grades in-process and needs no worker
        # torch (and what the notebooks import) loads in the zygote while pytest starts here
        preload = tuple(notebook_imports(submission, assignments))
        threading.Thread(target=zygote, args=(preload,), daemon=True).start()
    autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # nbval & co. cost seconds and add nothing
    try:
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            code = pytest.main(args, plugins=[collector])
    finally:
        if autoload is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = autoload
    if warn:
        sandbox.warn_once()
    if code not in (0, 1):
        raise RuntimeError(f"pytest could not run the autograder (exit {code}):\n{out.getvalue()[-3000:]}")
    return results_from_reports(collector.config, submission=str(submission))
