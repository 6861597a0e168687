"""Feedback for a student: one self-contained HTML page per assignment, built from the results.

The page carries the course, the assignment, the date and the total; per graded function what
passed and, for each failed check, the pitfall label and the check's message (which explains the
mistake and its fix), said once when every check of a function failed for the same reason; the
student's own code of a function that lost points; the figure their notebook drew; and the
questions their instructor grades by hand. It never shows a hidden test's code: results hold none.
It prints well (a student saves it as PDF).
"""
from __future__ import annotations

import ast
import base64
import datetime as _dt
import html
import json
from pathlib import Path
from typing import Any

from whiteboard.grading.results import (NOTEBOOK_PROBLEM, by_function, fmt_points, notebook_failure, plural,
                                       shared_failure)

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.meta { color: #57606a; margin: 0; }
.total { font-size: 1.1rem; margin: .6rem 0 1.5rem; }
section { border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0;
          break-inside: avoid-page; }
section.full { border-left: 6px solid #2da44e; }
section.partial { border-left: 6px solid #bf8700; }
section.zero { border-left: 6px solid #cf222e; }
section.manual { border-left: 6px solid #8250df; }
h2 { font-size: 1.1rem; margin: .2rem 0 .5rem; display: flex; justify-content: space-between; }
h2 code { font-size: 1.05rem; }
ul { margin: .3rem 0; padding-left: 1.3rem; }
li.pass { color: #1a7f37; }
.about { color: #57606a; }
.fail { margin: .6rem 0; }
.label { display: inline-block; background: #ffebe9; color: #a40e26; border-radius: 4px;
         padding: 0 .4rem; font-family: ui-monospace, monospace; font-size: .9rem; }
pre { background: #f6f8fa; border-radius: 4px; padding: .6rem; overflow-x: auto;
      white-space: pre-wrap; font-size: .85rem; margin: .3rem 0; }
details summary { cursor: pointer; color: #0969da; }
.errors { background: #fff8c5; border-radius: 6px; padding: .5rem 1rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  details { display: block; } details > summary { display: none; }
  details:not([open]) > *:not(summary) { display: block; }
  a { color: inherit; }
}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _check_name(check: dict) -> str:
    name = check["id"].split("/", 1)[-1]  # the function is the section's title
    about = f' <span class="about">({_e(check["description"])})</span>' if check.get("description") else ""
    return f"{_e(name)}{about}"


def _function_section(function: str, checks: list[dict], code: str | None, whole: bool = False) -> str:
    got = sum(c["points"] for c in checks)
    total = sum(c["max_points"] for c in checks)
    state = "full" if got == total else ("zero" if got == 0 else "partial")
    parts = [f'<section class="{state}"><h2><code>{_e(function)}</code>'
             f"<span>{fmt_points(got)} / {plural(total, 'point')}</span></h2>"]
    once = shared_failure(checks)
    if whole:
        pass  # the notebook's problem is said once, at the top of the page
    elif once is not None:
        parts.append(f'<div class="fail"><strong>Every check failed for the same reason</strong> '
                     f'<span class="label">{_e(once["pitfall"])}</span>'
                     f'<pre>{_e(once["message"])}</pre></div>')
    else:
        passed = [c for c in checks if c["passed"]]
        if passed:
            parts.append("<p>Passed:</p><ul>")
            parts += [f'<li class="pass">{_check_name(c)}</li>' for c in passed]
            parts.append("</ul>")
        for c in checks:
            if not c["passed"]:
                parts.append(f'<div class="fail"><strong>Failed: {_check_name(c)}</strong> '
                             f'<span class="label">{_e(c["pitfall"])}</span> '
                             f'({plural(c["max_points"], "point")})<pre>{_e(c["message"])}</pre></div>')
    if code and got < total:
        parts.append(f"<details open><summary>Your code</summary><pre>{_e(code)}</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


def _manual_section(manual: list[dict]) -> str:
    total = sum(m["max_points"] for m in manual)
    items = "".join(f"<li>{_e(m['title'] or m['id'])} ({plural(m['max_points'], 'point')})</li>"
                    for m in manual)
    return (f'<section class="manual"><h2><span>Graded by your instructor</span>'
            f"<span>{plural(total, 'point')}</span></h2><p>Your answers to these questions are read "
            f"by hand; their points are not in the total above.</p><ul>{items}</ul></section>")


def read_notebook(path: Path | None) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def function_sources(doc: dict | None) -> dict[str, str]:
    """The source of each top-level function or class the notebook's code cells define (the last
    definition wins, as when the notebook runs)."""
    found: dict[str, str] = {}
    for cell in (doc or {}).get("cells", []) if isinstance(doc, dict) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = ast.get_source_segment(source, node) or ""
    return found


def figures(doc: dict | None) -> list[str]:
    """The PNG images (base64) that the notebook's figure cells show in their saved outputs."""
    images = []
    for cell in (doc or {}).get("cells", []) if isinstance(doc, dict) else []:
        if not isinstance(cell, dict) or "figure" not in (cell.get("metadata") or {}).get("tags", []):
            continue
        for out in cell.get("outputs", []) or []:
            png = (out.get("data") or {}).get("image/png") if isinstance(out, dict) else None
            if isinstance(png, list):
                png = "".join(png)
            if isinstance(png, str) and png.strip():
                try:
                    base64.b64decode(png, validate=False)
                except ValueError:
                    continue
                images.append(png.strip().replace("\n", ""))
    return images


def feedback_html(assignment: str, result: dict[str, Any] | None, student: str | None = None,
                  notebook: Path | None = None, course: str | None = None,
                  date: str | None = None) -> str:
    """The feedback page for one assignment's results (`results['assignments'][assignment]`);
    `result` None (or marked not submitted) makes the page that says the assignment is missing.
    `notebook`: the student's notebook, for their code and their figure."""
    date = date or _dt.date.today().isoformat()
    title = f"{assignment}" + (f" \N{EN DASH} {student}" if student else "")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Feedback: {_e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>Feedback: {_e(assignment)}</h1>",
             f'<p class="meta">{_e(course or "Whiteboard")} · student {_e(student or "-")} · {_e(date)}</p>']
    if result is None or result.get("submitted") is False:
        total = (result or {}).get("max_score", 0.0)
        parts.append(f'<p class="total">Total: <strong>0 / {fmt_points(total)}</strong> points</p>')
        parts.append(f'<div class="errors"><p>No notebook was submitted for {_e(assignment)} '
                     f"(expected <code>{_e(assignment)}/{_e(assignment)}.ipynb</code>), so it scores 0."
                     "</p></div></body></html>")
        return "\n".join(parts) + "\n"
    manual = result.get("manual", [])
    pending = f" (+ {plural(result.get('manual_max_score', 0), 'point')} graded by hand)" if manual else ""
    parts.append(f'<p class="total">Total: <strong>{fmt_points(result["score"])} / '
                 f'{fmt_points(result["max_score"])}</strong> points{pending}</p>')
    whole = notebook_failure(result.get("checks", []))
    if whole is not None:
        parts.append(f'<div class="errors"><p><span class="label">{_e(whole["pitfall"])}</span> '
                     f'{_e(whole["message"][len(NOTEBOOK_PROBLEM):])}</p></div>')
    elif result.get("errors"):
        parts.append('<div class="errors"><p>Problems running the notebook:</p><ul>')
        parts += [f"<li><pre>{_e(err)}</pre></li>" for err in result["errors"]]
        parts.append("</ul></div>")
    doc = read_notebook(notebook)
    sources = function_sources(doc)
    for function, checks in by_function(result.get("checks", [])).items():
        parts.append(_function_section(function, checks, sources.get(function), whole is not None))
    if manual:
        parts.append(_manual_section(manual))
    for png in figures(doc)[:3]:
        parts.append(f'<figure><img alt="the figure your notebook drew" src="data:image/png;base64,{png}">'
                     "<figcaption>The figure your notebook drew.</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
