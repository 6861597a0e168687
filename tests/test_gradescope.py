"""The Gradescope bundle: exported, unpacked into an emulated /autograder tree, run as Gradescope
runs it (run_autograder, working directory /autograder), and its results.json checked.

setup.sh is only syntax-checked (`bash -n`): this environment already has the kit's dependencies,
and installing torch is not something a test should do.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from whiteboard.course.gradescope import VISIBILITIES, export, find_notebooks
from whiteboard.grading.grade import grade

from conftest import AUTOGRADER, ROOT
from whiteboard.course.generate import points_by_function

# one parallel worker runs all of this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("gradescope")


# every assignment's automatic points, read from its checks
MAX = {p.stem[len("test_"):]: sum(points_by_function(p).values()) for p in sorted(AUTOGRADER.glob("test_q*.py"))}

HANG_LIMIT_S = 20  # per-assignment wall time in these tests; q05 and q11 each grade in ~8 s
TEST_FIELDS = {"name", "score", "max_score", "output", "visibility", "status"}


def _unzip_like_gradescope(bundle: Path, dest: Path) -> None:
    """Extract keeping the Unix permissions stored in the zip (zipfile drops them)."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)


def _notebook(src: Path, dest: Path, cells_before: list[str] = (), cells_after: list[str] = ()):
    nb = nbformat.read(str(src), as_version=4)
    nb.cells[0:0] = [nbformat.v4.new_code_cell(c) for c in cells_before]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells_after]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest))


def _emulated_tree(tmp: Path, bundle: Path) -> Path:
    root = tmp / "autograder"
    _unzip_like_gradescope(bundle, root / "source")
    # Gradescope copies run_autograder to /autograder/run_autograder and runs it from there.
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "results").mkdir()
    (root / "submission").mkdir()
    return root


def _run_autograder(root: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, AUTOGRADER_ROOT=str(root), WHITEBOARD_PYTHON=sys.executable, **env)
    full_env.pop("PYTHONPATH", None)  # the bundle puts its own src/ first
    return subprocess.run([str(root / "run_autograder")], cwd=root, env=full_env,
                          capture_output=True, text=True, timeout=300)


def _unstable_softmax() -> str:
    from mutants.q05_cross_entropy import MUTANTS

    return next(src for label, _, src in MUTANTS if label == "unstable-softmax")


def _live_processes_of(root: Path) -> list[int]:
    marker = f"AUTOGRADER_ROOT={root}".encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            status = (entry / "stat").read_text()
            if status[status.rindex(")") + 2] in "ZX":
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "whiteboard-gradescope.zip"
    assert export(out, ROOT) == out
    return out


@pytest.fixture(scope="module")
def graded(bundle, tmp_path_factory) -> dict:
    """One submission: q05 (flat, with the unstable-softmax mistake), q11 (the solution, two
    folders deep), q15 (hangs in its first cell), an unrelated notebook and a Jupyter checkpoint."""
    tmp = tmp_path_factory.mktemp("gradescope")
    root = _emulated_tree(tmp, bundle)
    sub = root / "submission"
    _notebook(ROOT / "solutions/q05_cross_entropy/q05_cross_entropy.ipynb",
              sub / "q05_cross_entropy.ipynb", cells_after=[_unstable_softmax()])
    _notebook(ROOT / "solutions/q11_convolution/q11_convolution.ipynb",
              sub / "week3" / "convolution" / "q11_convolution.ipynb")
    _notebook(ROOT / "release/q15_self_attention/q15_self_attention.ipynb",
              sub / "q15_self_attention" / "q15_self_attention.ipynb",
              cells_before=["while True:\n    pass"])
    _notebook(ROOT / "release/q05_cross_entropy/q05_cross_entropy.ipynb",
              sub / "scratch" / "my_notes.ipynb")
    _notebook(ROOT / "release/q11_convolution/q11_convolution.ipynb",
              sub / "week3/convolution/.ipynb_checkpoints/q11_convolution-checkpoint.ipynb")
    proc = _run_autograder(root, WHITEBOARD_GS_TIMEOUT=str(HANG_LIMIT_S))
    results_file = root / "results" / "results.json"
    assert results_file.is_file(), proc.stdout + proc.stderr
    return {"root": root, "proc": proc, "results": json.loads(results_file.read_text()),
            "leftovers": _live_processes_of(root)}


def _tests_of(results: dict, assignment: str) -> list[dict]:
    return [t for t in results["tests"] if t["name"].startswith(assignment + " · ")]


# ---- the bundle ------------------------------------------------------------------------------

def test_bundle_holds_the_scripts_and_the_kit_but_no_solutions(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        manifest = json.loads(zf.read("gradescope.json"))
    for script in ("setup.sh", "run_autograder"):  # at the root, executable
        assert (infos[script].external_attr >> 16) & 0o111 == 0o111, script
    names = set(infos)
    for needed in ("pyproject.toml", "README.md", "nbgrader_config.py", "src/whiteboard/grading/grade.py",
                   "src/whiteboard/course/gradescope.py", "src/whiteboard/worker/process.py",
                       "src/whiteboard/course/templates/setup.sh",
                   "autograder/conftest.py", "autograder/references/q05_cross_entropy.py",
                   *(f"autograder/test_{a}.py" for a in manifest["checks"])):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("solutions/", "source/", "release/", "tests/"))
                or "__pycache__" in n or n.endswith(".pyc")]
    # the points of every check travel with the bundle, as the autograder defines them
    points = {a: sum(c["max_points"] for c in checks) for a, checks in manifest["checks"].items()}
    assert points == {a: MAX[a] for a in points} and set(points) == set(MAX)
    assert manifest["visibility"] in VISIBILITIES
    # setup.sh: valid bash, installs torch's CPU build with pyproject's pin, then the kit
    assert "download.pytorch.org/whl/cpu" in setup and "torch==2.13.*" in setup
    assert "pip install \"$ROOT/source\"" in setup
    _unzip_like_gradescope(bundle, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
    # even when Python cannot start, Gradescope gets a results.json
    (tmp_path / "results").mkdir()
    env = dict(os.environ, AUTOGRADER_ROOT=str(tmp_path), WHITEBOARD_PYTHON="false")
    broken = subprocess.run([str(tmp_path / "run_autograder")], env=env, capture_output=True)
    assert broken.returncode != 0
    assert json.loads((tmp_path / "results" / "results.json").read_text())["score"] == 0


# ---- one run of run_autograder ---------------------------------------------------------------

def test_results_json_follows_gradescopes_format(graded):
    results, proc = graded["results"], graded["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert isinstance(results["score"], float) and isinstance(results["output"], str)
    assert isinstance(results["execution_time"], int)
    assert results["tests"]
    for t in results["tests"]:
        assert TEST_FIELDS <= set(t), t
        assert isinstance(t["name"], str) and isinstance(t["output"], str) and t["output"]
        assert 0 <= t["score"] <= t["max_score"]
        assert t["visibility"] == "visible"
        assert t["status"] == ("passed" if t["score"] == t["max_score"] else "failed")
    assert len({t["name"] for t in results["tests"]}) == len(results["tests"])
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def test_solution_gets_full_marks_and_a_mistake_gets_its_teaching_message(graded):
    results = graded["results"]
    q11 = _tests_of(results, "q11_convolution")
    assert q11 and all(t["score"] == t["max_score"] and t["output"] == "passed" for t in q11)
    assert sum(t["max_score"] for t in q11) == MAX["q11_convolution"]
    q05 = {t["name"]: t for t in _tests_of(results, "q05_cross_entropy")}
    large = q05["q05_cross_entropy · softmax/large_logits"]
    assert large["score"] == 0 and large["output"].startswith("[unstable-softmax] ")
    assert "Subtract" in large["output"]  # how to fix it, not only what went wrong
    assert sum(t["max_score"] for t in q05.values()) == MAX["q05_cross_entropy"]


def test_a_hanging_notebook_loses_only_its_own_assignment(graded):
    results = graded["results"]
    q15 = _tests_of(results, "q15_self_attention")
    assert q15 and sum(t["max_score"] for t in q15) == MAX["q15_self_attention"]  # every check, reported at 0
    assert all(t["score"] == 0 and t["output"].startswith("[timeout] timed out") for t in q15)
    assert _tests_of(results, "q05_cross_entropy") and _tests_of(results, "q11_convolution")
    assert f"q15_self_attention: 0 / {MAX['q15_self_attention']:g}  (timed out" in results["output"]
    # the stuck worker was killed, not left spinning while the next submission is graded
    assert graded["leftovers"] == []


def test_unknown_and_checkpoint_notebooks_are_reported_not_graded(graded):
    results = graded["results"]
    assert "scratch/my_notes.ipynb: not one of the assignments" in results["output"]
    assert "checkpoint" not in results["output"]
    assert {t["name"].split(" · ")[0] for t in results["tests"]} == {
        "q05_cross_entropy", "q11_convolution", "q15_self_attention"}


def test_score_equals_whiteboard_grade_of_the_same_notebooks(graded, tmp_path):
    sub = graded["root"] / "submission"
    layout = tmp_path / "submission"
    for a, nb in {"q05_cross_entropy": sub / "q05_cross_entropy.ipynb",
                  "q11_convolution": sub / "week3/convolution/q11_convolution.ipynb"}.items():
        (layout / a).mkdir(parents=True)
        shutil.copyfile(nb, layout / a / f"{a}.ipynb")
    expected = grade(layout, ["q05_cross_entropy", "q11_convolution"], autograder=AUTOGRADER)
    results = graded["results"]
    # q15 timed out: it adds its points to the maximum and nothing to the score
    assert results["score"] == pytest.approx(expected["score"])
    assert expected["score"] < expected["max_score"]  # the q05 mistake costs points
    maximum = sum(t["max_score"] for t in results["tests"])
    assert maximum == pytest.approx(expected["max_score"] + MAX["q15_self_attention"])
    per_check = {f"{a} · {c['id']}": c["points"]
                 for a, r in expected["assignments"].items() for c in r["checks"]}
    assert per_check == {t["name"]: t["score"] for t in results["tests"]
                         if not t["name"].startswith("q15_self_attention")}


# ---- results without grading, and the mapping of names ---------------------------------------

def test_results_exist_before_any_grading_and_listed_assignments_are_reported(bundle, tmp_path):
    """With no time left, nothing is graded, yet results.json lists every check at 0: what a
    Gradescope-level timeout leaves behind. Listed assignments not uploaded score 0 too."""
    root = _emulated_tree(tmp_path, bundle)
    shutil.copyfile(ROOT / "solutions/q05_cross_entropy/q05_cross_entropy.ipynb",
                    root / "submission" / "q05_cross_entropy.ipynb")
    shutil.copyfile(ROOT / "release/q11_convolution/q11_convolution.ipynb",
                    root / "submission" / "q11_convolution.ipynb")
    proc = _run_autograder(root, WHITEBOARD_GS_BUDGET="0",
                           WHITEBOARD_GS_VISIBILITY="after_published",
                           WHITEBOARD_GS_ASSIGNMENTS="q05_cross_entropy,q17_training_pipeline")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0
    names = {t["name"].split(" · ")[0] for t in results["tests"]}
    assert names == {"q05_cross_entropy", "q17_training_pipeline"}
    assert all(t["visibility"] == "after_published" for t in results["tests"])
    assert sum(t["max_score"] for t in results["tests"]) == MAX["q05_cross_entropy"] + MAX["q17_training_pipeline"]
    assert f"q17_training_pipeline: 0 / {MAX['q17_training_pipeline']:g}  (not submitted)" in results["output"]
    assert "q11_convolution is not part of this assignment" in results["output"]


def test_notebooks_map_to_assignments_by_file_name(tmp_path):
    known = ["q05_cross_entropy", "q11_convolution", "q15_self_attention"]
    for rel in ("a/b/q05_cross_entropy.ipynb", "q05_cross_entropy.ipynb", "q11 (1).ipynb",
                "Q15_attention_final.ipynb", "notes.ipynb", "q99_other.ipynb",
                "x/.ipynb_checkpoints/q11_convolution-checkpoint.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    chosen, notes = find_notebooks(tmp_path, known)
    assert {a: p.relative_to(tmp_path).as_posix() for a, p in chosen.items()} == {
        "q05_cross_entropy": "q05_cross_entropy.ipynb",  # the shallowest of two
        "q11_convolution": "q11 (1).ipynb", "q15_self_attention": "Q15_attention_final.ipynb"}
    text = "\n".join(notes)
    assert "a/b/q05_cross_entropy.ipynb: another notebook for q05_cross_entropy" in text
    assert "notes.ipynb: not one of the assignments" in text
    assert "q99_other.ipynb: not one of the assignments" in text
    assert "q11 (1).ipynb: graded as q11_convolution" in text
    assert "checkpoint" not in text
