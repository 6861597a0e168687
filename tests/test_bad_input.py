"""Bad submissions get a clear message, lose only what they break, and never stop the grading."""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT, by_function, grade_one, make_submission

A = "q05_cross_entropy"


def graded(tmp_path, *cells: str) -> dict:
    return by_function(grade_one(make_submission(tmp_path, A, list(cells)), A))


def assert_only(functions: dict, function: str, label: str, text: str = "") -> None:
    """`function` fails with `label` (and `text` in a message); every other function is untouched."""
    assert label in functions[function]["labels"], functions[function]
    if text:
        assert any(text in m for m in functions[function]["messages"]), functions[function]["messages"]
    others = {f: v["labels"] for f, v in functions.items() if f != function and v["score"] != v["max"]}
    assert not others, others


def test_returns_none(tmp_path):
    f = graded(tmp_path, "def softmax(z, axis=-1):\n    e = np.exp(z - z.max(axis=axis, keepdims=True))\n"
                         "    e / e.sum(axis=axis, keepdims=True)\n")
    assert_only(f, "softmax", "wrong-type", "returned None")


def test_returns_a_list(tmp_path):
    f = graded(tmp_path, "_good = softmax\ndef softmax(z, axis=-1):\n    return _good(z, axis).tolist()\n")
    assert_only(f, "softmax", "wrong-type", "list")


def test_wrong_shape(tmp_path):
    f = graded(tmp_path, "_good = softmax\ndef softmax(z, axis=-1):\n    return _good(z, axis).ravel()\n")
    assert_only(f, "softmax", "wrong-shape", "shape")


def test_wrong_dtype_float32_within_tolerance_passes(tmp_path):
    f = graded(tmp_path, "_good = softmax\ndef softmax(z, axis=-1):\n    return _good(z, axis).astype(np.float32)\n")
    assert f["softmax"]["score"] == f["softmax"]["max"], f["softmax"]


def test_integer_result_is_wrong(tmp_path):
    f = graded(tmp_path, "_good = softmax\ndef softmax(z, axis=-1):\n    return _good(z, axis).round().astype(int)\n")
    assert f["softmax"]["score"] == 0 and f["softmax"]["labels"] <= {"wrong-value"}, f["softmax"]


def test_nan(tmp_path):
    f = graded(tmp_path, "def cross_entropy(logits, targets):\n    return float('nan')\n")
    assert_only(f, "cross_entropy", "nan-or-inf")


def test_exception_in_function(tmp_path):
    f = graded(tmp_path, "def softmax(z, axis=-1):\n    return z.nonexistent()\n")
    assert_only(f, "softmax", "crash", "AttributeError")


def test_missing_function(tmp_path):
    f = graded(tmp_path, "softmax_v2 = softmax\ndel softmax\n")
    assert_only(f, "softmax", "not-implemented", "defines no `softmax`")


def test_syntax_error_cell_costs_only_that_cell(tmp_path):
    nb = nbformat.read(str(ROOT / "source" / A / f"{A}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "log_softmax":
            cell.source = "def log_softmax(z, axis=-1)\n    return z\n"  # missing colon
    folder = tmp_path / A
    folder.mkdir()
    nbformat.write(nb, str(folder / f"{A}.ipynb"))
    result = grade_one(tmp_path, A)
    f = by_function(result)
    assert f["log_softmax"]["score"] == 0 and "not-implemented" in f["log_softmax"]["labels"]
    assert any("SyntaxError" in e for e in result["errors"]), result["errors"]
    assert f["softmax"]["score"] == f["softmax"]["max"]
    # cross_entropy calls log_softmax: the reference answers it, so nothing else is charged
    assert f["cross_entropy"]["score"] == f["cross_entropy"]["max"]


@pytest.mark.parametrize("body,text", [
    ("raise SystemExit(3)", "SystemExit"),
    ("import os; os._exit(7)", "ended the Python process"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "ended the Python process"),
])
def test_function_that_ends_the_process(tmp_path, body, text):
    f = graded(tmp_path, f"def softmax(z, axis=-1):\n    {body}\n")
    assert_only(f, "softmax", "crash", text)


def test_infinite_loop_in_function(tmp_path, monkeypatch):
    from whiteboard.grading import submission

    monkeypatch.setattr(submission, "CALL_TIMEOUT_S", 3.0)
    f = graded(tmp_path, "def log_softmax(z, axis=-1):\n    while True:\n        pass\n")
    assert_only(f, "log_softmax", "timeout", "did not return")


def test_infinite_loop_and_exit_in_cells(tmp_path, monkeypatch):
    from whiteboard.grading import submission

    monkeypatch.setattr(submission, "CELL_TIMEOUT_S", 3.0)
    result = grade_one(make_submission(tmp_path, A, ["while True:\n    pass\n", "import os\nos._exit(1)\n",
                                                     "raise SystemExit('bye')\n"]), A)
    assert result["score"] == result["max_score"], result
    errors = " ".join(result["errors"])
    assert "did not finish" in errors and "ended the Python process" in errors and "SystemExit" in errors


def test_output_flood_costs_nothing(tmp_path):
    f = graded(tmp_path, "import sys\nfor _ in range(200_000):\n    print('x' * 100)\n    sys.stderr.write('y' * 100)\n",
               "_good = softmax\ndef softmax(z, axis=-1):\n    print('debug ' * 100_000)\n"
               "    import warnings; warnings.warn('noisy')\n    return _good(z, axis)\n")
    assert all(v["score"] == v["max"] for v in f.values()), f


def test_mutating_the_input(tmp_path):
    f = graded(tmp_path, "_good = softmax\ndef softmax(z, axis=-1):\n    out = _good(z, axis)\n    z[...] = 0\n    return out\n")
    assert_only(f, "softmax", "mutates-input", "in place")


def test_malformed_and_missing_notebooks_via_cli(tmp_path):
    (tmp_path / A).mkdir()
    (tmp_path / A / f"{A}.ipynb").write_text("{ this is not json")
    (tmp_path / "q11_convolution").mkdir()  # folder without its notebook
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "whiteboard", "grade", str(tmp_path), "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    results = json.loads(out.read_text())
    bad = results["assignments"][A]
    assert bad["score"] == 0 and "not a readable notebook" in bad["errors"][0]
    assert {c["pitfall"] for c in bad["checks"]} == {"crash"}
    if "q11_convolution" in results["assignments"]:
        missing = results["assignments"]["q11_convolution"]
        assert missing["score"] == 0 and "not found" in missing["errors"][0]
        assert {c["pitfall"] for c in missing["checks"]} == {"not-implemented"}
    assert "not a readable notebook" in run.stdout
