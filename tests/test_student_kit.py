"""The student kit (`whiteboard student-kit`): no answers in it, the same verdicts as the instructor's
grade on every public check, hidden checks that a lookup table cannot pass, and a self-check that
keeps the autograder out of the student's kernel and survives an infinite loop."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from conftest import ASSIGNMENTS, AUTOGRADER, ROOT, make_submission, mutant_cases, per_assignment
from whiteboard.worker import codec


def needs(assignment: str) -> None:
    """Skip where the tests run on a subset of the assignments without this one."""
    if assignment not in ASSIGNMENTS:
        pytest.skip(f"{assignment} is not among WHITEBOARD_TEST_ASSIGNMENTS")


def kit_grade_many(kit: Path, submissions: dict[str, Path], assignment: str) -> dict[str, dict]:
    """Grade with the kit's autograder in a fresh Python (its `autograder` package is another one
    than the instructor's this process has imported): {case: that assignment's results}."""
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from whiteboard.grading.grade import grade_many
        cases = {{k: Path(v) for k, v in json.loads(sys.argv[1]).items()}}
        results = grade_many(cases, [{assignment!r}], autograder=Path({str(kit / 'autograder')!r}))
        print(json.dumps({{k: r["assignments"][{assignment!r}] for k, r in results.items()}}))
    """)
    run = subprocess.run([sys.executable, "-c", script, json.dumps({k: str(v) for k, v in submissions.items()})],
                         cwd=kit, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---- no answers in the kit -------------------------------------------------------------------------

def _reference_bodies() -> list[tuple[str, str]]:
    """(name, body) of every function of the references: their code must not be in the kit."""
    bodies = []
    for path in sorted((AUTOGRADER / "references").glob("q*.py")):
        tree = ast.parse(path.read_text())
        source = path.read_text()
        for node in ast.walk(tree):
            # private helpers (`_t`: to a tensor) are utilities, not answers: only the catalogue's
            # functions and the pitfall variants count
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body \
                    and not node.name.startswith("_"):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(
                    getattr(node.body[0], "value", None), ast.Constant) else node.body
                if not body:
                    continue
                text = "\n".join(ast.get_source_segment(source, b) or "" for b in body)
                normal = " ".join(text.split())
                if len(normal) > 60:  # short bodies (`return x`) say nothing about where they came from
                    bodies.append((f"{path.stem}.{node.name}", normal))
    return bodies


@pytest.mark.parametrize("assignment", per_assignment())
def test_kit_holds_no_reference_or_variant(kits, assignment):
    kit = kits(assignment)
    files = [p for p in kit.rglob("*") if p.is_file()]
    names = {p.relative_to(kit).as_posix() for p in files}
    assert not [n for n in names if "references" in n.split("/")], "the kit holds the references folder"
    assert not [n for n in names if n.endswith((".pyc", ".pyo", ".pickle", ".pkl", ".pt"))]
    assert not [n for n in names if "solutions/" in n or n.startswith("source/") or n.startswith("tests/")]
    text = {p: " ".join(p.read_text(errors="ignore").split()) for p in files
            if p.suffix in (".py", ".json", ".md", ".ipynb", ".toml", ".txt", "")}
    for name, body in _reference_bodies():
        holders = [str(p.relative_to(kit)) for p, t in text.items() if body in t]
        assert not holders, f"the code of {name} is in {holders}"
    for npz in kit.rglob("*.npz"):
        with np.load(npz, allow_pickle=False) as data:  # arrays only: would raise on an object array
            for key in data.files:
                assert data[key].dtype.kind in "biufc", (npz, key, data[key].dtype)


@pytest.mark.parametrize("assignment", per_assignment())
def test_kit_notebooks_hold_no_solution(kits, assignment):
    kit, a = kits(assignment), assignment
    text = (kit / a / f"{a}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert text == (ROOT / "release" / a / f"{a}.ipynb").read_text()


# ---- the same verdicts -------------------------------------------------------------------------------

def _verdicts(result: dict) -> dict[str, tuple]:
    return {c["id"]: (c["passed"], c["pitfall"]) for c in result["checks"]}


@pytest.mark.parametrize("assignment", per_assignment())
def test_kit_answers_every_question_the_references_answer(corpus, assignment):
    """The solution, the stubs and every mutant: every question a public check asked (expected
    values, the variants' results, stand-ins, traces) gets the same answer from the kit's frozen
    data as from the references. The kit runs the same check code, so its verdicts and labels
    are the instructor's."""
    corpus(assignment)
    assert not corpus.differences(assignment), corpus.differences(assignment)[:20]


@pytest.mark.parametrize("assignment", per_assignment(["q05_cross_entropy"]))
def test_the_kit_itself_gives_the_instructors_verdicts(kits, corpus, tmp_path, assignment):
    """End to end, through the kit's own autograder in a fresh Python: the same verdict and label
    on every public check, for the solution, the stubs and every mutant."""
    needs(assignment)
    kit = kits(assignment)
    instructor = corpus(assignment)
    cases = {c: v for c, v in mutant_cases(assignment).items() if v[0] == "mutant"}
    dirs = {case: make_submission(tmp_path / f"c{i}", assignment, [v[3]]) for i, (case, v) in enumerate(cases.items())}
    dirs["solution"] = make_submission(tmp_path / "solution", assignment)
    dirs["stubs"] = ROOT / "release"
    ours = kit_grade_many(kit, dirs, assignment)
    differ = {}
    for case in dirs:
        want, got = _verdicts(instructor[case]), _verdicts(ours[case])
        if want != got:
            differ[case] = {k: (want.get(k), got.get(k)) for k in set(want) | set(got) if want.get(k) != got.get(k)}
    assert not differ, json.dumps(differ, indent=1)[:4000]


# ---- hidden checks --------------------------------------------------------------------------------

def _lookup_table_notebook(kit: Path, assignment: str) -> nbformat.NotebookNode:
    """The release notebook with every function answered from a table of the kit's frozen data:
    it returns the recorded answer when its inputs are the recorded ones."""
    data = codec.load(kit / "autograder" / "frozen" / assignment)
    table: dict[str, list] = {}
    for _, entry in data["entries"]:
        if entry["kind"] == "expected":
            table.setdefault(entry["name"], []).append((entry["inputs"], entry["value"]))
    nb = nbformat.read(str(kit / assignment / f"{assignment}.ipynb"), as_version=4)
    cells = ["import numpy as np\n_TABLE = {}\n"]
    for function, rows in table.items():
        cells.append(f"_TABLE[{function!r}] = {_literal(rows)}\n"
                     f"def {function}(*args, **kwargs):\n"
                     f"    for (a, k), value in _TABLE[{function!r}]:\n"
                     "        if len(a) == len(args) and all(np.shape(x) == np.shape(y) and np.allclose(x, y) "
                     "for x, y in zip(a, args)):\n"
                     "            return value\n"
                     "    return None\n")
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def _literal(rows) -> str:
    def lit(x):
        if isinstance(x, np.ndarray):
            return f"np.array({x.tolist()!r})"
        if isinstance(x, (list, tuple)):
            inner = ", ".join(lit(v) for v in x)
            return f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
        if isinstance(x, dict):
            return "{" + ", ".join(f"{k!r}: {lit(v)}" for k, v in x.items()) + "}"
        if isinstance(x, float):
            return repr(x) if np.isfinite(x) else f"float({str(x)!r})"
        return repr(x)
    return lit(rows)


@pytest.mark.xdist_group("q05_cross_entropy")
def test_a_lookup_table_passes_the_kit_and_fails_the_hidden_checks(kits, tmp_path):
    assignment = "q05_cross_entropy"
    needs(assignment)
    kit = kits(assignment)
    folder = tmp_path / "cheat" / assignment
    folder.mkdir(parents=True)
    nbformat.write(_lookup_table_notebook(kit, assignment), str(folder / f"{assignment}.ipynb"))
    public = kit_grade_many(kit, {"cheat": tmp_path / "cheat"}, assignment)["cheat"]
    assert public["score"] == public["max_score"], [c for c in public["checks"] if not c["passed"]]
    from whiteboard.grading.grade import grade

    graded = grade(tmp_path / "cheat", [assignment], autograder=AUTOGRADER)["assignments"][assignment]
    assert graded["score"] == 0, [c["id"] for c in graded["checks"] if c["passed"]]
    assert all("On hidden inputs" in c["message"] for c in graded["checks"])


def test_hidden_runs_depend_on_the_course_secret(tmp_path, monkeypatch):
    from whiteboard.grading.checks import Assignment
    from whiteboard.grading.course import DEFAULT_SECRET, course_secret

    assert course_secret(tmp_path) == DEFAULT_SECRET
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.Whiteboard.secret = "s3cret"\n')
    assert course_secret(tmp_path) == "s3cret"
    monkeypatch.setenv("WHITEBOARD_SECRET", "from-the-environment")
    assert course_secret(tmp_path) == "from-the-environment"
    a, b = Assignment("q", None, None, None, secret="one"), Assignment("q", None, None, None, secret="two")
    assert a.check("f/x", hidden=False).seed(3) == b.check("f/x", hidden=False).seed(3) == 3
    assert a.check("f/x", hidden=True).seed(3) != b.check("f/x", hidden=True).seed(3)
    assert a.check("f/x", hidden=True).seed(3) != a.check("f/y", hidden=True).seed(3)


@pytest.mark.xdist_group("q05_cross_entropy")
def test_the_kit_runs_no_hidden_check(kits):
    needs("q05_cross_entropy")
    kit = kits("q05_cross_entropy")
    run = subprocess.run([sys.executable, "-m", "pytest", "autograder/", "--collect-only", "-q",
                          "-p", "no:cacheprovider"], cwd=kit, capture_output=True, text=True, timeout=300)
    items = [ln for ln in run.stdout.splitlines() if "::" in ln]
    assert items and all(ln.endswith("[public]") for ln in items), run.stdout[-2000:]


# ---- self-check from a kernel ------------------------------------------------------------------------

class Kernel:
    """A real Jupyter kernel started in a folder, to run cells as a student does."""

    def __init__(self, cwd: Path):
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd))

    def run(self, code: str, timeout: float = 120) -> str:
        msg_id = self.kc.execute(code)
        out = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"ERROR {msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "execute_result":
                out.append(msg["content"]["data"].get("text/plain", ""))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.mark.xdist_group("q05_cross_entropy")
def test_self_check_in_a_kit_kernel(kits, monkeypatch):
    assignment = "q05_cross_entropy"
    needs(assignment)
    kit = kits(assignment)
    monkeypatch.setenv("WHITEBOARD_CALL_TIMEOUT", "3")
    kernel = Kernel(kit / assignment)
    try:
        source = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
        setup = next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup_1")
        solution = next(c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
        assert "ERROR" not in kernel.run(setup)
        kernel.run(solution)
        first = kernel.run('whiteboard.check("softmax")')
        assert "softmax: 7 / 7 points, all checks pass" in first, first
        started = time.perf_counter()
        again = kernel.run('whiteboard.check("softmax")')
        assert "all checks pass" in again and time.perf_counter() - started < 5
        kernel.run("def log_softmax(z, axis=-1):\n    while True:\n        pass\n")
        hung = kernel.run('whiteboard.check("log_softmax")')
        assert "[timeout]" in hung and "did not return within 3 s" in hung, hung
        assert kernel.run("print(1 + 1)").strip() == "2"  # the kernel lived on
        loaded = kernel.run("import sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
                            "('autograder', 'whiteboard_harnesses', 'pytest')))")
        assert loaded.strip() == "[]", loaded
        broken = kernel.run('def softmax(z, axis=-1):\n    return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)\n'
                            'whiteboard.check("softmax")')
        assert "[unstable-softmax]" in broken and "How to fix it" in broken, broken
    finally:
        kernel.close()


@pytest.mark.xdist_group("q05_cross_entropy")
def test_self_check_runs_in_a_fork_so_the_kernel_namespace_is_untouched(kits):
    """A function that mutates globals during the check leaves the kernel's globals as they were."""
    needs("q05_cross_entropy")
    kit = kits("q05_cross_entropy")
    kernel = Kernel(kit / "q05_cross_entropy")
    try:
        kernel.run('import numpy as np\nimport whiteboard\nASSIGNMENT = "q05_cross_entropy"\nCOUNTER = [0]\n'
                   "def softmax(z, axis=-1):\n    COUNTER[0] += 1\n    e = np.exp(z - z.max(axis=axis, keepdims=True))\n"
                   "    return e / e.sum(axis=axis, keepdims=True)\n")
        assert "all checks pass" in kernel.run('whiteboard.check("softmax")')
        assert kernel.run("print(COUNTER[0])").strip() == "0"
        # check_all and export find the notebook's namespace (its ASSIGNMENT) by themselves too
        total = kernel.run("r = whiteboard.check_all(show=False)\n"
                           "print(sum(c['points'] for c in r['checks'] if c['function'] == 'softmax'))")
        assert float(total) == 7, total
        exported = kernel.run("whiteboard.export()")
        assert "Wrote q05_cross_entropy-submission.zip" in exported, exported
        (kit / "q05_cross_entropy" / "q05_cross_entropy-submission.zip").unlink()
    finally:
        kernel.close()
