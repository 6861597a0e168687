"""A Gradescope autograder bundle for the kit, and the program that bundle runs on Gradescope.

`export(out_zip, course)` writes a zip for Gradescope's "Configure Autograder" page. What it holds
follows Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/):

- at the root of the zip, ``setup.sh`` (a Bash script run once, as root, on Gradescope's Ubuntu
  image, to install the dependencies) and ``run_autograder`` (an executable script with a ``#!``
  line, run for every submission, with the working directory ``/autograder``);
- Gradescope unpacks the zip into ``/autograder/source``, puts the student's uploaded files in
  ``/autograder/submission``, and reads the results from ``/autograder/results/results.json``;
  what ``run_autograder`` prints goes to ``/autograder/results/stdout``, shown to instructors only;
- besides those two scripts, the kit needed to grade: ``pyproject.toml``, ``README.md`` (the
  project's readme, which pyproject.toml names), ``nbgrader_config.py``, ``src/whiteboard/``,
  ``autograder/`` and ``gradescope.json`` (the settings below and every check's points). Never
  ``source/`` or ``solutions/``: grading does not need them and students must not see them.

results.json uses these fields of the specification:

- top level: ``score`` (optional when the tests have scores; written anyway, equal to their sum),
  ``output`` (text for the whole submission: points per assignment, notebooks that were not
  recognised, cells that raised, assignments that timed out), ``execution_time`` (seconds),
  ``tests``; ``visibility`` and ``stdout_visibility`` only if set in gradescope.json;
- one entry of ``tests`` per check of the autograder: ``name``
  ("q05_cross_entropy · softmax/large_logits"), ``score``, ``max_score``, ``status``
  ("passed"/"failed"), ``output`` (the teaching message: "[pitfall-label] message", or "passed"),
  ``output_format`` ("text": the messages are aligned plain text), and ``visibility``
  ("visible", "hidden", "after_due_date" or "after_published"; "visible" unless configured).

Grading runs `whiteboard grade --assignment A` once per assignment, each in its own process under
its own wall-time limit, so a notebook that hangs the grading of its assignment loses only that
assignment: its checks are reported with score 0 and a "timed out" message, and the others are
graded as usual. results.json is rewritten (atomically) before the first assignment and after
each one, so even a Gradescope-level timeout leaves results for what was graded; run_autograder
writes a minimal one if Python itself cannot start. Notebook workers run in sessions of their own,
so after each assignment the processes it left (found as adopted orphans of this process, a child
subreaper, and by a marker in their environment) are killed: a worker stuck in a loop does not
go on using a CPU while the next assignment is graded.

Settings (gradescope.json in the bundle; the environment overrides them, which the tests use):

- ``visibility`` / WHITEBOARD_GS_VISIBILITY: the tests' visibility (default "visible");
- ``assignment_timeout_s`` / WHITEBOARD_GS_TIMEOUT: wall time per assignment (default 300 s);
- ``budget_s`` / WHITEBOARD_GS_BUDGET: wall time for the whole submission (default 540 s, inside a
  10-minute Gradescope autograder timeout); assignments it leaves no time for score 0;
- ``assignments`` / WHITEBOARD_GS_ASSIGNMENTS (comma-separated): null grades what was uploaded;
  a list grades only those, and reports a listed assignment that was not uploaded with 0 points;
- ``results_visibility``, ``stdout_visibility``: copied to the top level of results.json if set;
- AUTOGRADER_ROOT: the /autograder tree (default /autograder), so the bundle can be tested
  anywhere.
"""
from __future__ import annotations

import argparse
import contextlib

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from whiteboard.grading.results import fmt_points
from whiteboard.util import replacing, write_atomic

MANIFEST = "gradescope.json"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
DEFAULTS: dict[str, Any] = {"visibility": "visible", "assignment_timeout_s": 300.0,
                            "budget_s": 540.0, "assignments": None}
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_EXECUTABLE = 0o100755 << 16
_REGULAR = 0o100644 << 16
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed, so the same course gives the same zip
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".pytest_cache"}

TEMPLATES = Path(__file__).parent / "templates"
SETUP_SH = (TEMPLATES / "setup.sh").read_text()  # Gradescope runs it once, to build the image
RUN_AUTOGRADER = (TEMPLATES / "run_autograder").read_text()  # ... and this for every submission


# ---- export ----------------------------------------------------------------------------------

def _bundle_files(course: Path) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) of the kit that grading needs."""
    files: list[tuple[Path, str]] = []
    for name in ("pyproject.toml", "README.md", "nbgrader_config.py"):
        if (course / name).is_file():
            files.append((course / name, name))
    for top in ("src/whiteboard", "autograder"):
        base = course / top
        if not base.is_dir():
            raise FileNotFoundError(f"{base} not found: is {course} the course directory?")
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(course)
            if (path.is_file() and not _SKIP_DIRS.intersection(rel.parts)
                    and path.suffix not in (".pyc", ".pyo")
                    and not any(p.endswith(".egg-info") for p in rel.parts)):
                files.append((path, rel.as_posix()))
    return files


def _torch_requirement(course: Path) -> str:
    """The torch requirement of pyproject.toml (e.g. "torch==2.13.*")."""
    import tomllib

    deps = tomllib.loads((course / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        if re.match(r"torch\b", dep.strip()):
            return dep.strip()
    return "torch"


def collect_checks(autograder: Path, assignments: list[str] | None = None) -> dict[str, list[dict]]:
    """Every check of the autograder, without grading: {assignment: [{id, function, max_points}]}.

    The same identities and points `whiteboard grade` reports (a parametrised test is one check),
    so a timed-out assignment can be reported check by check.
    """
    from whiteboard.grading.course import available_assignments
    from whiteboard.grading.plugin import assignment_of, check_id_of
    from whiteboard.util import run_pytest

    autograder = Path(autograder).resolve()
    names = assignments or available_assignments(autograder)
    found: dict[str, dict[str, dict]] = {a: {} for a in names}

    class Collect:
        def pytest_collection_finish(self, session) -> None:
            for item in session.items:
                module = getattr(item, "module", None)
                a = assignment_of(module) if module is not None else None
                if a in found:
                    function, cid, points = check_id_of(item)
                    found[a].setdefault(cid, {"id": cid, "function": function,
                                              "max_points": points})

    # --noconftest: collecting needs neither the plugin's fixtures nor its torch warm-up.
    ini = autograder / "pytest.ini"
    args = [*(str(autograder / f"test_{a}.py") for a in names), "--collect-only", "-q",
            *(["-c", str(ini)] if ini.exists() else []),
            "--noconftest", "-p", "no:cacheprovider", "--rootdir", str(autograder.parent),
            "-W", "ignore"]
    code, output = run_pytest(args, plugins=[Collect()])
    if code != 0:
        raise RuntimeError(f"could not collect the autograder's checks (pytest exit {code}):\n"
                           f"{output[-3000:]}")
    return {a: list(checks.values()) for a, checks in found.items()}


def _zip_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.external_attr = mode
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def export(out_zip: Path, course: Path) -> Path:
    """Write the Gradescope autograder bundle of the course directory `course` to `out_zip`."""
    out_zip, course = Path(out_zip), Path(course).resolve()
    files = _bundle_files(course)
    checks = collect_checks(course / "autograder")
    manifest = dict(DEFAULTS, checks=checks)
    setup = (SETUP_SH.replace("@TORCH@", _torch_requirement(course))
             .replace("@TORCH_INDEX@", TORCH_CPU_INDEX))
    with replacing(out_zip) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(_zip_entry("setup.sh", _EXECUTABLE), setup)
        zf.writestr(_zip_entry("run_autograder", _EXECUTABLE), RUN_AUTOGRADER)
        zf.writestr(_zip_entry(MANIFEST, _REGULAR), json.dumps(manifest, indent=1) + "\n")
        for path, name in files:
            zf.writestr(_zip_entry(name, _REGULAR), path.read_bytes())
    return out_zip


# ---- run (on Gradescope) ---------------------------------------------------------------------

def _settings(source: Path) -> dict[str, Any]:
    try:
        settings = dict(DEFAULTS, **json.loads((source / MANIFEST).read_text()))
    except (OSError, ValueError):
        settings = dict(DEFAULTS, checks={})
    env = os.environ
    if env.get("WHITEBOARD_GS_VISIBILITY"):
        settings["visibility"] = env["WHITEBOARD_GS_VISIBILITY"]
    if env.get("WHITEBOARD_GS_TIMEOUT"):
        settings["assignment_timeout_s"] = float(env["WHITEBOARD_GS_TIMEOUT"])
    if env.get("WHITEBOARD_GS_BUDGET"):
        settings["budget_s"] = float(env["WHITEBOARD_GS_BUDGET"])
    if env.get("WHITEBOARD_GS_ASSIGNMENTS"):
        settings["assignments"] = [a.strip() for a in env["WHITEBOARD_GS_ASSIGNMENTS"].split(",")
                                   if a.strip()]
    if settings["visibility"] not in VISIBILITIES:
        settings["visibility"] = "visible"
    return settings


def find_notebooks(submission: Path, known: list[str]) -> tuple[dict[str, Path], list[str]]:
    """Map the uploaded notebooks (flat or in folders, at any depth) to assignments by file name.

    `qNN_slug.ipynb` is assignment qNN_slug; failing an exact name, a name that starts with a
    known assignment's `qNN` (e.g. "q05_cross_entropy (1).ipynb", "q05.ipynb") counts for it.
    Returns ({assignment: notebook}, notes on what was ignored and why).
    """
    notebooks = sorted(
        (p for p in submission.rglob("*.ipynb")
         if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(submission).parts)),
        key=lambda p: (len(p.relative_to(submission).parts), str(p)))
    by_prefix: dict[str, list[str]] = {}
    for a in known:
        by_prefix.setdefault(a.split("_", 1)[0].lower(), []).append(a)
    exact: dict[str, list[Path]] = {}
    fuzzy: dict[str, list[Path]] = {}
    notes: list[str] = []
    for nb in notebooks:
        rel = nb.relative_to(submission).as_posix()
        stem = nb.stem.strip()
        if stem in known:
            exact.setdefault(stem, []).append(nb)
            continue
        m = re.match(r"(q\d+)", stem, re.IGNORECASE)
        candidates = by_prefix.get(m.group(1).lower(), []) if m else []
        if len(candidates) == 1:
            fuzzy.setdefault(candidates[0], []).append(nb)
        else:
            notes.append(f"{rel}: not one of the assignments ({', '.join(known)}); "
                         "name it after its assignment, e.g. q05_cross_entropy.ipynb - not graded")
    chosen: dict[str, Path] = {}
    for a in known:
        options = exact.get(a, []) + fuzzy.get(a, [])
        if not options:
            continue
        chosen[a] = options[0]
        if options[0] not in exact.get(a, []):
            notes.append(f"{options[0].relative_to(submission).as_posix()}: graded as {a}")
        for other in options[1:]:
            notes.append(f"{other.relative_to(submission).as_posix()}: another notebook for {a}; "
                         f"graded {options[0].relative_to(submission).as_posix()} instead")
    return chosen, notes


def _test(assignment: str, check: dict, visibility: str) -> dict[str, Any]:
    passed = bool(check.get("passed"))
    if passed:
        output = "passed"
    else:
        label = check.get("pitfall") or "failed"
        output = f"[{label}] {check.get('message') or ''}".rstrip()
    return {"name": f"{assignment} · {check['id']}", "score": float(check.get("points", 0.0)),
            "max_score": float(check["max_points"]), "status": "passed" if passed else "failed",
            "output": output, "output_format": "text", "visibility": visibility}


def _zero_results(checks: list[dict], label: str, message: str) -> dict[str, Any]:
    """An assignment's results with every check failed for the same reason (timeout, crash...)."""
    failed = [{"id": c["id"], "function": c["function"], "passed": False, "points": 0.0,
               "max_points": c["max_points"], "pitfall": label, "message": message}
              for c in checks]
    return {"score": 0.0, "max_score": round(sum(c["max_points"] for c in checks), 6),
            "errors": [], "checks": failed}


def to_gradescope(assignments: dict[str, dict], notes: list[str], status: dict[str, str],
                  settings: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """results.json from the kit's per-assignment results (README, Results)."""
    tests: list[dict] = []
    lines: list[str] = []
    for name, result in assignments.items():
        tests += [_test(name, c, settings["visibility"]) for c in result["checks"]]
        state = status.get(name, "")
        lines.append(f"{name}: {fmt_points(result['score'])} / {fmt_points(result['max_score'])}"
                     + (f"  ({state})" if state else ""))
        lines += [f"  ! {e}" for e in result.get("errors", [])]
    if not assignments:
        lines.append("No notebook of this course was found in the submission: upload your "
                     "notebooks (e.g. q05_cross_entropy.ipynb), alone or in their folders.")
    lines += notes
    score = round(sum(t["score"] for t in tests), 6)
    max_score = round(sum(t["max_score"] for t in tests), 6)
    lines.append(f"total: {fmt_points(score)} / {fmt_points(max_score)}")
    results: dict[str, Any] = {"score": score, "execution_time": int(round(elapsed)),
                               "output": "\n".join(lines), "tests": tests}
    for key in ("results_visibility", "stdout_visibility"):
        if settings.get(key) in VISIBILITIES:
            results["visibility" if key == "results_visibility" else key] = settings[key]
    return results


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False))


# Processes the grading leaves behind. Notebook workers and the zygote run in their own sessions,
# so killing the grading process's group does not reach them; a worker stuck in `while True: pass`
# would go on burning a CPU while the next assignment is graded. As a child subreaper this process
# inherits every orphan of its descendants, whatever sessions they made; the marker in their
# environment finds them where prctl is not available.
_MARKER = "WHITEBOARD_GS_RUN"


def _become_subreaper() -> bool:
    try:
        import ctypes

        PR_SET_CHILD_SUBREAPER = 36
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _leftovers(token: str, adopt: bool) -> list[int]:
    """Live processes of this grading: carrying the marker, or (as subreaper) orphans we adopted."""
    me, pids = os.getpid(), []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] in ("Z", "X"):  # already dead, only to be reaped
                mine = False
            else:
                mine = adopt and int(fields[1]) == me
            if not mine:
                environ = (entry / "environ").read_bytes().split(b"\0")
                mine = f"{_MARKER}={token}".encode() in environ
        except (OSError, ValueError, IndexError):
            continue
        if mine:
            pids.append(pid)
    return pids


def _reap(adopt: bool) -> None:
    if not adopt:
        return
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _sweep(token: str, adopt: bool) -> None:
    """SIGKILL whatever the last grading left running (and its process groups), and reap it.

    `adopt`: this process is a subreaper of its own (run_autograder's), so every child it has
    left is grading's; never so when run() is called inside another program.
    """
    for _ in range(10):
        pids = _leftovers(token, adopt)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                group = os.getpgid(pid)
                if group != os.getpgid(0):  # never our own group
                    os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        _reap(adopt)
    _reap(adopt)


def _grade_one(assignment: str, scratch: Path, autograder: Path, limit: float,
               token: str, adopt: bool) -> tuple[str, dict | None, str]:
    """Grade one assignment in its own `whiteboard grade` process: (state, results, detail)."""
    out = scratch / f"{assignment}.results.json"
    cmd = [sys.executable, "-m", "whiteboard", "grade", str(scratch), "--assignment", assignment,
           "--autograder", str(autograder), "--json", str(out), "--quiet"]
    env = dict(os.environ, **{_MARKER: token})
    # Its output (errors only, with --quiet) goes to run_autograder's stdout: instructors only.
    proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        code = proc.wait(timeout=max(limit, 1.0))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _sweep(token, adopt)
        return "timeout", None, ""
    _sweep(token, adopt)
    if code != 0 or not out.is_file():
        return "crash", None, f"exit status {code}"
    try:
        results = json.loads(out.read_text())["assignments"][assignment]
    except (OSError, ValueError, KeyError) as exc:
        return "crash", None, f"unreadable results ({exc})"
    return "graded", results, ""


def run(root: Path | None = None, own_process: bool = False) -> dict[str, Any]:
    """Grade $ROOT/submission with the kit in $ROOT/source; write $ROOT/results/results.json.

    `own_process`: this process exists only to run this (run_autograder's), so it may adopt and
    kill every orphan the grading leaves (as a child subreaper).
    """
    started = time.monotonic()
    root = Path(root or os.environ.get("AUTOGRADER_ROOT", "/autograder")).resolve()
    source, submission = root / "source", root / "submission"
    results_path = root / "results" / "results.json"
    autograder = source / "autograder"
    settings = _settings(source)
    from whiteboard.grading.grade import available_assignments

    known = available_assignments(autograder)
    wanted = [a for a in (settings["assignments"] or known) if a in known]
    notebooks, notes = find_notebooks(submission, known) if submission.is_dir() else ({}, [])
    for a in sorted(set(notebooks) - set(wanted)):
        notes.append(f"{notebooks.pop(a).relative_to(submission).as_posix()}: {a} is not part "
                     "of this assignment - not graded")
    checks: dict[str, list[dict]] = dict(settings.get("checks") or {})
    to_report = sorted(set(notebooks) | (set(wanted) if settings["assignments"] else set()))
    missing = [a for a in to_report if a not in checks]
    if missing:  # a bundle without its manifest: find the checks now
        checks.update(collect_checks(autograder, missing))

    assignments: dict[str, dict] = {}
    status: dict[str, str] = {}
    for a in to_report:
        if a in notebooks:
            assignments[a] = _zero_results(checks[a], "not-graded", "not graded yet: the "
                                           "autograder stopped before it reached this notebook")
            status[a] = "not graded: the autograder ran out of time"
        else:
            assignments[a] = _zero_results(checks[a], "not-submitted", f"no notebook for {a} was "
                                           f"uploaded (expected {a}.ipynb)")
            status[a] = "not submitted"

    def save() -> dict[str, Any]:
        data = to_gradescope(assignments, notes, status, settings, time.monotonic() - started)
        _write_json(results_path, data)
        return data

    save()
    token = f"{os.getpid()}-{time.time_ns()}"
    adopt = own_process and _become_subreaper()
    scratch = Path(tempfile.mkdtemp(prefix="whiteboard-gradescope-"))
    try:
        for a, nb in sorted(notebooks.items()):
            (scratch / a).mkdir()
            shutil.copyfile(nb, scratch / a / f"{a}.ipynb")
        for a in sorted(notebooks):
            left = settings["budget_s"] - (time.monotonic() - started)
            limit = min(settings["assignment_timeout_s"], left)
            if limit < 1:
                continue  # stays "not graded", score 0
            print(f"grading {a} ({notebooks[a].relative_to(submission)}), limit {limit:.0f} s",
                  flush=True)
            t0 = time.monotonic()
            state, result, detail = _grade_one(a, scratch, autograder, limit, token, adopt)
            took = time.monotonic() - t0
            if state == "graded":
                assignments[a], status[a] = result, ""
            elif state == "timeout":
                assignments[a] = _zero_results(
                    checks[a], "timeout",
                    f"timed out: grading {a} took longer than {limit:.0f} s, so none of its checks "
                    "could be scored. The usual cause is a cell that never finishes (an infinite "
                    "loop, a long training run at the top level) or a very slow function: "
                    "restart the kernel, run all cells and check that the notebook finishes "
                    "quickly.")
                status[a] = f"timed out after {limit:.0f} s"
            else:
                assignments[a] = _zero_results(
                    checks[a], "crash", f"the autograder could not grade this notebook ({detail}); "
                    "check that it opens in Jupyter, or ask your instructor, who can see the "
                    "autograder's output.")
                status[a] = f"could not be graded ({detail})"
            print(f"  {a}: {status[a] or 'graded'} in {took:.1f} s, "
                  f"{fmt_points(assignments[a]['score'])} / {fmt_points(assignments[a]['max_score'])}",
                  flush=True)
            save()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _sweep(token, adopt)
    data = save()
    print(data["output"])
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whiteboard.course.gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="grade /autograder/submission into /autograder/results (on "
                                   "Gradescope: what run_autograder does)")
    r.add_argument("--root", default=None, help="the /autograder tree (default: $AUTOGRADER_ROOT "
                                                "or /autograder)")
    e = sub.add_parser("export", help="write the autograder zip (whiteboard export-gradescope)")
    e.add_argument("out_zip")
    e.add_argument("--course", default=".")
    args = parser.parse_args(argv)
    if args.command == "run":
        root = Path(args.root or os.environ.get("AUTOGRADER_ROOT", "/autograder"))
        try:
            run(root, own_process=True)
        except Exception:  # noqa: BLE001 - whatever failed, Gradescope must get a results.json
            import traceback

            traceback.print_exc()
            results = root / "results" / "results.json"
            if not results.is_file():
                _write_json(results, {"score": 0.0, "tests": [], "output": (
                    "The autograder could not run; your instructor can see why in the "
                    "autograder's output. Your submission was received.")})
            return 1
    else:
        print(export(Path(args.out_zip), Path(args.course)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
