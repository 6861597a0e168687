"""Building blocks for source notebooks: nbgrader cells with the metadata the kit relies on.

`whiteboard new qNN_slug` writes a first notebook with these; from then on a maintainer edits the
notebook itself in Jupyter. Each exercise is four cells: the question (markdown), the answer cell
(a stub with a docstring, the solution between ### BEGIN/END SOLUTION), the self-check and
nbgrader's hidden test. A question no function can grade (derive, explain, label a drawing) is
two cells: the question and a manually graded answer cell whose model answer and rubric sit
between the solution markers, so that release/ never holds them.

    cells = [
        markdown("# q05 · Cross-entropy"),
        setup("import numpy as np\\nimport whiteboard\\n\\nASSIGNMENT = 'q05_cross_entropy'"),
        *exercise("q05_cross_entropy", "softmax", "## 1. Softmax\\n...",
                  "def softmax(z, axis=-1):\\n    ### BEGIN SOLUTION\\n    ...\\n    ### END SOLUTION", points=7),
        *answer("why_log", "## Why the log?\\n...", "Model answer: ...\\n\\nRubric: ...", points=2),
        figure("plot(softmax)"),
    ]
    write("source/q05_cross_entropy/q05_cross_entropy.ipynb", cells)
"""
from __future__ import annotations

from pathlib import Path

import nbformat


class _Ids:
    """Unique grade ids for cells that need one but are not named (md_1, setup_1, ...)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}_{self.counts[prefix]}"


_ids = _Ids()


def _meta(grade_id: str, *, grade=False, solution=False, locked=True, points=None, tags=()):
    nbg = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
           "solution": solution}
    if points is not None:
        nbg["points"] = points
    meta = {"nbgrader": nbg}
    if tags:
        meta["tags"] = list(tags)
    return meta


def markdown(text: str):
    """A locked markdown cell: explanation, a question's text."""
    return nbformat.v4.new_markdown_cell(text.strip(), metadata=_meta(_ids.next("md")))


def setup(source: str):
    """A locked code cell the student runs but does not edit (imports, given helpers)."""
    return nbformat.v4.new_code_cell(source.strip(), metadata=_meta(_ids.next("setup")))


def solution(function: str, source: str):
    """The cell the student fills in. Mark the answer with ### BEGIN SOLUTION / ### END SOLUTION."""
    return nbformat.v4.new_code_cell(source.strip(), metadata=_meta(function, solution=True, locked=False))


def selfcheck(function: str):
    """The visible cell that runs `function`'s public checks on its live definition."""
    src = f"# Run this cell to check `{function}`.\nwhiteboard.check(\"{function}\")"
    return nbformat.v4.new_code_cell(src, metadata=_meta(f"check_{function}", tags=("selfcheck",)))


def hidden_test(assignment: str, function: str, points: float):
    """nbgrader's graded cell: its hidden part grades the saved notebook in an isolated worker."""
    src = (f"# The hidden tests of `{function}` run here when the notebook is graded.\n"
           "### BEGIN HIDDEN TESTS\n"
           "from whiteboard.course.nbgrader_hook import score\n"
           f"score(\"{assignment}\", \"{function}\")\n"
           "### END HIDDEN TESTS")
    return nbformat.v4.new_code_cell(src, metadata=_meta(f"test_{function}", grade=True, points=points))


def exercise(assignment: str, function: str, explanation: str, source: str, points: float) -> list:
    """Explanation, the answer cell, the self-check and the hidden test of one function."""
    return [markdown(explanation), solution(function, source), selfcheck(function),
            hidden_test(assignment, function, points)]


def answer(grade_id: str, question: str, model_answer: str, points: float) -> list:
    """A question graded by hand: the question, and the answer cell with the model answer and the
    rubric between the solution markers (nbgrader replaces them with "YOUR ANSWER HERE")."""
    body = f"### BEGIN SOLUTION\n{model_answer.strip()}\n### END SOLUTION"
    cell = nbformat.v4.new_markdown_cell(body, metadata=_meta(grade_id, grade=True, solution=True,
                                                              locked=False, points=points))
    return [markdown(question), cell]


def figure(source: str):
    """A locked cell that draws the whiteboard figure from the student's functions (not graded)."""
    return nbformat.v4.new_code_cell(source.strip(), metadata=_meta(_ids.next("figure"), tags=("figure",)))


def write(path: str | Path, cells: list) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
