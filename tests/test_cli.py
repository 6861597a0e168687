"""The command line as a new student or instructor meets it: clear messages and statuses for
every mistake in the arguments, --version, help with an example, hand-in commands."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import nbformat
import pytest

from conftest import ROOT, make_submission

A = "q05_cross_entropy"


def wb(*args, cwd=ROOT, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whiteboard", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_version():
    import whiteboard

    run = wb("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"whiteboard {whiteboard.__version__}"


@pytest.mark.parametrize("command", ["grade", "check", "export", "grade-class", "generate", "student-kit",
                                     "new", "export-gradescope"])
def test_every_command_has_a_description_and_an_example(command):
    run = wb(command, "--help")
    assert run.returncode == 0
    assert "example:" in run.stdout and "whiteboard " + command in run.stdout
    top = wb("--help").stdout
    assert command in top


def test_a_misspelled_folder(tmp_path):
    run = wb("grade", str(tmp_path / "submited"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "is not a folder" in run.stderr and "<assignment>/<assignment>.ipynb" in run.stderr


def test_a_folder_without_notebooks_says_what_it_found_and_what_was_expected(tmp_path):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / "notes.txt").write_text("x")
    (home / "homework.ipynb").write_text("{}")
    run = wb("grade", str(home))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "holds no assignment notebook" in run.stderr and "homework.ipynb" in run.stderr
    assert A in run.stderr  # the names it expects
    assert run.stdout == ""  # not 300 lines of not-implemented


def test_an_unknown_assignment_lists_the_known_ones():
    run = wb("grade", "release", "--assignment", "q05_cross_entropi")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "no assignment called q05_cross_entropi" in run.stderr and A in run.stderr


def test_a_partial_submission_grades_what_is_there_and_names_what_is_missing(tmp_path):
    sub = make_submission(tmp_path, A)
    run = wb("grade", str(sub), "--summary")
    assert run.returncode == 0, run.stderr
    assert f"{A}:" in run.stdout and "q11_convolution" not in run.stdout
    asked = wb("grade", str(sub), "--assignment", A, "--assignment", "q11_convolution", "--summary")
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.count("not found in") == 1 and "q11_convolution" in asked.stdout.splitlines()[-1]


def test_an_unreadable_notebook_is_reported_once(tmp_path):
    (tmp_path / A).mkdir()
    (tmp_path / A / f"{A}.ipynb").write_text('{"cells": [')
    out = tmp_path / "r.json"
    run = wb("grade", str(tmp_path), "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["assignments"][A]["score"] == 0
    assert "run the function on the small example" not in run.stdout
    assert "x [crash]" in run.stdout and run.stdout.count("not a readable notebook") == 1


def test_notebooks_downloaded_flat_are_found(tmp_path):
    nb = nbformat.read(str(ROOT / "solutions" / A / f"{A}.ipynb"), as_version=4)
    nbformat.write(nb, str(tmp_path / f"{A}.ipynb"))
    run = wb("check", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert f"{A}: " in run.stdout and "total:" in run.stdout


def test_check_runs_the_public_checks_and_export_packs_the_notebooks(tmp_path):
    sub = make_submission(tmp_path / "mine", A)
    run = wb("check", str(sub))
    assert run.returncode == 0, run.stderr
    out = tmp_path / "submission.zip"
    packed = wb("export", str(sub), "--out", str(out))
    assert packed.returncode == 0, packed.stderr
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == [f"{A}.ipynb"]
        assert json.loads(z.read(f"{A}.ipynb"))["cells"]
    (sub / A / f"{A}.ipynb").write_text("not json")
    broken = wb("export", str(sub), "--out", str(tmp_path / "again.zip"))
    assert broken.returncode == 2 and "not a readable notebook" in broken.stderr
