"""The engine's own structure: an import graph without cycles, a worker that works from an
environment under /tmp, and the authoring example that does what it says."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SRC = ROOT / "src" / "whiteboard"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """whiteboard module -> the whiteboard modules it imports, anywhere in its code (function-level
    imports included: a cycle hidden in a function is still a cycle)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t in modules:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    # a package's __init__ is imported with each of its modules: only edges between real modules count
    graph = {m: {t for t in ts if t != "whiteboard"} for m, ts in graph.items()}
    assert not cycles(graph), cycles(graph)


def test_the_isolated_side_imports_nothing_of_the_trusted_side():
    graph = import_graph()
    worker = [m for m in graph if m.startswith("whiteboard.worker")]
    leaks = {m: sorted(t for t in graph[m] if t.startswith(("whiteboard.grading", "whiteboard.course")))
             for m in worker}
    assert not any(leaks.values()), leaks


def test_the_authoring_example_builds_a_notebook(tmp_path):
    from whiteboard.course import authoring

    doc = authoring.__doc__
    example = doc[doc.index("    cells = ["):].replace("source/q05_cross_entropy/q05_cross_entropy.ipynb",
                                                         str(tmp_path / "nb.ipynb"))
    code = "from whiteboard.course.authoring import *\n" + "\n".join(
        line[4:] for line in example.splitlines())
    exec(compile(code, "<authoring example>", "exec"), {})
    import nbformat

    nb = nbformat.read(str(tmp_path / "nb.ipynb"), as_version=4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    assert "softmax" in ids and "test_softmax" in ids and "why_log" in ids
    manual = [c for c in nb.cells if c.metadata["nbgrader"].get("grade") and c.metadata["nbgrader"].get("solution")]
    assert manual and "### BEGIN SOLUTION" in manual[0].source


@pytest.mark.skipif(sys.platform != "linux", reason="the private /tmp is Linux's mount namespace")
def test_a_python_environment_under_tmp_keeps_its_packages(tmp_path):
    """A throwaway environment in /tmp (many CI set-ups): a module the zygote did not preload, found
    through a sys.path entry under /tmp, still imports inside the sandboxed worker."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "lazy_helper_module.py").write_text("VALUE = 41\n")
    course = tmp_path / "course"
    sub = course / "submission" / "q05_cross_entropy"
    sub.mkdir(parents=True)
    import nbformat

    nb = nbformat.read(str(ROOT / "solutions" / "q05_cross_entropy" / "q05_cross_entropy.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "_good = softmax\n"
        "def softmax(z, axis=-1):\n"
        "    import lazy_helper_module  # imported only when called: after the sandbox is up\n"
        "    assert lazy_helper_module.VALUE == 41\n"
        "    return _good(z, axis)\n"))
    nbformat.write(nb, str(sub / "q05_cross_entropy.ipynb"))
    script = ("import json, sys\nfrom whiteboard.grading.grade import grade\n"
              f"r = grade({str(course / 'submission')!r}, ['q05_cross_entropy'], public_only=True)\n"
              "print(json.dumps(r['assignments']['q05_cross_entropy']))\n")
    env = dict(__import__("os").environ, PYTHONPATH=str(site))
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    result = json.loads(run.stdout.strip().splitlines()[-1])
    failed = [(c["id"], c["message"][:300]) for c in result["checks"] if not c["passed"]]
    assert not failed, failed


CATALOG = """# Exercise catalogue

## q98_tiny_demo — A tiny demo (numpy)
- `double(x) -> ndarray` twice `x`. Labels: `adds-one`.
- `halve(x, exact=True) -> ndarray` half of `x`, and `mutates-input` if it works in place.
  Labels: `mutates-input`.
Figure: the two functions on one plot.
"""


def test_whiteboard_new_writes_a_skeleton_that_grades(tmp_path):
    """`whiteboard new` on a copy of the course: six files, importable, graded with skipped checks."""
    import shutil

    course = tmp_path / "course"
    shutil.copytree(ROOT / "autograder", course / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    (course / "tests" / "mutants").mkdir(parents=True)
    (tmp_path / "catalog.md").write_text(CATALOG)
    run = subprocess.run([sys.executable, "-m", "whiteboard", "new", "q98_tiny_demo", "--catalog",
                          str(tmp_path / "catalog.md"), "--course", str(course)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for rel in ("autograder/labels/q98_tiny_demo.py", "autograder/references/q98_tiny_demo.py",
                "autograder/test_q98_tiny_demo.py", "tests/mutants/q98_tiny_demo.py",
                "source/q98_tiny_demo/q98_tiny_demo.ipynb"):
        assert (course / rel).is_file(), rel
    labels = (course / "autograder/labels/q98_tiny_demo.py").read_text()
    assert '"adds-one"' in labels and "'mutates-input'" in labels and "'double', 'halve'" in labels
    again = subprocess.run([sys.executable, "-m", "whiteboard", "new", "q98_tiny_demo", "--catalog",
                            str(tmp_path / "catalog.md"), "--course", str(course)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists already" in again.stderr
    # the skeleton's notebook stands in for a submission: it grades, every check skipped so far
    sub = tmp_path / "sub" / "q98_tiny_demo"
    sub.mkdir(parents=True)
    shutil.copy(course / "source/q98_tiny_demo/q98_tiny_demo.ipynb", sub / "q98_tiny_demo.ipynb")
    grading = subprocess.run([sys.executable, "-m", "pytest", str(course / "autograder" / "test_q98_tiny_demo.py"),
                              "--submission", str(tmp_path / "sub"), "-q", "-p", "no:cacheprovider",
                              "--rootdir", str(course)], cwd=course, capture_output=True, text=True, timeout=300)
    assert grading.returncode == 0 and "skipped" in grading.stdout, grading.stdout[-2000:]


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="the uid drop needs root")
def test_an_environment_other_users_cannot_enter_keeps_its_packages(tmp_path):
    """The worker drops to an unprivileged uid; a Python environment behind a directory only root
    may enter (pyenv under /root, mode 700) must still serve the imports the zygote did not
    preload (scipy, or a module of the student's own found through sys.path)."""
    locked = Path.home() / f".whiteboard-test-{os.getpid()}"
    site = locked / "site"
    site.mkdir(parents=True)
    try:
        locked.chmod(0o700)
        (site / "locked_helper_module.py").write_text("VALUE = 41\n")
        sub = tmp_path / "submission" / "q05_cross_entropy"
        sub.mkdir(parents=True)
        import nbformat

        nb = nbformat.read(str(ROOT / "solutions" / "q05_cross_entropy" / "q05_cross_entropy.ipynb"), as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(
            "_good = softmax\n"
            "def softmax(z, axis=-1):\n"
            "    import scipy.special, locked_helper_module  # imported only when called, after the uid drop\n"
            "    assert locked_helper_module.VALUE == 41\n"
            "    return scipy.special.softmax(z, axis=axis)\n"))
        nbformat.write(nb, str(sub / "q05_cross_entropy.ipynb"))
        script = ("import json\nfrom whiteboard.grading.grade import grade\n"
                  f"r = grade({str(tmp_path / 'submission')!r}, ['q05_cross_entropy'], public_only=True)\n"
                  "print(json.dumps(r['assignments']['q05_cross_entropy']))\n")
        run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(site)), timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        import json

        result = json.loads(run.stdout.strip().splitlines()[-1])
        failed = [(c["id"], c["message"][:300]) for c in result["checks"] if not c["passed"]]
        assert not failed, failed
    finally:
        import shutil

        shutil.rmtree(locked)


def test_the_codec_keeps_shapes_and_types():
    """Plain data crosses the process boundary unchanged: a 0-dim tensor stays 0-dim, a
    transposed array keeps its values, sets stay sets; a masked array only in frozen data."""
    import numpy as np
    import torch

    from whiteboard.worker import codec

    sent = {"scalar": np.array(3.5), "tensor": torch.tensor(2.0, dtype=torch.float64),
            "t": np.arange(6.0).reshape(2, 3).T, "set": {"a", "b"}, "tuple": (1, [2, 3])}
    got = codec.round_trip(sent)
    assert got["scalar"].shape == () and got["tensor"].shape == () and got["tensor"].dtype == torch.float64
    assert np.array_equal(got["t"], sent["t"]) and got["set"] == {"a", "b"} and got["tuple"] == (1, [2, 3])
    masked = np.ma.MaskedArray([1.0, 2.0], mask=[True, False])
    assert not isinstance(codec.round_trip(masked), np.ma.MaskedArray)  # from a worker: data only


def test_a_tiny_mismatch_is_shown_with_enough_digits_to_see_it():
    """Two arrays alike to 6 digits: the message must not read `x instead of x`."""
    import numpy as np
    from whiteboard.grading.compare import mismatch

    label, detail = mismatch(np.array([0.2778712345]), np.array([0.2778712121]), rtol=0, atol=1e-10)
    assert label == "wrong-value"
    assert "0.2778712345 instead of 0.2778712121" in detail, detail
    assert "a difference of 2.2e-08" in detail, detail
    _, plain = mismatch(np.array([1.5]), np.array([2.0]), rtol=0, atol=1e-10)
    assert plain.endswith("1.5 instead of 2"), plain


def test_a_finite_number_never_matches_an_infinite_one():
    """abs(x - inf) <= inf is true: without care any number would match a variant that gives inf."""
    from whiteboard.grading.compare import mismatch

    assert mismatch(186.9, float("inf"), equal_nan=True) == ("wrong-value", "186.9, expected inf")
    assert mismatch(float("inf"), float("inf")) is None
    assert mismatch(float("-inf"), float("inf"))[0] == "wrong-value"
