"""`whiteboard grade-class`: a small class graded in parallel gives each student what
`whiteboard grade` gives them alone, with a CSV, feedback pages, nbgrader's gradebook, skipping of
unchanged students on a re-run, and no half-written result when a run is killed.

The class (q05 and q11, the fastest assignments):
  alice  the solutions
  bob    the solutions with one classic mistake each
  carol  the stubs of q05, and a q11 notebook that is not valid JSON
  dave   the solution of q05 only (no q11)
"""
from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import AUTOGRADER, ROOT
from test_nbgrader import submitted_notebook
from whiteboard.grading.grade import grade

Q05, Q11 = "q05_cross_entropy", "q11_convolution"
ASSIGNMENTS = [Q05, Q11]
STUDENTS = ["alice", "bob", "carol", "dave"]

# one parallel worker runs all of this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("grade_class")


def _mutant(assignment: str) -> tuple[str, str, str]:
    return importlib.import_module(f"mutants.{assignment}").MUTANTS[0]


def _put(submitted: Path, student: str, assignment: str, nb) -> None:
    folder = submitted / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


def _grade_class(course: Path, out: str, *extra: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whiteboard", "grade-class", "submitted", "--out", out,
                           "--workers", "2", "--autograder", str(AUTOGRADER), *extra],
                          cwd=course, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch nbgrader course with the class above, graded once with --gradebook."""
    root = tmp_path_factory.mktemp("class")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    submitted = root / "submitted"
    for a in ASSIGNMENTS:
        shutil.copytree(ROOT / "source" / a, root / "source" / a)
        release = nbformat.read(str(ROOT / "release" / a / f"{a}.ipynb"), as_version=4)
        _put(submitted, "alice", a, submitted_notebook(a, None))
        _put(submitted, "bob", a, submitted_notebook(a, _mutant(a)[2]))
        if a == Q05:
            _put(submitted, "carol", a, release)
            _put(submitted, "dave", a, submitted_notebook(a, None))
        else:
            (submitted / "carol" / a).mkdir(parents=True)
            (submitted / "carol" / a / f"{a}.ipynb").write_text('{"cells": [')
    # the gradebook needs the assignments released by nbgrader, as in a real course
    for a in ASSIGNMENTS:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                        "--log-level=WARN"], cwd=root, check=True, capture_output=True)
    run = _grade_class(root, "out", "--gradebook")
    assert run.returncode == 0, run.stderr[-3000:]
    (root / "first_run.txt").write_text(run.stdout + run.stderr)
    return root


def _load(course: Path, student: str) -> dict:
    return json.loads((course / "out" / f"{student}.json").read_text())


def _essentials(results: dict) -> dict:
    """Scores, errors and each check's outcome and pitfall (what must agree with `whiteboard grade`)."""
    return {a: {"score": r["score"], "max_score": r["max_score"], "errors": r["errors"],
                "checks": [(c["id"], c["passed"], c["points"], c["pitfall"]) for c in r["checks"]]}
            for a, r in results["assignments"].items()}


def test_grades_csv_has_a_row_per_student_and_assignment(course):
    with open(course / "out" / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["student_id", "assignment", "score", "max_score", "manual_max_score"]
    assert [(r["student_id"], r["assignment"]) for r in rows] == [
        (s, a) for s in STUDENTS for a in ASSIGNMENTS]
    table = {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"])) for r in rows}
    assert table["alice", Q05][0] == table["alice", Q05][1] > 0
    assert table["alice", Q11][0] == table["alice", Q11][1] > 0
    assert 0 < table["bob", Q05][0] < table["bob", Q05][1]
    assert table["carol", Q05][0] == 0 and table["carol", Q11][0] == 0  # stubs, unreadable notebook
    assert table["dave", Q11] == (0.0, table["alice", Q11][1])  # not submitted: 0 of the maximum
    out = (course / "first_run.txt").read_text()
    assert "graded 4 students, skipped 0 unchanged, failed 0" in out
    assert "most frequent pitfalls" in out and _mutant(Q05)[0] in out  # the summary table
    assert "with 2 workers" in out


def test_summary_table_agrees_with_grades_csv(course):
    """Mean, min and max per assignment over the whole class, a student who did not submit
    counting 0, exactly as grades.csv has them; each student's JSON totals every assignment."""
    import statistics

    rows = list(csv.DictReader(open(course / "out" / "grades.csv", newline="")))
    lines = (course / "first_run.txt").read_text().splitlines()
    for a in ASSIGNMENTS:
        scores = [float(r["score"]) for r in rows if r["assignment"] == a]
        line = next(ln for ln in lines if ln.startswith(a))
        submitted = sum(1 for s in STUDENTS if (course / "submitted" / s / a / f"{a}.ipynb").exists())
        assert f"{submitted}/{len(STUDENTS)}" in line
        assert f"{statistics.mean(scores):.1f}" in line.split() and f"{min(scores):g}" in line.split()
    maxima = {a: float(next(r["max_score"] for r in rows if r["assignment"] == a)) for a in ASSIGNMENTS}
    for student in STUDENTS:
        assert _load(course, student)["max_score"] == pytest.approx(sum(maxima.values()))


@pytest.mark.parametrize("student", STUDENTS)
def test_each_student_gets_what_whiteboard_grade_gives_alone(course, student):
    ours = _load(course, student)
    assert set(ours) == {"submission", "score", "max_score", "assignments"}
    assert ours["submission"] == str(Path("submitted") / student)
    alone = grade(course / "submitted" / student, autograder=AUTOGRADER)
    assert ours["score"] == alone["score"]
    submitted = {a: r for a, r in ours["assignments"].items() if r.get("submitted", True)}
    assert _essentials({"assignments": submitted}) == _essentials(alone)
    if student == "dave":  # did not submit q11: 0 out of its maximum, and a page that says so
        assert list(alone["assignments"]) == [Q05]
        assert ours["assignments"][Q11]["submitted"] is False and ours["assignments"][Q11]["score"] == 0
    if student == "carol":
        assert any("not a readable notebook" in e for e in ours["assignments"][Q11]["errors"])


def test_feedback_names_the_pitfall_and_never_shows_the_tests(course):
    for student in STUDENTS:
        results = _load(course, student)
        for a, r in results["assignments"].items():
            page = (course / "out" / "feedback" / student / f"{a}.html").read_text()
            assert "@media print" in page and "whiteboard" in page  # the course, printable
            assert page.startswith("<!DOCTYPE html>") and "<style>" in page
            assert "def test_" not in page and "nb.expect" not in page and "import pytest" not in page
            for c in r["checks"]:
                if not c["passed"]:
                    assert c["pitfall"] in page
    bob = (course / "out" / "feedback" / "bob" / f"{Q05}.html").read_text()
    label = _mutant(Q05)[0]
    failed = [c for c in _load(course, "bob")["assignments"][Q05]["checks"] if c["pitfall"] == label]
    assert failed
    import html
    assert html.escape(failed[0]["message"]) in bob
    assert "Your code" in bob and html.escape(f"def {_mutant(Q05)[1]}(") in bob  # the student's own code
    missing = (course / "out" / "feedback" / "dave" / f"{Q11}.html").read_text()
    assert "No notebook was submitted" in missing and "0 /" in missing


def test_feedback_says_a_shared_failure_once(course):
    """carol handed in the stubs of q05 and an unreadable q11: one message per function (and for
    the notebook), not one per check."""
    stub = (course / "out" / "feedback" / "carol" / f"{Q05}.html").read_text()
    results = _load(course, "carol")["assignments"][Q05]
    functions = {c["function"] for c in results["checks"]}
    assert stub.count("Every check failed for the same reason") == len(functions)
    assert stub.count("replace the `raise NotImplementedError` line") == len(functions)
    broken = (course / "out" / "feedback" / "carol" / f"{Q11}.html").read_text()
    assert broken.count("not a readable notebook") <= len({c["function"] for c in
                                                           _load(course, "carol")["assignments"][Q11]["checks"]}) + 1
    assert "run the function on the small example" not in broken


def test_gradebook_scores_are_what_nbgrader_reports(course):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            results = _load(course, student)
            for a in ASSIGNMENTS:
                if results["assignments"][a].get("submitted", True):
                    assert gb.find_submission(a, student).score == pytest.approx(
                        results["assignments"][a]["score"]), (student, a)
                else:
                    with pytest.raises(MissingEntry):
                        gb.find_submission(a, student)


def test_rerun_skips_unchanged_students_and_regrades_a_changed_one(course):
    out = course / "out"
    before = {s: (out / f"{s}.json").stat().st_mtime_ns for s in STUDENTS}
    dave_before = _load(course, "dave")["score"]
    _put(course / "submitted", "dave", Q05, submitted_notebook(Q05, _mutant(Q05)[2]))
    run = _grade_class(course, "out", "--no-progress")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "graded 1 student, skipped 3 unchanged" in run.stdout
    after = {s: (out / f"{s}.json").stat().st_mtime_ns for s in STUDENTS}
    assert {s for s in STUDENTS if after[s] != before[s]} == {"dave"}
    assert _load(course, "dave")["score"] < dave_before
    rows = list(csv.DictReader(open(out / "grades.csv", newline="")))
    assert float(next(r for r in rows if r["student_id"] == "dave" and r["assignment"] == Q05)["score"]) \
        == _load(course, "dave")["score"]


def test_a_killed_run_leaves_only_whole_results(course):
    """Kill the run (all its processes) once the first student is written: every result on disk is
    complete and in the manifest, and the next run grades only the rest."""
    out = course / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "whiteboard", "grade-class", "submitted", "--out",
                             str(out), "--workers", "1", "--autograder", str(AUTOGRADER), "--no-progress"],
                            cwd=course, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = sorted(p.stem for p in out.glob("*.json"))
    assert finished and len(finished) < len(STUDENTS)
    # SIGKILL may land mid-write: the half-written file is a hidden temporary, never a result
    for p in out.rglob("*"):
        if p.is_file() and p.name.endswith(".tmp"):
            assert p.name.startswith("."), p
        elif p.suffix == ".json":
            json.loads(p.read_text())  # whole
        elif p.suffix == ".html":
            assert p.read_text().rstrip().endswith("</html>"), p
    manifest_file = out / ".whiteboard-manifest.json"  # written just after each result
    manifest = json.loads(manifest_file.read_text())["students"] if manifest_file.exists() else {}
    assert set(manifest) <= set(finished)
    run = _grade_class(course, str(out), "--no-progress")
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"skipped {len(manifest)} unchanged" in run.stdout
    assert not list(out.rglob("*.tmp")), "the rerun sweeps the killed run's temporaries"


def test_a_student_whose_grading_fails_gets_zero_and_the_run_goes_on(tmp_path):
    """An autograder module that cannot even be collected makes grade() raise for the one student
    who submitted that assignment: they get 0 and the reason; the others are graded as usual."""
    autograder = tmp_path / "autograder"
    shutil.copytree(AUTOGRADER, autograder, ignore=shutil.ignore_patterns("__pycache__", "test_q1*"))
    (autograder / "test_q99_broken.py").write_text("this is not python\n")
    _put(tmp_path / "submitted", "alice", Q05, submitted_notebook(Q05, None))
    _put(tmp_path / "submitted", "erin", "q99_broken", nbformat.v4.new_notebook())
    run = subprocess.run([sys.executable, "-m", "whiteboard", "grade-class", "submitted", "--out", "out",
                          "--workers", "2", "--autograder", str(autograder), "--no-progress"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "graded 1 student, skipped 0 unchanged, failed 1 (erin)" in run.stdout
    erin = json.loads((tmp_path / "out" / "erin.json").read_text())
    assert erin["score"] == 0
    assert erin["assignments"]["q99_broken"]["errors"][0].startswith("grading failed:")
    alice = json.loads((tmp_path / "out" / "alice.json").read_text())
    assert alice["score"] == alice["max_score"] > 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv", newline="")))
    assert [(r["student_id"], r["assignment"]) for r in rows] == [
        ("alice", Q05), ("alice", "q99_broken"), ("erin", Q05), ("erin", "q99_broken")]
    # a failure is not a grade: the next run tries erin again
    manifest = json.loads((tmp_path / "out" / ".whiteboard-manifest.json").read_text())["students"]
    assert set(manifest) == {"alice"}


FORKED_ZYGOTE = """
import json, os, sys
from whiteboard.grading.submission import Zygote


kept_r, kept_w = os.pipe()  # stands for the pipe a pool process sends its results on
zygote = Zygote(fork=True)
pid = zygote.proc.pid
fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
print(json.dumps({"pid": pid, "sid": os.getsid(pid), "fds": fds, "pipe": [kept_r, kept_w]}))
zygote.close()
print(json.dumps({"alive": os.path.exists(f"/proc/{pid}")}))
"""


def test_a_forked_zygote_keeps_nothing_of_its_pool_process_but_its_modules():
    """grade-class forks each pool process's zygote instead of starting one: the zygote must not
    keep the pool process's descriptors (a notebook could write forged results into the pipe back
    to the parent) and must lead its own session, so that closing it takes its children along."""
    run = subprocess.run([sys.executable, "-c", FORKED_ZYGOTE], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    opened, closed = (json.loads(line) for line in run.stdout.splitlines())
    assert opened["sid"] == opened["pid"], "the zygote does not lead a session of its own"
    assert not set(opened["fds"]) & set(opened["pipe"]), f"the zygote kept {opened}"
    assert len([fd for fd in opened["fds"] if fd > 2]) == 1, f"more than its control socket: {opened}"
    assert not closed["alive"]


def test_one_sandbox_warning_per_run_not_per_pool_process(tmp_path):
    for student in ("ann", "ben", "cat"):
        _put(tmp_path / "submitted", student, Q05, submitted_notebook(Q05, None))
    run = subprocess.run([sys.executable, "-m", "whiteboard", "grade-class", "submitted", "--out", "out",
                          "--workers", "2", "--autograder", str(AUTOGRADER), "--no-progress"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, WHITEBOARD_SANDBOX_DISABLE="seccomp"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("the grading sandbox runs without") == 1, run.stderr
    assert "seccomp" in run.stderr


def _processes_with(token: str) -> list[int]:
    """Live processes whose environment holds `token` (everything a run started inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if token.encode() in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "\nState:\tZ" not in status:  # a zombie is dead already
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("command", ["grade-class", "grade"])
def test_a_run_killed_with_sigkill_leaves_no_process(course, tmp_path, command):
    """SIGKILL on the whiteboard process alone (a CI timeout, the OOM killer): its forkserver,
    pool processes, zygotes and notebook processes all end with it, even one in an infinite loop."""
    token = f"WB_KILL_TEST_{os.getpid()}_{command}"
    looping = tmp_path / "submitted"
    nb = submitted_notebook(Q05, "def softmax(z, axis=-1):\n    while True:\n        pass\n")
    for student in ("erin", "frank", "grace"):
        _put(looping, student, Q05, nb)
    args = (["grade-class", str(looping), "--out", str(tmp_path / "out"), "--workers", "2", "--no-progress"]
            if command == "grade-class" else ["grade", str(looping / "erin")])
    env = dict(os.environ, **{token: "1"})
    proc = subprocess.Popen([sys.executable, "-m", "whiteboard", *args, "--autograder", str(AUTOGRADER)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120  # until notebook processes are busy looping
        while time.monotonic() < deadline and len(_processes_with(token)) < (5 if command == "grade-class" else 3):
            time.sleep(0.2)
        time.sleep(2)
        assert len(_processes_with(token)) >= 3, "the run never got going"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_with(token)
    names = [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for p in left if Path(f"/proc/{p}").exists()]
    for pid in left:
        with __import__("contextlib").suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {names}"


def test_feedback_page_shows_the_figure_the_notebook_drew_and_the_questions_graded_by_hand():
    from whiteboard.course.feedback import feedback_html
    from whiteboard.grading.grade import grade

    result = grade(ROOT / "solutions", [Q05], autograder=AUTOGRADER)["assignments"][Q05]
    page = feedback_html(Q05, result, "alice", notebook=ROOT / "solutions" / Q05 / f"{Q05}.ipynb",
                         course="whiteboard", date="2026-12-02")
    assert '<img alt="the figure your notebook drew" src="data:image/png;base64,' in page
    assert "Graded by your instructor" in page and "2026-12-02" in page and "alice" in page
    assert f"Total: <strong>{result['score']:g} / {result['max_score']:g}</strong>" in page


def test_sweep_removes_only_the_temporaries_of_dead_processes(tmp_path):
    """What SIGKILL leaves mid-write goes on the next run; a live writer's temporary stays."""
    from whiteboard.util import sweep_temporaries, write_atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / "feedback" / "alice" / f".q05.html.{dead.pid}.tmp"
    left.parent.mkdir(parents=True)
    left.write_text("<html><body>half")
    live = tmp_path / f".bob.json.{os.getpid()}.tmp"
    live.write_text("{")
    write_atomic(tmp_path / "carol.json", "{}")
    assert sweep_temporaries(tmp_path) == [left]
    assert not left.exists() and live.exists()
    assert (tmp_path / "carol.json").read_text() == "{}"
