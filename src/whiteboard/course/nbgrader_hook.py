"""What the hidden test cells of the source notebooks call when nbgrader autogrades a submission.

nbgrader runs the notebook in the student's own kernel, where anything may have been patched. So
the hidden cell does not grade in that kernel: it grades the notebook file (nbgrader's working
copy, in the kernel's current directory) with `whiteboard grade` in a separate process, exactly as
`whiteboard grade` would, and returns the function's points. The cell's value is the points, which
nbgrader reads as partial credit; so `nbgrader autograde` and `whiteboard grade` agree.

The whole notebook is graded once; the other hidden cells read the cached results.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def graded_content(notebook: Path) -> bytes:
    """What grading reads of a notebook: the cells it runs and the manually graded cells. nbgrader
    rewrites its own test cells and checksums in the copy it executes; those do not count."""
    from whiteboard.grading.notebook import cells_to_grade, read_code_cells, read_manual_cells

    try:
        cells = cells_to_grade(read_code_cells(Path(notebook)))
    except ValueError:
        return Path(notebook).read_bytes()
    code = [(c.index, c.number, c.source, c.tags, {k: v for k, v in c.nbgrader.items() if k != "checksum"})
            for c in cells]
    return json.dumps([code, read_manual_cells(Path(notebook))], sort_keys=True, default=str).encode()


def cached_results_file(notebook: Path, autograder: Path) -> Path:
    """Where the results of grading `notebook` with `autograder` are kept between hidden cells.

    The key covers the checks, the engine and the course secret too: an instructor who edits the
    autograder, upgrades the kit or changes the secret must not get stale points."""
    import whiteboard
    from whiteboard.grading.course import course_secret

    digest = hashlib.sha256(graded_content(notebook))
    digest.update(course_secret(Path(autograder).parent).encode())
    engine = Path(whiteboard.__file__).parent
    for root in (Path(autograder), engine):
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return Path(tempfile.gettempdir()) / "whiteboard-nbgrader" / f"{digest.hexdigest()[:32]}.json"


def _results(notebook: Path, assignment: str) -> dict:
    from whiteboard.grading.course import find_autograder

    autograder = find_autograder(notebook.parent)
    cached = cached_results_file(notebook, autograder)
    if cached.exists():
        return json.loads(cached.read_text())
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="whiteboard-nbgrader-") as tmp:
        folder = Path(tmp) / assignment
        folder.mkdir()
        shutil.copy(notebook, folder / f"{assignment}.ipynb")
        out = Path(tmp) / "results.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER_")}
        subprocess.run([sys.executable, "-m", "whiteboard", "grade", tmp, "--assignment", assignment,
                        "--autograder", str(autograder), "--json", str(out), "--quiet"],
                       env=env, capture_output=True, check=True, timeout=3600)
        from whiteboard.util import write_atomic

        write_atomic(cached, out.read_bytes())
        return json.loads(out.read_text())


def score(assignment: str, function: str) -> float:
    """Grade `function` of the notebook in the current directory; print what failed; return points."""
    notebook = Path.cwd() / f"{assignment}.ipynb"
    if not notebook.exists():
        candidates = sorted(Path.cwd().glob("*.ipynb"))
        if len(candidates) != 1:
            print(f"Cannot find {assignment}.ipynb in {Path.cwd()}")
            return 0.0
        notebook = candidates[0]
    result = _results(notebook, assignment)["assignments"].get(assignment, {})
    checks = [c for c in result.get("checks", []) if c["function"] == function]
    for c in checks:
        if not c["passed"]:
            print(f"{c['id']} [{c['pitfall']}]")
            print("\n".join("    " + line for line in c["message"].splitlines()))
    return float(sum(c["points"] for c in checks))
