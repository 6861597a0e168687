"""The results format of design.md, built from pytest's reports, and its readable form."""
from __future__ import annotations

from typing import Any


def results_from_reports(config, stats: dict, submission: str | None = None) -> dict[str, Any]:
    """Results for every check pytest ran (reports carry what the plugin attached to them)."""
    from whiteboard.plugin import RESULTS_KEY

    assignments: dict[str, dict] = {}
    seen: set[str] = set()
    for outcome in ("passed", "failed", "error"):
        for report in stats.get(outcome, []):
            props = dict(getattr(report, "user_properties", []))
            info = props.get("whiteboard")
            if info is None or (info["id"], info["assignment"]) in seen:
                continue
            seen.add((info["id"], info["assignment"]))
            passed = outcome == "passed"
            entry = assignments.setdefault(info["assignment"], {"score": 0.0, "max_score": 0.0,
                                                                 "errors": [], "checks": []})
            entry["checks"].append({
                "id": info["id"], "function": info["function"], "passed": passed,
                "points": info["max_points"] if passed else 0.0, "max_points": info["max_points"],
                "pitfall": None if passed else props.get("pitfall", "crash"),
                "message": "" if passed else props.get("message", "the check could not run"),
            })
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
