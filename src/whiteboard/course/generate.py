"""Regenerate release/ and solutions/ from source/ (`whiteboard generate`).

- Points live in the autograder (`@pytest.mark.points`); they are first copied into the hidden
  test cells of source/, so nbgrader's gradebook and `whiteboard grade` always agree.
- release/ is exactly what `nbgrader generate_assignment` makes from source/ (run in a scratch
  copy of the course, so no gradebook.db is left behind).
- solutions/ is source/ without the hidden tests and the solution markers, executed, figures included.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def points_by_function(test_module: Path) -> dict[str, float]:
    """Sum of `@pytest.mark.points` per `@pytest.mark.grades` function in an autograder module."""
    spec = importlib.util.spec_from_file_location(f"_points_{test_module.stem}", test_module)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(test_module.parent.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    totals: dict[str, float] = {}
    for obj in vars(module).values():
        marks = getattr(obj, "pytestmark", [])
        grades = [m for m in marks if m.name == "grades"]
        if not isinstance(obj, type) or not grades:
            continue
        function = grades[0].args[0]
        for name, member in vars(obj).items():
            if name.startswith("test_") and callable(member):
                pts = [m for m in getattr(member, "pytestmark", []) if m.name == "points"]
                totals[function] = totals.get(function, 0.0) + (float(pts[0].args[0]) if pts else 1.0)
    return totals


def sync_points(course: Path, assignment: str) -> bool:
    """Copy the autograder's points into the source notebook's hidden test cells. True if changed."""
    path = course / "source" / assignment / f"{assignment}.ipynb"
    points = points_by_function(course / "autograder" / f"test_{assignment}.py")
    nb = nbformat.read(str(path), as_version=4)
    changed = False
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if meta.get("grade") and gid.startswith("test_") and gid[5:] in points:
            want = points[gid[5:]]
            want = int(want) if float(want).is_integer() else want
            if meta.get("points") != want:
                meta["points"] = want
                changed = True
    if changed:
        nbformat.write(nb, str(path))
    return changed


_NBGRADER_SCRIPT = """
import sys
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config
config = Config()
config.CourseDirectory.root = sys.argv[1]
exec(open(sys.argv[1] + "/nbgrader_config.py").read(), {"get_config": lambda: config})
config.CourseDirectory.root = sys.argv[1]
api = NbGraderAPI(config=config)
for name in sys.argv[2:]:
    result = api.generate_assignment(name, force=True)
    if not result["success"]:
        sys.exit(result["log"] + result.get("error", ""))
"""


def release_all(course: Path, assignments: list[str], out_root: Path) -> list[Path]:
    """`nbgrader generate_assignment` for each of `assignments`, all in one Python (nbgrader's own
    generator, through its API), on a scratch copy of the course; copy the results to
    out_root/<assignment>. Starting nbgrader once instead of once per assignment saves seconds each."""
    with tempfile.TemporaryDirectory(prefix="whiteboard-release-") as tmp:
        scratch = Path(tmp)
        for a in assignments:
            shutil.copytree(course / "source" / a, scratch / "source" / a)
        shutil.copy(course / "nbgrader_config.py", scratch / "nbgrader_config.py")
        subprocess.run([sys.executable, "-c", _NBGRADER_SCRIPT, str(scratch), *assignments],
                       cwd=scratch, check=True, capture_output=True, text=True)
        targets = []
        for a in assignments:
            target = out_root / a
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(scratch / "release" / a, target)
            targets.append(target)
    return targets


def release(course: Path, assignment: str, out_root: Path) -> Path:
    """Run nbgrader's generate_assignment on a scratch copy; copy the result to out_root/assignment."""
    return release_all(course, [assignment], out_root)[0]


def solution_notebook(source: Path):
    """The source notebook as the instructor's reference: no hidden tests, no solution markers."""
    nb = nbformat.read(str(source), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = MARKER.sub("", HIDDEN.sub("", cell.source)).rstrip()
            cell.outputs = []
            cell.execution_count = None
    return nb


def source_digest(course: Path, assignment: str) -> str:
    """What a solutions notebook's outputs depend on: its source notebook's cells, the assignment's
    autograder files and the engine's version. Stored in the executed notebook, so a test can tell
    outputs older than their source."""
    import hashlib

    import whiteboard

    nb = nbformat.read(str(course / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    h = hashlib.sha256(whiteboard.__version__.encode())
    for cell in nb.cells:
        h.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    autograder = course / "autograder"
    for path in sorted([autograder / f"test_{assignment}.py", *autograder.glob(f"*/{assignment}.py")]):
        if path.exists():
            h.update(path.relative_to(autograder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def solutions(course: Path, assignment: str, out_root: Path, execute: bool = True) -> Path:
    nb = solution_notebook(course / "source" / assignment / f"{assignment}.ipynb")
    target = out_root / assignment
    target.mkdir(parents=True, exist_ok=True)
    if execute:
        from nbclient import NotebookClient

        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(target)}}).execute()
        nb.metadata["whiteboard"] = {"executed_from": source_digest(course, assignment)}
    nbformat.write(nb, str(target / f"{assignment}.ipynb"))
    return target


def generate(course: Path, assignments: list[str] | None = None, execute: bool = True) -> None:
    course = course.resolve()
    names = assignments or sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
    for name in names:
        if sync_points(course, name):
            print(f"{name}: points copied from autograder/test_{name}.py into source/")
    release_all(course, names, course / "release")  # one nbgrader for all: it starts in seconds
    print(f"release/: {', '.join(names)}")
    for name in names:
        solutions(course, name, course / "solutions", execute=execute)
        print(f"{name}: solutions/{name}/{name}.ipynb" + (" (executed)" if execute else ""))
