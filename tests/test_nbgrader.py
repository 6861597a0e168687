"""`nbgrader autograde` gives the same points as `whiteboard grade`, student by student.

A scratch course is built from source/ and autograder/. Every assignment gets a student who
submitted the solution with a classic mistake added (so the agreement is on a score strictly
between 0 and the maximum); q05 also gets one who submitted the stubs. nbgrader runs once, through
its API, for every assignment (starting nbgrader once per assignment costs seconds each): it executes
every notebook, and every hidden cell asks the hook for its function's points.

The hook grades a notebook in its own `whiteboard grade` process (one start of torch each) and keeps
the results in a cache. For the assignments in HOOK_GRADES it does exactly that; for the others the
cache is seeded with whiteboard's results for the same notebook (graded once, in one session, for
the comparison anyway), so each assignment's hidden cells and nbgrader's totals are checked without
paying a second grading of every notebook. The cache lives in the scratch course (TMPDIR), so every
run starts cold.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ASSIGNMENTS, AUTOGRADER, ROOT
from whiteboard.course.generate import MARKER
from whiteboard.course.nbgrader_hook import cached_results_file
from whiteboard.grading.grade import grade_many

# one parallel worker runs all of this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("nbgrader")
# the hook grades these itself (numpy functions; torch modules), the others read seeded results
HOOK_GRADES = ("q05_cross_entropy", "q09_residual")


def submitted_notebook(assignment: str, extra_cell: str | None):
    """The release notebook with its solution cells filled in, as a student would hand it in."""
    release = nbformat.read(str(ROOT / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    source = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: MARKER.sub("", c.source)
               for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers[meta["grade_id"]]
    if extra_cell:
        release.cells.append(nbformat.v4.new_code_cell(extra_cell))
    return release


AUTOGRADE = """
import sys
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

config = Config()
exec(open(sys.argv[1] + "/nbgrader_config.py").read(), {"get_config": lambda: config})
config.CourseDirectory.root = sys.argv[1]
api = NbGraderAPI(config=config)
for name in sys.argv[2:]:
    for step in (api.generate_assignment(name, force=True), api.autograde(name, "*", force=True)):
        if not step["success"]:
            sys.exit(step["log"] + step.get("error", ""))
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "source", root / "source")
    shutil.copytree(AUTOGRADER, root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    students = {}
    for assignment in ASSIGNMENTS:
        mutants = importlib.import_module(f"mutants.{assignment}").MUTANTS
        kinds = (("stub", None), ("mistake", mutants[0][2])) if assignment == "q05_cross_entropy" \
            else (("mistake", mutants[0][2]),)
        for student, cell in kinds:
            folder = root / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nb = (nbformat.read(str(ROOT / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
                  if cell is None else submitted_notebook(assignment, cell))
            nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
            students.setdefault(assignment, []).append(student)
    autograder = root / "autograder"
    submitted = {s: root / "submitted" / s for s in {s for v in students.values() for s in v}}
    # whiteboard's side in one grading session: one start of pytest and of the worker for all. It
    # grades with the kit's own autograder/, whose modules this process may have imported already
    # (the course's copy has the same files, so the same cache keys).
    whiteboard = grade_many(submitted, ASSIGNMENTS, autograder=AUTOGRADER)
    cache = root / "tmp" / "whiteboard-nbgrader"
    cache.mkdir(parents=True)
    seeded = set()
    for assignment, names in students.items():
        for student in names if assignment not in HOOK_GRADES else ():
            key = cached_results_file(submitted[student] / assignment / f"{assignment}.ipynb", autograder).name
            seeded.add(key)
            (cache / key).write_text(json.dumps(whiteboard[student]))
    env = {**os.environ, "TMPDIR": str(root / "tmp")}
    subprocess.run([sys.executable, "-c", AUTOGRADE, str(root), *ASSIGNMENTS], cwd=root, check=True,
                   capture_output=True, env=env)
    graded_by_hook = {f.name for f in cache.iterdir()} - seeded
    # the seeded results were read (not graded again), the others graded by the hook itself
    assert len(graded_by_hook) == sum(len(students[a]) for a in HOOK_GRADES if a in students), graded_by_hook
    return root, students, whiteboard


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_autograde_agrees_with_whiteboard_grade(course, assignment):
    from nbgrader.api import Gradebook

    root, students, whiteboard = course
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students[assignment]:
            nbgrader_score = gb.find_submission(assignment, student).score
            ours = whiteboard[student]["assignments"][assignment]
            # an answered question graded by hand waits for the grader (no automatic score); an
            # unanswered one gets nbgrader's automatic 0 ("No response")
            manual = ours["manual"]
            waiting = [gb.find_grade(m["id"], assignment, assignment, student).auto_score for m in manual]
            assert all(s is None for s in waiting) if student != "stub" else all(s == 0 for s in waiting), waiting
            assert nbgrader_score == pytest.approx(ours["score"]), (student, nbgrader_score, ours["score"])
            if student == "stub":
                assert nbgrader_score == 0
            else:
                assert 0 < nbgrader_score < ours["max_score"]


def test_the_hooks_cache_key_is_what_grading_reads(tmp_path, monkeypatch):
    """nbgrader executes a copy whose test cells and checksums it rewrote: same key. A changed
    answer, a changed check or another course secret: another key (no stale points)."""
    assignment = "q05_cross_entropy"
    course = tmp_path / "course"
    shutil.copytree(AUTOGRADER, course / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    nb = submitted_notebook(assignment, None)
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, str(path))
    key = cached_results_file(path, course / "autograder")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source += "\nscore('x', 'y')"
        if "checksum" in meta:
            meta["checksum"] = "0" * 32
    nbformat.write(nb, str(path))
    assert cached_results_file(path, course / "autograder") == key
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    answer.source += "\nx = 1"
    nbformat.write(nb, str(path))
    changed = cached_results_file(path, course / "autograder")
    assert changed != key
    (course / "autograder" / f"test_{assignment}.py").write_text(
        (course / "autograder" / f"test_{assignment}.py").read_text() + "\n# edited\n")
    assert cached_results_file(path, course / "autograder") != changed
    edited = cached_results_file(path, course / "autograder")
    monkeypatch.setenv("WHITEBOARD_SECRET", "another course")
    assert cached_results_file(path, course / "autograder") != edited
