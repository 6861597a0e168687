"""`nbgrader autograde` gives the same points as `whiteboard grade`, student by student.

A scratch course is built from source/ and autograder/; each assignment gets a student who
submitted the stubs, and one who submitted the solution with a classic mistake added.
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
from whiteboard.grading.grade import grade


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


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "source", root / "source")
    shutil.copytree(AUTOGRADER, root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    students = {}
    for assignment in ASSIGNMENTS:
        mutants = importlib.import_module(f"mutants.{assignment}").MUTANTS
        for student, cell in (("stub", None), ("mistake", mutants[0][2])):
            folder = root / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nb = (nbformat.read(str(ROOT / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
                  if cell is None else submitted_notebook(assignment, cell))
            nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
            students.setdefault(assignment, []).append(student)
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                        f"--CourseDirectory.root={root}", "--log-level=WARN"], cwd=root, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                        f"--CourseDirectory.root={root}", "--log-level=WARN"], cwd=root, check=True,
                       capture_output=True)
    return root, students


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_autograde_agrees_with_whiteboard_grade(course, assignment):
    from nbgrader.api import Gradebook

    root, students = course
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students[assignment]:
            nbgrader_score = gb.find_submission(assignment, student).score
            ours = grade(root / "submitted" / student, [assignment], autograder=AUTOGRADER)
            assert nbgrader_score == pytest.approx(ours["score"]), (student, nbgrader_score, ours["score"])
            if student == "stub":
                assert nbgrader_score == 0
            else:
                assert 0 < nbgrader_score < ours["max_score"]
