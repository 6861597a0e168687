"""The results format of design.md, built from pytest's reports, and its readable form."""
from __future__ import annotations

from typing import Any


def results_from_reports(config, submission: str | None = None) -> dict[str, Any]:
    """Results for every check pytest ran, in the order they ran.

    The plugin attaches the check's identity to each report; a check fails if any of its phases
    (set-up, call) failed.
    """
    from whiteboard.plugin import REPORTS_KEY, RESULTS_KEY

    reports = config.stash.get(REPORTS_KEY, [])
    checks: dict[tuple[str, str], dict] = {}
    for report in reports:
        props = dict(report.user_properties)
        info = props["whiteboard"]
        check = checks.setdefault((info["assignment"], info["id"]), {
            "id": info["id"], "function": info["function"], "passed": True,
            "points": info["max_points"], "max_points": info["max_points"],
            "pitfall": None, "message": ""})
        if report.failed and check["passed"]:
            check.update(passed=False, points=0.0, pitfall=props.get("pitfall", "crash"),
                         message=props.get("message", "the check could not run"))
    assignments: dict[str, dict] = {}
    for (name, _), check in checks.items():
        entry = assignments.setdefault(name, {"score": 0.0, "max_score": 0.0, "errors": [],
                                              "checks": []})
        entry["checks"].append(check)
    opened = config.stash.get(RESULTS_KEY, {})
    for name, entry in assignments.items():
        entry["score"] = round(sum(c["points"] for c in entry["checks"]), 6)
        entry["max_score"] = round(sum(c["max_points"] for c in entry["checks"]), 6)
        if name in opened:
            entry["errors"] = list(opened[name].notebook.errors)
    ordered = dict(sorted(assignments.items()))
    return {
        "submission": submission if submission is not None else str(config.getoption("--submission")
                                                                    or "release"),
        "score": round(sum(a["score"] for a in ordered.values()), 6),
        "max_score": round(sum(a["max_score"] for a in ordered.values()), 6),
        "assignments": ordered,
    }


def _pts(x: float) -> str:
    return f"{x:g}"


def format_report(results: dict[str, Any], failures: bool = True) -> str:
    """Per assignment and function: points, and for each failed check its label and message."""
    lines = []
    for name, a in results["assignments"].items():
        lines.append(f"{name}: {_pts(a['score'])} / {_pts(a['max_score'])}")
        for err in a["errors"]:
            lines.append(f"  ! {err}")
        functions: dict[str, list] = {}
        for c in a["checks"]:
            functions.setdefault(c["function"], []).append(c)
        width = max((len(f) for f in functions), default=0)
        for fn, checks in functions.items():
            got = sum(c["points"] for c in checks)
            total = sum(c["max_points"] for c in checks)
            labels = sorted({c["pitfall"] for c in checks if c["pitfall"]})
            mark = "ok" if got == total else ", ".join(labels)
            lines.append(f"  {fn:<{width}}  {_pts(got):>4} / {_pts(total):<4} {mark}")
            if failures:
                for c in checks:
                    if not c["passed"]:
                        lines.append(f"    x {c['id']} [{c['pitfall']}]")
                        lines.extend("      " + ln for ln in c["message"].splitlines())
    lines.append(f"total: {_pts(results['score'])} / {_pts(results['max_score'])}")
    return "\n".join(lines)
