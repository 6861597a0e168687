"""Write whiteboard's scores into nbgrader's gradebook database, so formgrader shows them.

nbgrader keeps one `Grade` per grade cell of each submitted notebook. The source notebooks have a
hidden grade cell `test_<function>` per graded function, so a function's points (the sum of its
checks) become that cell's `auto_score`, exactly what `nbgrader autograde` would have stored.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def default_db_url(course: Path) -> str:
    """nbgrader's default database for a course directory: `sqlite:///<course>/gradebook.db`."""
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def _function_points(result: dict[str, Any]) -> dict[str, float]:
    from whiteboard.grading.results import by_function

    return {f: sum(c["points"] for c in checks) for f, checks in by_function(result.get("checks", [])).items()}


def _timestamp(submitted: Path | None, student: str, assignment: str) -> dict[str, str]:
    """nbgrader's `timestamp.txt` beside the submission, as `update_or_create_submission` takes it."""
    if submitted is None:
        return {}
    stamp = submitted / student / assignment / "timestamp.txt"
    try:
        text = stamp.read_text().strip()
    except OSError:
        return {}
    return {"timestamp": text} if text else {}


def write_gradebook(results: dict[str, dict[str, Any]], db_url: str,
                    submitted: Path | None = None) -> dict[str, int]:
    """Store each student's scores (student id -> results dict) in the gradebook at `db_url`.

    Only assignments a student submitted are written. Each function's points become the
    auto_score of its test cell; the answers graded by hand keep whatever formgrader holds, so the
    automatic score never waits for them. An assignment the
    gradebook does not know (never released with `nbgrader generate_assignment`) is skipped with one
    message. Returns counts: {"submissions": written, "skipped": skipped}.
    """
    from nbgrader.api import Gradebook, MissingEntry

    written = skipped = 0
    with Gradebook(db_url) as gb:
        known: dict[str, bool] = {}
        for student, res in sorted(results.items()):
            for assignment, result in sorted(res.get("assignments", {}).items()):
                if result.get("submitted") is False:
                    continue  # nothing handed in: nbgrader keeps no submission for it either
                if assignment not in known:
                    try:
                        gb.find_assignment(assignment)
                        known[assignment] = True
                    except MissingEntry:
                        known[assignment] = False
                        print(f"whiteboard: {assignment} is not in the gradebook {db_url}; run "
                              f"`nbgrader generate_assignment {assignment}` first. Its scores were "
                              "not written there.", file=sys.stderr)
                if not known[assignment]:
                    skipped += 1
                    continue
                gb.update_or_create_student(student)
                submission = gb.update_or_create_submission(
                    assignment, student, **_timestamp(submitted, student, assignment))
                points = _function_points(result)
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        name = grade.name
                        if not name.startswith("test_"):
                            continue  # a manually graded cell: not ours to score
                        grade.auto_score = float(points.get(name[len("test_"):], 0.0))
                        # as nbgrader's SaveAutoGrades: a grader's manual score stays, flagged for review
                        grade.needs_manual_grade = grade.manual_score is not None
                gb.db.commit()
                written += 1
    return {"submissions": written, "skipped": skipped}
