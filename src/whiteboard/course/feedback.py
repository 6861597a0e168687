"""Feedback for a student: one self-contained HTML page per assignment, built from the results.

The page says, per graded function, what passed and, for each failed check, the pitfall label and
the check's message (which already explains the mistake and its fix). It is built from the results
dict only, so it can never show a hidden test's code: the results hold no source.
"""
from __future__ import annotations

import html
from typing import Any

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.total { font-size: 1.1rem; margin: 0 0 1.5rem; color: #57606a; }
section { border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
section.full { border-left: 6px solid #2da44e; }
section.partial { border-left: 6px solid #bf8700; }
section.zero { border-left: 6px solid #cf222e; }
h2 { font-size: 1.1rem; margin: .2rem 0 .5rem; display: flex; justify-content: space-between; }
h2 code { font-size: 1.05rem; }
ul { margin: .3rem 0; padding-left: 1.3rem; }
li.pass { color: #1a7f37; }
.fail { margin: .6rem 0; }
.label { display: inline-block; background: #ffebe9; color: #a40e26; border-radius: 4px;
         padding: 0 .4rem; font-family: ui-monospace, monospace; font-size: .9rem; }
pre { background: #f6f8fa; border-radius: 4px; padding: .6rem; overflow-x: auto;
      white-space: pre-wrap; font-size: .85rem; margin: .3rem 0; }
.errors { background: #fff8c5; border-radius: 6px; padding: .5rem 1rem; }
"""


def _pts(x: float) -> str:
    return f"{x:g}"


def _points(x: float) -> str:
    return f"{x:g} point" + ("" if x == 1 else "s")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _by_function(checks: list[dict]) -> dict[str, list[dict]]:
    functions: dict[str, list[dict]] = {}
    for c in checks:
        functions.setdefault(c["function"], []).append(c)
    return functions


def _function_section(function: str, checks: list[dict]) -> str:
    got = sum(c["points"] for c in checks)
    total = sum(c["max_points"] for c in checks)
    state = "full" if got == total else ("zero" if got == 0 else "partial")
    parts = [f'<section class="{state}"><h2><code>{_e(function)}</code>'
             f"<span>{_pts(got)} / {_pts(total)} points</span></h2>"]
    passed = [c for c in checks if c["passed"]]
    if passed:
        parts.append("<p>Passed:</p><ul>")
        # the part after "function/" names the check; the full id adds nothing here
        parts += [f'<li class="pass">{_e(c["id"].split("/", 1)[-1])}</li>' for c in passed]
        parts.append("</ul>")
    for c in checks:
        if not c["passed"]:
            parts.append(f'<div class="fail"><strong>Failed: {_e(c["id"].split("/", 1)[-1])}</strong> '
                         f'<span class="label">{_e(c["pitfall"])}</span> '
                         f'({_points(c["max_points"])})<pre>{_e(c["message"])}</pre></div>')
    parts.append("</section>")
    return "\n".join(parts)


def feedback_html(assignment: str, result: dict[str, Any], student: str | None = None) -> str:
    """The feedback page for one assignment's results (`results['assignments'][assignment]`)."""
    title = f"{assignment}" + (f" \N{EN DASH} {student}" if student else "")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Feedback: {_e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>Feedback: {_e(title)}</h1>",
             f'<p class="total">Total: <strong>{_pts(result["score"])} / '
             f'{_pts(result["max_score"])}</strong> points</p>']
    if result.get("errors"):
        parts.append('<div class="errors"><p>Problems running the notebook:</p><ul>')
        parts += [f"<li><pre>{_e(err)}</pre></li>" for err in result["errors"]]
        parts.append("</ul></div>")
    for function, checks in _by_function(result.get("checks", [])).items():
        parts.append(_function_section(function, checks))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
