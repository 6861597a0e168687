"""`nbgrader autograde` gives the same points as `whiteboard grade`, student by student.

A scratch course is built from source/ and autograder/. Every assignment gets a student who
submitted the solution with a classic mistake added (so the agreement is on a score strictly
between 0 and the maximum); q05 also gets one who submitted the stubs. nbgrader runs once, through
its API, for every assignment (starting nbgrader once per assignment costs seconds each).
"""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ASSIGNMENTS, AUTOGRADER, ROOT
from whiteboard.course.generate import MARKER
from whiteboard.grading.grade import grade_many

# one parallel worker runs all of this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("nbgrader")


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
    subprocess.run([sys.executable, "-c", AUTOGRADE, str(root), *ASSIGNMENTS], cwd=root, check=True,
                   capture_output=True)
    # whiteboard's side in one grading session: one start of pytest and of the worker for all
    whiteboard = grade_many({s: root / "submitted" / s for s in {s for v in students.values() for s in v}},
                            ASSIGNMENTS, autograder=AUTOGRADER)
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
