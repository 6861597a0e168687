"""The results of a grading (see README, "Results"), built from pytest's reports, and their text form.

    {"submission": DIR, "score": 37.0, "max_score": 170.0,
     "assignments": {"q15_self_attention": {
        "score": 6.0, "max_score": 10.0, "errors": [],
        "checks": [{"id": "scaled_dot_product_attention/matches_reference",
                    "function": "scaled_dot_product_attention", "description": "...",
                    "passed": false, "points": 0.0, "max_points": 2.0,
                    "pitfall": "missing-sqrt-dk-scaling", "message": "..."}],
        "manual_max_score": 4.0,
        "manual": [{"id": "why_scale", "max_points": 4.0, "title": "..."}]}}}

`score` counts the automatic checks only: the manually graded answers (`manual`) are scored by the
instructor in nbgrader's formgrader and never hold the automatic score back.
"""
from __future__ import annotations

from typing import Any

HIDDEN_NOTE = ("On hidden inputs (a version of this check that only your instructor's grade runs, "
               "with other numbers): ")


def results_from_reports(reports: list, extra: dict[str, dict], submission: str) -> dict[str, Any]:
    """Results for every check pytest ran, in the order they ran.

    A check's public and hidden runs are one check: it passes when both pass, and fails with the
    first failure's label and message. `extra[assignment]` holds the notebook's `errors` and its
    `manual` answer cells.
    """
    checks: dict[tuple[str, str], dict] = {}
    for report in reports:
        props = dict(report.user_properties)
        info = props["whiteboard"]
        check = checks.setdefault((info["assignment"], info["id"]), {
            "id": info["id"], "function": info["function"], "description": info.get("description", ""),
            "passed": True, "points": info["max_points"], "max_points": info["max_points"],
            "pitfall": None, "message": ""})
        if report.failed and check["passed"]:
            message = props.get("message", "the check could not run")
            check.update(passed=False, points=0.0, pitfall=props.get("pitfall", "crash"),
                         message=(HIDDEN_NOTE + message) if info.get("hidden") else message)
    assignments: dict[str, dict] = {}
    for (name, _), check in checks.items():
        assignments.setdefault(name, {"score": 0.0, "max_score": 0.0, "errors": [], "checks": []})
        assignments[name]["checks"].append(check)
    for name, entry in assignments.items():
        entry["score"] = points_sum(c["points"] for c in entry["checks"])
        entry["max_score"] = points_sum(c["max_points"] for c in entry["checks"])
        entry["errors"] = list(extra.get(name, {}).get("errors", []))
        manual = list(extra.get(name, {}).get("manual", []))
        entry["manual_max_score"] = points_sum(m["max_points"] for m in manual)
        entry["manual"] = manual
    ordered = dict(sorted(assignments.items()))
    return {"submission": submission,
            "score": points_sum(a["score"] for a in ordered.values()),
            "max_score": points_sum(a["max_score"] for a in ordered.values()),
            "assignments": ordered}


def points_sum(values) -> float:
    return round(sum(values), 6)


def fmt_points(x: float) -> str:
    """3, 2.5: points as people write them."""
    return f"{x:g}"


def plural(n: float, word: str) -> str:
    """'1 point', '2 points', '1 worker'."""
    return f"{fmt_points(n)} {word}" + ("" if n == 1 else "s")


def by_function(checks: list[dict]) -> dict[str, list[dict]]:
    """Checks grouped by the function they grade, in order."""
    functions: dict[str, list[dict]] = {}
    for c in checks:
        functions.setdefault(c["function"], []).append(c)
    return functions


def shared_failure(checks: list[dict]) -> dict | None:
    """When every check of a function failed for one reason that is not about the answer (a stub, a
    missing function, an unreadable notebook), that check: say it once, not once per check."""
    if not checks or any(c["passed"] for c in checks):
        return None
    first = checks[0]
    reason = first["message"].split("\n", 1)[0]
    same = all(c["pitfall"] == first["pitfall"] and c["message"].split("\n", 1)[0] == reason
               for c in checks)
    return first if same and first["pitfall"] in ("not-implemented", "crash", "timeout") else None


NOTEBOOK_PROBLEM = "The notebook: "


def notebook_failure(checks: list[dict]) -> dict | None:
    """When the notebook as a whole could not be graded (missing, unreadable), every check carries
    the same message about it: that check, to say it once for the assignment."""
    if checks and all(not c["passed"] and c["message"].startswith(NOTEBOOK_PROBLEM) for c in checks) \
            and len({c["message"] for c in checks}) == 1:
        return checks[0]
    return None


def format_report(results: dict[str, Any], failures: bool = True) -> str:
    """Per assignment and function: points, and for each failed check its label and message."""
    lines = []
    for name, a in results["assignments"].items():
        manual = (f"  (+ {plural(a['manual_max_score'], 'point')} graded by hand)"
                  if a.get("manual_max_score") else "")
        lines.append(f"{name}: {fmt_points(a['score'])} / {fmt_points(a['max_score'])}{manual}")
        whole = notebook_failure(a["checks"])
        if whole is not None:
            lines.append(f"  x [{whole['pitfall']}] {whole['message'][len(NOTEBOOK_PROBLEM):]}")
        else:
            lines.extend(f"  ! {err}" for err in a["errors"])
        functions = by_function(a["checks"])
        width = max((len(f) for f in functions), default=0)
        for fn, checks in functions.items():
            got = sum(c["points"] for c in checks)
            total = sum(c["max_points"] for c in checks)
            labels = sorted({c["pitfall"] for c in checks if c["pitfall"]})
            mark = "ok" if got == total else ", ".join(labels)
            lines.append(f"  {fn:<{width}}  {fmt_points(got):>4} / {fmt_points(total):<4} {mark}")
            if not failures or whole is not None:
                continue
            once = shared_failure(checks)
            if once is not None:
                lines.append(f"    x every check [{once['pitfall']}]")
                lines.extend("      " + ln for ln in once["message"].splitlines())
                continue
            for c in checks:
                if not c["passed"]:
                    about = f": {c['description']}" if c.get("description") else ""
                    lines.append(f"    x {c['id']} [{c['pitfall']}]{about}")
                    lines.extend("      " + ln for ln in c["message"].splitlines())
    lines.append(f"total: {fmt_points(results['score'])} / {fmt_points(results['max_score'])}")
    return "\n".join(lines)
