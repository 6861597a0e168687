"""Grading a submission programmatically: the autograder's pytest checks, run in this process."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from whiteboard.grading.course import (available_assignments, find_autograder, notebook_path,
                                       submitted_assignments, unknown_assignments)
from whiteboard.grading.notebook import imported_modules, read_code_cells
from whiteboard.grading.plugin import SESSION, SETTINGS_PLUGIN, Settings
from whiteboard.grading.submission import zygote
from whiteboard.util import run_pytest
from whiteboard.worker import sandbox

__all__ = ["grade", "find_autograder", "available_assignments", "notebook_imports"]


def pytest_args(autograder: Path, files: list[str]) -> list[str]:
    """The options every in-process grading session runs with: the autograder's own pytest.ini
    (never the options of whatever project the autograder sits in), no cache, quiet."""
    ini = autograder / "pytest.ini"
    # unraisableexception runs gc.collect() five times at the end: ~1 s with torch in memory.
    return [*files, *(["-c", str(ini)] if ini.exists() else []), "--rootdir", str(autograder.parent),
            "-p", "no:cacheprovider", "-q", "-p", "no:unraisableexception", "-p", "no:threadexception",
            "-W", "ignore"]


def notebook_imports(submission: Path, assignments: list[str]) -> set[str]:
    """The modules the notebooks of `assignments` under `submission` import (one that cannot be
    read imports nothing)."""
    modules: set[str] = set()
    for a in assignments:
        try:
            modules |= imported_modules(read_code_cells(notebook_path(submission, a)))
        except (OSError, ValueError):
            pass
    return modules


class _Session:
    """A pytest plugin that keeps hold of the session's config and registers the settings."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.config = None

    def pytest_configure(self, config) -> None:
        self.config = config
        config.pluginmanager.register(self.settings, SETTINGS_PLUGIN)


def grade(submission: Path | str, assignments: list[str] | None = None,
          autograder: Path | None = None, quiet: bool = True, function: str | None = None,
          warn: bool = True, public_only: bool = False, record: Path | None = None,
          open_notebook: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Grade the notebooks under `submission` (laid out like release/) and return the results dict.

    By default the assignments graded are those whose notebook is in `submission` (see
    course.notebook_path), or all of them if it has none. `warn`: say on stderr (once per process) which sandbox protections were off.
    `public_only`: skip the hidden runs of the checks; `record`: write every expected value the
    checks ask for into this folder (a student kit's frozen data); `open_notebook`: how to open a
    notebook (see plugin.Settings; the self-check grades a fork of a live kernel this way).
    """
    submission = Path(submission).resolve()
    autograder = Path(autograder or find_autograder()).resolve()
    known = available_assignments(autograder)
    if assignments is None:
        assignments = submitted_assignments(submission, known) or known
    unknown = unknown_assignments(autograder, assignments)
    if unknown:
        raise ValueError(f"no autograder for {', '.join(unknown)} (known: {', '.join(known)})")
    files = [str(autograder / f"test_{a}.py") for a in assignments]
    session = _Session(Settings(open_notebook=open_notebook, record=record, public_only=public_only))
    args = [*pytest_args(autograder, files), "--submission", str(submission)]
    if function:
        args += ["--function", function]
    if open_notebook is None:
        # torch (and what the notebooks import) loads in the zygote while pytest starts here
        preload = tuple(notebook_imports(submission, assignments))
        threading.Thread(target=zygote, args=(preload,), kwargs={"harnesses": str(autograder / "harnesses")},
                         daemon=True).start()
    code, output = run_pytest(args, plugins=[session], quiet=quiet)
    if warn:
        sandbox.warn_once()
    if code not in (0, 1) or session.config is None:
        raise RuntimeError(f"pytest could not run the autograder (exit {code}):\n{output[-3000:]}")
    return session.config.stash[SESSION].results(submission=str(submission))


def grade_many(submissions: dict[str, Path], assignments: list[str], autograder: Path | None = None,
               public_only: bool = False, oracle: Callable[[str, Path], Any] | None = None
               ) -> dict[str, dict[str, Any]]:
    """Grade several submissions in one pytest session: {case: results}. The kit's own tests grade
    every mutant of an assignment this way, paying pytest's start and the zygote once."""
    autograder = Path(autograder or find_autograder()).resolve()
    unknown = unknown_assignments(autograder, assignments)
    if unknown:
        raise ValueError(f"no autograder for {', '.join(unknown)}")
    cases = {str(k): Path(v).resolve() for k, v in submissions.items()}
    session = _Session(Settings(public_only=public_only, submissions=cases, oracle=oracle))
    args = pytest_args(autograder, [str(autograder / f"test_{a}.py") for a in assignments])
    preload = tuple(set().union(*(notebook_imports(d, assignments) for d in list(cases.values())[:3])))
    threading.Thread(target=zygote, args=(preload,), kwargs={"harnesses": str(autograder / "harnesses")},
                     daemon=True).start()
    code, output = run_pytest(args, plugins=[session])
    if code not in (0, 1) or session.config is None:
        raise RuntimeError(f"pytest could not run the autograder (exit {code}):\n{output[-3000:]}")
    return {case: session.config.stash[SESSION].results(submission=str(path), case=case)
            for case, path in cases.items()}
