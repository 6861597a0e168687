"""Fixtures for the kit's own tests: build submissions from the source notebooks and grade them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from whiteboard.grade import grade

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = ROOT / "autograder"
ASSIGNMENTS = sorted(p.stem[len("test_"):] for p in AUTOGRADER.glob("test_q*.py"))


def source_notebook(assignment: str) -> Path:
    return ROOT / "source" / assignment / f"{assignment}.ipynb"


def make_submission(tmp: Path, assignment: str, extra_cells: list[str] = (),
                    base: Path | None = None) -> Path:
    """A submission dir holding `assignment`'s solution with `extra_cells` appended (the mutation)."""
    nb = nbformat.read(str(base or source_notebook(assignment)), as_version=4)
    for src in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    out = tmp / assignment
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out / f"{assignment}.ipynb"))
    return tmp


def grade_one(submission: Path, assignment: str) -> dict:
    """The results of one assignment (results['assignments'][assignment])."""
    return grade(submission, [assignment], autograder=AUTOGRADER)["assignments"][assignment]


def by_function(result: dict) -> dict[str, dict]:
    """function -> {'score', 'max', 'labels'} for one assignment's results."""
    out: dict[str, dict] = {}
    for c in result["checks"]:
        f = out.setdefault(c["function"], {"score": 0.0, "max": 0.0, "labels": set(), "messages": []})
        f["score"] += c["points"]
        f["max"] += c["max_points"]
        if c["pitfall"]:
            f["labels"].add(c["pitfall"])
            f["messages"].append(c["message"])
    return out


@pytest.fixture
def submission_dir(tmp_path: Path) -> Path:
    return tmp_path / "submission"


def dump(result: dict) -> str:
    return json.dumps(result, indent=1, default=str)[:4000]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
