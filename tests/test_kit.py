"""The kit as a whole: solutions score full marks, stubs score zero, generated files match source/."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ASSIGNMENTS, AUTOGRADER, ROOT, grade_one, make_submission
from whiteboard.course.generate import points_by_function, release, solution_notebook
from whiteboard.grading.grade import grade


@pytest.fixture(scope="module")
def solutions_results():
    return grade(ROOT / "solutions", ASSIGNMENTS, autograder=AUTOGRADER)


@pytest.fixture(scope="module")
def release_results():
    return grade(ROOT / "release", ASSIGNMENTS, autograder=AUTOGRADER)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_get_full_marks(solutions_results, assignment):
    result = solutions_results["assignments"][assignment]
    failed = [f"{c['id']} [{c['pitfall']}]: {c['message']}" for c in result["checks"] if not c["passed"]]
    assert not failed, "\n\n".join(failed)
    assert result["score"] == result["max_score"] > 0
    assert result["errors"] == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stubs_get_zero_with_not_implemented_everywhere(release_results, assignment):
    result = release_results["assignments"][assignment]
    assert result["score"] == 0
    assert {c["pitfall"] for c in result["checks"]} == {"not-implemented"}, \
        {c["id"]: c["pitfall"] for c in result["checks"] if c["pitfall"] != "not-implemented"}
    assert result["errors"] == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_catalogue_function_is_checked(solutions_results, assignment):
    from catalog import catalogue_functions

    checked = {c["function"] for c in solutions_results["assignments"][assignment]["checks"]}
    assert catalogue_functions(assignment) <= checked


def test_results_format(solutions_results):
    assert set(solutions_results) == {"submission", "score", "max_score", "assignments"}
    for a in solutions_results["assignments"].values():
        assert set(a) == {"score", "max_score", "errors", "checks"}
        for c in a["checks"]:
            assert set(c) == {"id", "function", "passed", "points", "max_points", "pitfall", "message"}
            assert c["id"].startswith(c["function"] + "/")
            assert (c["pitfall"] is None) == c["passed"]


def test_same_submission_same_result(tmp_path):
    cells = ["def softmax(z, axis=-1):\n    e = np.exp(z)\n    return e / e.sum(axis=axis, keepdims=True)\n",
             "def cross_entropy(logits, targets):\n    return 1.0\n"]
    sub = make_submission(tmp_path, "q05_cross_entropy", cells)
    first, second = grade_one(sub, "q05_cross_entropy"), grade_one(sub, "q05_cross_entropy")
    assert first == second
    assert 0 < first["score"] < first["max_score"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates(tmp_path, assignment):
    fresh = release(ROOT, assignment, tmp_path)
    made = json.loads((fresh / f"{assignment}.ipynb").read_text())
    committed = json.loads((ROOT / "release" / assignment / f"{assignment}.ipynb").read_text())
    assert made == committed, f"release/{assignment} is stale: run `whiteboard generate`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_or_hidden_test(assignment):
    text = (ROOT / "release" / assignment / f"{assignment}.ipynb").read_text()
    assert not re.search(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|nbgrader_hook", text)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_match_source(assignment):
    expected = solution_notebook(ROOT / "source" / assignment / f"{assignment}.ipynb")
    committed = nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == \
        [(c.cell_type, c.source) for c in expected.cells], f"solutions/{assignment} is stale"
    errors = [o for c in committed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, "the committed solution notebook has errors in its outputs"
    figures = [o for c in committed.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {})]
    assert figures, "the committed solution notebook has no figure"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_defined_once(assignment):
    points = points_by_function(AUTOGRADER / f"test_{assignment}.py")
    nb = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    in_notebook = {c.metadata["nbgrader"]["grade_id"][len("test_"):]: c.metadata["nbgrader"]["points"]
                   for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert in_notebook == points


def test_cli_grades_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, "-m", "whiteboard", "grade", "release", "--assignment",
                          "q05_cross_entropy", "--json", str(out)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "q05_cross_entropy: 0 / " in run.stdout and "not-implemented" in run.stdout
    assert json.loads(out.read_text())["submission"] == "release"


def test_solutions_run_clean_under_nbval():
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "solutions/", "-q",
                          "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:]
