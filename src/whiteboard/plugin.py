"""The pytest plugin behind `pytest autograder/` and `whiteboard grade`.

- `--submission DIR` picks the notebooks to grade (default: release/ beside autograder/);
- `@pytest.mark.grades("fn")` on a test class says which catalogue function its checks grade, and
  `@pytest.mark.points(n)` what a check is worth (1 by default): points are defined only here;
- the `nb` fixture is the `Assignment` of the test module's ASSIGNMENT and REFERENCES;
- a failed check is reported as its teaching message, not as a traceback of the grader;
- at the end, a score per assignment and function.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from whiteboard import sandbox
from whiteboard.checks import Assignment, CheckFailed
from whiteboard.selfcheck import LIVE, InProcessNotebook
from whiteboard.submission import Notebook

RESULTS_KEY = pytest.StashKey[dict]()
REPORTS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("whiteboard")
    group.addoption("--submission", default=None, metavar="DIR",
                    help="directory laid out like release/ (default: release/ beside autograder/)")
    group.addoption("--function", default=None, metavar="NAME",
                    help="run only the checks of this catalogue function")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    wanted = config.getoption("--function")
    if wanted:
        items[:] = [i for i in items if check_id(i)[0] == wanted]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "grades(function): the catalogue function these checks grade")
    config.addinivalue_line("markers", "points(n): what this check is worth (default 1)")
    config.stash[RESULTS_KEY] = {}
    config.stash[REPORTS_KEY] = []  # graded reports, in the order the checks ran


def pytest_collection_finish(session: pytest.Session) -> None:
    """Pay torch's first-use costs (optimizers import torch._dynamo: ~2 s) now, while the worker
    is still starting, rather than inside the first check that needs them."""
    import sys

    if "torch" in sys.modules:
        from whiteboard.worker import _warm_up

        _warm_up(sys.modules["torch"])


def submission_dir(config: pytest.Config, autograder_dir: Path) -> Path:
    chosen = config.getoption("--submission")
    return Path(chosen).resolve() if chosen else (autograder_dir.parent / "release").resolve()


_open: dict[tuple[str, str], Assignment] = {}


@pytest.fixture(scope="module")
def nb(request: pytest.FixtureRequest) -> Assignment:
    """The student's notebook for this module's ASSIGNMENT, next to its reference module."""
    module = request.module
    name = module.ASSIGNMENT
    root = submission_dir(request.config, Path(module.__file__).parent)
    path = root / name / f"{name}.ipynb"
    key = (str(path), name)
    refs = module.REFERENCES
    standins = set(getattr(refs, "STANDINS", ()))
    reference_of = lambda f: getattr(refs, f) if f in standins else None  # noqa: E731
    if LIVE:  # a self-check from inside the student's kernel
        return Assignment(InProcessNotebook(LIVE["namespace"], name, reference_of), refs)
    if key not in _open:
        _open[key] = Assignment(Notebook(path, name, references=reference_of), refs)
    assignment = _open[key]
    request.config.stash[RESULTS_KEY].setdefault(name, assignment)
    return assignment


def pytest_sessionfinish(session: pytest.Session) -> None:
    for assignment in _open.values():
        assignment.notebook.close()
    _open.clear()


def check_id(item: pytest.Item) -> tuple[str, str, float]:
    """(function, check id, max points) of a check."""
    marker = item.get_closest_marker("grades")
    function = marker.args[0] if marker else item.name
    points = item.get_closest_marker("points")
    name = item.originalname if hasattr(item, "originalname") else item.name
    name = name[len("test_"):] if name.startswith("test_") else name
    return function, f"{function}/{name}", float(points.args[0]) if points else 1.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.excinfo is not None and isinstance(call.excinfo.value, CheckFailed):
        # The message is the whole story. Without frames pytest does not parse the source of each
        # one for its report, which cost 0.15 s a failed check, most of the time to grade a stub.
        call.excinfo.traceback = call.excinfo.traceback[:0]
    outcome = yield
    report = outcome.get_result()
    assignment = getattr(item.module, "ASSIGNMENT", None) if hasattr(item, "module") else None
    if assignment is None or not (call.when == "call" or report.failed):
        return
    function, cid, points = check_id(item)
    report.user_properties.append(("whiteboard", {"assignment": assignment, "function": function,
                                                  "id": cid, "max_points": points}))
    item.config.stash[REPORTS_KEY].append(report)
    if not report.failed or call.excinfo is None:
        return
    exc = call.excinfo.value
    if isinstance(exc, CheckFailed):
        report.longrepr = exc.message
        report.user_properties.append(("pitfall", exc.label))
        report.user_properties.append(("message", exc.message))
    else:
        report.user_properties.append(("pitfall", "crash"))
        report.user_properties.append(("message", "the check itself failed while looking at your "
                                       f"result ({type(exc).__name__}: {exc}); please report this"))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    from whiteboard.results import format_report, results_from_reports

    results = results_from_reports(config)
    if results["assignments"]:
        terminalreporter.write_sep("=", "whiteboard score")
        terminalreporter.write_line(format_report(results, failures=False))
    if sandbox.reported_off:
        terminalreporter.write_line(sandbox.warning_text(sandbox.reported_off))
