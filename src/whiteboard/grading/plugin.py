"""The pytest plugin behind `pytest autograder/`, `whiteboard grade` and the self-check.

`autograder/conftest.py` loads it (`pytest_plugins = ["whiteboard.grading.plugin"]`). It gives:

- `--submission DIR`: the notebooks to grade (default: release/ beside autograder/);
- `--function NAME`: only that function's checks; `--public-only`: skip the hidden runs;
- `@pytest.mark.grades("fn")` on a test class says which function its checks grade, and
  `@pytest.mark.points(n)` what a check is worth (1 by default): points are defined only there;
- the `nb` fixture: the `Check` of the running test, for the assignment named by the module
  (`test_q05_cross_entropy.py` grades `q05_cross_entropy`);
- every check twice: on its public inputs and on hidden ones drawn from the course secret (only
  where the references are present: a student kit has the public runs alone);
- a failed check reported as its teaching message, and a score per assignment at the end.

The grading session's state lives in `config.stash` (see `GradingSession`); a caller that grades
in-process (`whiteboard.grading.grade`) can register a `Settings` object as the plugin
"whiteboard-settings" to say how notebooks are opened or where frozen data is recorded.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from whiteboard.grading.checks import Assignment, CheckFailed
from whiteboard.grading.course import course_secret, notebook_path
from whiteboard.grading.notebook import read_manual_cells
from whiteboard.grading.oracle import FrozenOracle, LiveOracle, RecordingOracle
from whiteboard.grading.results import format_report, results_from_reports
from whiteboard.grading.submission import Notebook
from whiteboard.worker import sandbox

SETTINGS_PLUGIN = "whiteboard-settings"


@dataclass(eq=False)  # a plugin object: hashed by identity
class Settings:
    """How an in-process caller wants the session run (all optional).

    `open_notebook(assignment, path, references, harnesses)` returns the object checks call (by
    default a `Notebook`, an isolated worker); `record`: a folder to write every oracle answer to,
    as a student kit's frozen data (public runs only); `public_only`: no hidden runs;
    `submissions`: {case: folder}, to grade many submissions in one session (each check runs once
    per case, the cases one after the other); `oracle(assignment, autograder)`: where expected
    values come from, instead of the references or frozen data found in the autograder.
    """

    open_notebook: Callable[..., Any] | None = None
    record: Path | None = None
    public_only: bool = False
    submissions: dict[str, Path] | None = None
    oracle: Callable[[str, Path], Any] | None = None


@dataclass
class GradingSession:
    """One pytest session's assignments (each opened once per submission) and graded reports."""

    config: pytest.Config
    assignments: dict[tuple[str, str], Assignment] = field(default_factory=dict)
    oracles: dict[str, Any] = field(default_factory=dict)
    reports: list = field(default_factory=list)  # graded reports, in the order the checks ran

    @property
    def settings(self) -> Settings:
        return self.config.pluginmanager.get_plugin(SETTINGS_PLUGIN) or Settings()

    def assignment(self, module, case: str = "") -> Assignment:
        name = assignment_of(module)
        if (case, name) not in self.assignments:
            for (other, _), opened in self.assignments.items():
                if other != case:  # cases run one after the other: free the last one's worker
                    opened.notebook.close()
            self.assignments[(case, name)] = self._open(name, Path(module.__file__).parent, case)
        return self.assignments[(case, name)]

    def _open(self, name: str, autograder: Path, case: str) -> Assignment:
        labels_module = importlib.import_module(f"autograder.labels.{name}")
        labels = labels_module.LABELS
        if name not in self.oracles:
            make = self.settings.oracle
            self.oracles[name] = make(name, autograder) if make else open_oracle(name, autograder,
                                                                                  self.settings.record)
        oracle = self.oracles[name]
        root = Path(self.settings.submissions[case]) if case else submission_dir(self.config, autograder)
        path = notebook_path(root, name)

        def answer_standin(function: str):
            if function not in oracle.standins:
                return None
            return lambda *args, **kwargs: oracle.standin(function, args, kwargs)

        opener = self.settings.open_notebook
        harnesses = autograder / "harnesses"
        notebook = (opener(name, path, answer_standin, harnesses) if opener else
                    Notebook(path, name, references=answer_standin, harnesses=harnesses))
        return Assignment(name, notebook, oracle, labels, secret=course_secret(autograder.parent),
                          forbidden=getattr(labels_module, "FORBIDDEN", ()))

    def close(self) -> None:
        for assignment in self.assignments.values():
            assignment.notebook.close()
        for name, oracle in self.oracles.items():
            if isinstance(oracle, RecordingOracle) and self.settings.record:
                oracle.dump(Path(self.settings.record) / name)

    def results(self, submission: str | None = None, case: str = "") -> dict[str, Any]:
        extra = {}
        for (c, name), a in self.assignments.items():
            if c == case:
                path = getattr(a.notebook, "path", None)
                extra[name] = {"errors": list(a.notebook.errors),
                               "manual": read_manual_cells(path) if path is not None else []}
        reports = [r for r in self.reports if dict(r.user_properties)["whiteboard"].get("case", "") == case]
        return results_from_reports(reports, extra, submission if submission is not None else
                                    str(self.config.getoption("--submission") or "release"))


SESSION = pytest.StashKey[GradingSession]()


def assignment_of(module) -> str:
    """The assignment a check module grades: its ASSIGNMENT, else its name without `test_`."""
    name = getattr(module, "ASSIGNMENT", None) or module.__name__.rsplit(".", 1)[-1]
    return name[len("test_"):] if name.startswith("test_") else name


def open_oracle(name: str, autograder: Path, record: Path | None = None):
    """The references if they are here (the instructor's autograder), else the kit's frozen data."""
    if (autograder / "references" / f"{name}.py").exists():
        live = LiveOracle(importlib.import_module(f"autograder.references.{name}"), autograder / "harnesses")
        if "torch" in sys.modules:  # references of small tensors: one thread is ~100x faster
            sys.modules["torch"].set_num_threads(1)
        return RecordingOracle(live) if record else live
    frozen = autograder / "frozen" / name
    if frozen.with_suffix(".json").exists():
        return FrozenOracle(frozen)
    raise FileNotFoundError(f"{autograder} has neither references/{name}.py nor frozen/{name}.json")


def has_references(autograder: Path, name: str) -> bool:
    return (autograder / "references" / f"{name}.py").exists()


def submission_dir(config: pytest.Config, autograder_dir: Path) -> Path:
    """--submission, else release/ beside autograder/ (the course), else the folder holding
    autograder/ (a student kit keeps its notebooks there)."""
    chosen = config.getoption("--submission")
    if chosen:
        return Path(chosen).resolve()
    release = autograder_dir.parent / "release"
    return (release if release.is_dir() else autograder_dir.parent).resolve()


# ---- hooks ------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("whiteboard")
    group.addoption("--submission", default=None, metavar="DIR",
                    help="directory laid out like release/ (default: release/ beside autograder/)")
    group.addoption("--function", default=None, metavar="NAME",
                    help="run only the checks of this function")
    group.addoption("--public-only", action="store_true",
                    help="run only the public version of each check (a student kit has no other)")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Grade in this one process. `pytest autograder/ --submission DIR` at a course's root can pick
    up the course's own pyproject.toml (pytest takes DIR for a path, and the common folder of the
    two is the root), whose `-n auto` would scatter the checks over pytest-xdist workers: no
    worker would see the whole notebook, and nobody would print the score."""
    if getattr(config.option, "numprocesses", None):
        config.option.numprocesses = None
    if getattr(config.option, "dist", "no") != "no":
        config.option.dist = "no"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "grades(function): the function these checks grade")
    config.addinivalue_line("markers", "points(n): what this check is worth (default 1)")
    config.addinivalue_line("markers", "public_only: this check has no hidden run")
    config.stash[SESSION] = GradingSession(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each check runs on public inputs and, where the references are here, on hidden ones."""
    if "visibility" not in metafunc.fixturenames:
        return
    settings = metafunc.config.pluginmanager.get_plugin(SETTINGS_PLUGIN) or Settings()
    runs = ["public"]
    if (has_references(Path(metafunc.module.__file__).parent, assignment_of(metafunc.module))
            and not (metafunc.config.getoption("--public-only") or settings.public_only
                     or settings.record or metafunc.definition.get_closest_marker("public_only"))):
        runs.append("hidden")
    metafunc.parametrize("visibility", runs, indirect=True, ids=runs)
    if settings.submissions:
        cases = list(settings.submissions)
        metafunc.parametrize("wb_case", cases, indirect=True, ids=cases)


@pytest.fixture
def visibility(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "public")


@pytest.fixture
def wb_case(request: pytest.FixtureRequest) -> str:
    """Which of several submissions graded in one session this check runs on ("" for the one)."""
    return getattr(request, "param", "")


@pytest.fixture
def nb(request: pytest.FixtureRequest, visibility: str, wb_case: str):
    """The running check: the student's notebook for this module's assignment, and its oracle."""
    assignment = request.config.stash[SESSION].assignment(request.module, wb_case)
    _, check_id, _ = check_id_of(request.node)
    return assignment.check(check_id, hidden=visibility == "hidden")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    wanted = config.getoption("--function")
    if wanted:
        items[:] = [i for i in items if check_id_of(i)[0] == wanted]
    settings = config.pluginmanager.get_plugin(SETTINGS_PLUGIN)
    if settings is not None and settings.submissions:  # one case after the other
        order = {case: i for i, case in enumerate(settings.submissions)}
        items.sort(key=lambda i: order.get(_param(i, "wb_case"), 0))


def _param(item: pytest.Item, name: str, default=None):
    return getattr(getattr(item, "callspec", None), "params", {}).get(name, default)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Pay torch's first-use costs (optimizers import torch._dynamo: ~2 s) now, while the worker
    is still starting, rather than inside the first check that needs them."""
    import sys

    if "torch" in sys.modules:
        from whiteboard.worker.process import _warm_up

        # The references and harnesses run small tensors: one thread is ~100x faster than two
        # fighting over them (and the worker, forked with one thread, would wait for both).
        sys.modules["torch"].set_num_threads(1)
        settings = session.config.pluginmanager.get_plugin(SETTINGS_PLUGIN)
        if settings is None or settings.open_notebook is None:  # a self-check has no worker to wait for
            _warm_up(sys.modules["torch"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[SESSION].close()


def check_id_of(item: pytest.Item) -> tuple[str, str, float]:
    """(function, check id, max points) of a check."""
    marker = item.get_closest_marker("grades")
    function = marker.args[0] if marker else item.name
    points = item.get_closest_marker("points")
    name = getattr(item, "originalname", None) or item.name
    name = name[len("test_"):] if name.startswith("test_") else name
    return function, f"{function}/{name}", float(points.args[0]) if points else 1.0


def _description(item: pytest.Item) -> str:
    """The check's one-line description: the first line of its docstring."""
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.excinfo is not None and isinstance(call.excinfo.value, CheckFailed):
        # The message is the whole story. Without frames pytest does not parse the source of each
        # one for its report, which cost 0.15 s a failed check, most of the time to grade a stub.
        call.excinfo.traceback = call.excinfo.traceback[:0]
    outcome = yield
    report = outcome.get_result()
    module = getattr(item, "module", None)
    if module is None or not module.__name__.rsplit(".", 1)[-1].startswith("test_q"):
        return
    if not (call.when == "call" or report.failed):
        return
    function, cid, points = check_id_of(item)
    report.user_properties.append(("whiteboard", {
        "assignment": assignment_of(module), "function": function, "id": cid, "max_points": points,
        "description": _description(item), "hidden": _param(item, "visibility") == "hidden",
        "case": _param(item, "wb_case", "")}))
    item.config.stash[SESSION].reports.append(report)
    if not report.failed or call.excinfo is None:
        return
    exc = call.excinfo.value
    if isinstance(exc, CheckFailed):
        report.longrepr = exc.message
        report.user_properties += [("pitfall", exc.label), ("message", exc.message)]
    else:
        report.user_properties += [("pitfall", "crash"), ("message", (
            f"the check itself failed while looking at your result ({type(exc).__name__}: {exc}); "
            "please report this to your instructor"))]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    results = config.stash[SESSION].results()
    if results["assignments"]:
        terminalreporter.write_sep("=", "whiteboard score")
        terminalreporter.write_line(format_report(results, failures=False))
    if sandbox.reported_off:
        terminalreporter.write_line(sandbox.warning_text(sandbox.reported_off))
