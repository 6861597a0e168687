"""The kit as a whole: solutions score full marks, stubs score zero, generated files match source/."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ASSIGNMENTS, AUTOGRADER, ROOT, grade_one, labels_of, make_submission
from whiteboard.course.generate import points_by_function, release_all, solution_notebook, source_digest
from whiteboard.grading.grade import grade

# one parallel worker runs all of this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("kit")



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
def test_every_catalogue_function_is_checked_and_asked(solutions_results, assignment):
    functions = set(labels_of(assignment).functions)
    checked = {c["function"] for c in solutions_results["assignments"][assignment]["checks"]}
    assert functions <= checked, sorted(functions - checked)
    nb = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    answer_cells = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
                    if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    assert functions <= answer_cells, f"no answer cell for {sorted(functions - answer_cells)}"


def test_results_format(solutions_results):
    assert set(solutions_results) == {"submission", "score", "max_score", "assignments"}
    for a in solutions_results["assignments"].values():
        assert set(a) == {"score", "max_score", "errors", "checks", "manual_max_score", "manual"}
        for m in a["manual"]:
            assert set(m) == {"id", "max_points", "title"} and m["max_points"] > 0
        for c in a["checks"]:
            assert set(c) == {"id", "function", "description", "passed", "points", "max_points",
                              "pitfall", "message"}
            assert c["description"], f"{c['id']} has no description (the check's docstring)"
            assert c["id"].startswith(c["function"] + "/")
            assert (c["pitfall"] is None) == c["passed"]


def test_same_submission_same_result(tmp_path):
    cells = ["def softmax(z, axis=-1):\n    e = np.exp(z)\n    return e / e.sum(axis=axis, keepdims=True)\n",
             "def cross_entropy(logits, targets):\n    return 1.0\n"]
    sub = make_submission(tmp_path, "q05_cross_entropy", cells)
    first, second = grade_one(sub, "q05_cross_entropy"), grade_one(sub, "q05_cross_entropy")
    assert first == second
    assert 0 < first["score"] < first["max_score"]


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    return release_all(ROOT, ASSIGNMENTS, tmp_path_factory.mktemp("release"))[0].parent


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates(fresh_release, assignment):
    made = json.loads((fresh_release / assignment / f"{assignment}.ipynb").read_text())
    committed = json.loads((ROOT / "release" / assignment / f"{assignment}.ipynb").read_text())
    assert made == committed, f"release/{assignment} is stale: run `whiteboard generate --assignment {assignment}`"


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


FAILING_SELF_CHECK = re.compile(r"some checks fail|\bFAIL\b|Self-check (unavailable|failed)|please report|"
                                r"No checks ran|Traceback")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_solutions_show_fresh_clean_outputs(assignment):
    """The executed solutions notebook: executed from the current source and autograder, every
    self-check passing, no traceback, and the figure drawn."""
    nb = nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    stamp = nb.metadata.get("whiteboard", {}).get("executed_from")
    assert stamp == source_digest(ROOT, assignment), (
        f"solutions/{assignment} was executed from an older source or autograder: run "
        f"`whiteboard generate --assignment {assignment}`")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], "an output is an error"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    bad = FAILING_SELF_CHECK.search(text)
    assert not bad, f"a self-check output says {bad.group(0)!r}:\n{text[max(0, bad.start() - 300):bad.end() + 300]}"
    checked = [c for c in nb.cells if "selfcheck" in c.metadata.get("tags", [])]
    assert all("all checks pass" in "".join(o.get("text", "") for o in c.get("outputs", [])) for c in checked)
    assert [o for o in outputs if "image/png" in o.get("data", {})], "no figure"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_defined_once(assignment):
    points = points_by_function(AUTOGRADER / f"test_{assignment}.py")
    nb = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    hidden = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              and not c.metadata["nbgrader"].get("solution")]
    in_notebook = {c.metadata["nbgrader"]["grade_id"][len("test_"):]: c.metadata["nbgrader"]["points"]
                   for c in hidden}
    assert in_notebook == points
    for cell in hidden:  # each hidden cell reports the points of its own function to nbgrader
        function = cell.metadata["nbgrader"]["grade_id"][len("test_"):]
        assert f'score("{assignment}", "{function}")' in cell.source, cell.source


def test_cli_grades_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, "-m", "whiteboard", "grade", "release", "--assignment",
                          "q05_cross_entropy", "--json", str(out)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "q05_cross_entropy: 0 / " in run.stdout and "not-implemented" in run.stdout
    assert json.loads(out.read_text())["submission"] == "release"


def test_pytest_autograder_at_the_root_grades_in_one_session():
    """`--submission solutions` makes pytest read the root's pyproject.toml (with the kit's own
    `-n auto`); the learner who cloned the repository still gets one session and its score."""
    run = subprocess.run([sys.executable, "-m", "pytest", "autograder/test_q05_cross_entropy.py",
                          "--submission", "solutions"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "q05_cross_entropy: 30 / 30" in run.stdout and "bringing up nodes" not in run.stdout, run.stdout[-3000:]


def test_readme_lists_every_assignment_with_its_points():
    """The README's table of assignments is the one a newcomer reads: it names every assignment
    with the automatic points its checks give and the points of its questions graded by hand."""
    from whiteboard.grading.notebook import read_manual_cells

    readme = (ROOT / "README.md").read_text()
    for assignment in ASSIGNMENTS:
        auto = sum(points_by_function(AUTOGRADER / f"test_{assignment}.py").values())
        manual = sum(m["max_points"] for m in read_manual_cells(ROOT / "source" / assignment / f"{assignment}.ipynb"))
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{assignment}` |")), None)
        assert row is not None, f"README has no row for {assignment}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert (float(cells[-2]), float(cells[-1])) == (auto, manual), (assignment, cells[-2:], auto, manual)
