"""Building blocks for source notebooks: nbgrader cells with the metadata the kit relies on.

A maintainer writes a short script with these, runs it once to create
`source/qNN_slug/qNN_slug.ipynb`, and from then on edits the notebook itself in Jupyter.

    cells = [
        intro("# q05 Cross-entropy", "..."),
        setup("import numpy as np"),
        *exercise("softmax", "## Softmax ...", solution_source, points=5),
        figure("plot_surface(softmax)"),
    ]
    write("source/q05_cross_entropy/q05_cross_entropy.ipynb", cells)
"""
from __future__ import annotations

from pathlib import Path

import nbformat

_ids: dict[str, int] = {}


def _meta(grade_id: str, *, grade=False, solution=False, locked=True, points=None, tags=()):
    nbg = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
           "solution": solution}
    if points is not None:
        nbg["points"] = points
    meta = {"nbgrader": nbg}
    if tags:
        meta["tags"] = list(tags)
    return meta


def _unique(prefix: str) -> str:
    _ids[prefix] = _ids.get(prefix, 0) + 1
    return f"{prefix}_{_ids[prefix]}"


def markdown(text: str):
    return nbformat.v4.new_markdown_cell(text.strip(), metadata=_meta(_unique("md")))


intro = markdown


def setup(source: str):
    """A locked code cell the student runs but does not edit (imports, given helpers)."""
    return nbformat.v4.new_code_cell(source.strip(), metadata=_meta(_unique("setup")))


def solution(function: str, source: str):
    """The cell the student fills in. Mark the answer with ### BEGIN SOLUTION / ### END SOLUTION."""
    return nbformat.v4.new_code_cell(source.strip(), metadata=_meta(function, solution=True,
                                                                    locked=False))


def selfcheck(function: str):
    """The visible cell that runs `function`'s checks inline."""
    src = f"# Run this cell to check `{function}`.\nwhiteboard.check(\"{function}\")"
    return nbformat.v4.new_code_cell(src, metadata=_meta(f"check_{function}", tags=("selfcheck",)))


def hidden_test(assignment: str, function: str, points: float):
    """nbgrader's graded cell: its hidden part grades the saved notebook in an isolated worker."""
    src = (f"# The hidden tests of `{function}` run here when the notebook is graded.\n"
           "### BEGIN HIDDEN TESTS\n"
           "from whiteboard.course.nbgrader_hook import score\n"
           f"score(\"{assignment}\", \"{function}\")\n"
           "### END HIDDEN TESTS")
    return nbformat.v4.new_code_cell(src, metadata=_meta(f"test_{function}", grade=True,
                                                         points=points))


def exercise(assignment: str, function: str, explanation: str, source: str, points: float):
    """Explanation, the solution cell, the self-check and the hidden test of one function."""
    return [markdown(explanation), solution(function, source), selfcheck(function),
            hidden_test(assignment, function, points)]


def figure(source: str):
    """A locked cell that draws the whiteboard figure from the student's functions (not graded)."""
    return nbformat.v4.new_code_cell(source.strip(), metadata=_meta(_unique("figure"),
                                                                    tags=("figure",)))


def write(path: str | Path, cells: list) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
