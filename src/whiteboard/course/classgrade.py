"""Grade a whole class: nbgrader's `submitted/<student>/<assignment>/<assignment>.ipynb` tree.

A fixed pool of worker processes grades one student at a time each, with `whiteboard.grading.grade.grade`,
the same function `whiteboard grade` runs, so every student gets the score they would get alone.
Each pool process keeps its zygote (the warm process that notebook workers are forked from)
between students, which is where the speed comes from; the number of processes is fixed, so memory
does not grow with the number of students.

The parent is the only writer of OUT: each student's results are written atomically as soon as
they arrive, with a manifest of content hashes, so an interrupted run loses no finished grade and
a re-run skips the students whose notebooks (and the autograder) have not changed.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whiteboard.grading.results import plural
from whiteboard.util import sweep_temporaries, write_atomic

MANIFEST = ".whiteboard-manifest.json"


# ---- discovery -------------------------------------------------------------------------------

@dataclass
class Roster:
    """What is to be graded: the class's assignments and, per student, those they submitted."""

    assignments: list[str]
    submitted: dict[str, list[str]]  # student id -> assignments with a notebook, in order


def discover(submitted: Path, autograder: Path, only: list[str] | None = None) -> Roster:
    """Students (sorted) and their notebooks under `submitted`, limited to what the autograder knows.

    Without `only`, the class's assignments are the known ones at least one student submitted.
    """
    from whiteboard.grading.course import available_assignments

    known = available_assignments(autograder)
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise ValueError(f"no autograder for {', '.join(unknown)} (known: {', '.join(known)})")
    selected = [a for a in known if a in set(only)] if only else known
    students = sorted(d.name for d in submitted.iterdir() if d.is_dir() and not d.name.startswith("."))
    present = {s: [a for a in selected if (submitted / s / a / f"{a}.ipynb").is_file()] for s in students}
    assignments = selected if only else [a for a in selected if any(a in p for p in present.values())]
    return Roster(assignments, present)


# ---- skipping what has not changed -----------------------------------------------------------

def _files_digest(paths) -> bytes:
    h = hashlib.sha256()
    for p in paths:
        if p.is_file():
            h.update(p.as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.digest()


def grader_digests(autograder: Path, assignments: list[str]) -> dict[str, bytes]:
    """Per assignment, a hash of everything besides the notebook that decides its grade: the
    engine's code, the autograder's shared files and that assignment's own checks, labels,
    references, harnesses and frozen data. A fixed check regrades everyone's copy of that
    assignment, and only that one."""
    import whiteboard

    engine = Path(whiteboard.__file__).parent
    shared = _files_digest(sorted(p for p in engine.rglob("*") if "__pycache__" not in p.parts)
                           + [autograder / "conftest.py", autograder / "__init__.py"])
    return {a: shared + _files_digest([autograder / f"test_{a}.py", *sorted(autograder.glob(f"*/{a}.*"))])
            for a in assignments}


def notebook_digest(student_dir: Path, assignment: str, grader: bytes) -> str:
    """sha256 of an assignment's grader digest and the student's notebook's bytes."""
    nb = student_dir / assignment / f"{assignment}.ipynb"
    h = hashlib.sha256(grader + assignment.encode() + b"\0")
    h.update(nb.read_bytes() if nb.is_file() else b"<missing>")
    return h.hexdigest()


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---- the pool --------------------------------------------------------------------------------

# What every pool process and its zygote import, loaded once in the forkserver that forks the pool
# processes: with N pool processes that is N-1 imports of torch fewer, and none at all for their
# zygotes, which are forked from the pool processes (seconds each on 2 cores).
# Only imports: the forkserver runs no torch operation, so it has no threads to break by forking.
_PRELOAD = ["whiteboard.course.orphan_guard",  # first: the forkserver dies with the run
            "numpy", "torch", "torch._dynamo", "matplotlib.pyplot", "pytest", "whiteboard.worker.process",
            "whiteboard.grading.grade", "whiteboard.grading.checks", "whiteboard.course.classgrade"]


def _init_worker(threads: int, preload: tuple[str, ...]) -> None:
    """Runs first in each pool process, while it holds nothing but imported modules: fork its
    zygote (see submission.Zygote), then share the cores between the processes, or N processes x
    N threads each would oversubscribe them."""
    from whiteboard.grading.submission import zygote
    from whiteboard.worker import sandbox

    sandbox.die_with_parent()  # the forkserver gone (the run killed): this pool process goes too
    try:
        zygote(preload, fork=True)
    except (OSError, RuntimeError):  # grading starts a fresh one when it needs it
        pass
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    if "torch" in sys.modules:  # preloaded: the variables above came too late for it
        sys.modules["torch"].set_num_threads(threads)


def _grade_student(student_dir: str, assignments: list[str], autograder: str) -> tuple[bool, Any, list[str]]:
    """In a pool process: (True, results) or (False, the traceback), and the sandbox protections
    that were off. Never raises, so an exception that cannot be pickled cannot break the pool."""
    from whiteboard.worker import sandbox

    try:
        from whiteboard.grading.grade import grade

        # no warning from here: the parent gives one for the whole run, not one per pool process
        ok, value = True, grade(Path(student_dir), assignments, autograder=Path(autograder), warn=False)
    except Exception:  # noqa: BLE001 - anything a student's grading raises is that student's
        ok, value = False, traceback.format_exc(limit=8)
    return ok, value, sorted(sandbox.reported_off)


def _failed_result(shown: str, assignments: list[str], reason: str) -> dict[str, Any]:
    """A student whose grading raised: 0 points and the reason in `errors` (maxima filled later)."""
    last = reason.strip().splitlines()[-1] if reason.strip() else "unknown error"
    return {"submission": shown, "score": 0.0, "max_score": 0.0,
            "assignments": {a: {"score": 0.0, "max_score": 0.0, "checks": [],
                                "errors": [f"grading failed: {last}"]} for a in assignments}}


# ---- the run ---------------------------------------------------------------------------------

@dataclass
class ClassResults:
    """What a class run produced; `results` holds every student's results, graded or skipped."""

    assignments: list[str]
    results: dict[str, dict[str, Any]]
    max_scores: dict[str, float]
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Run:
    """One grade-class run's state and outputs (kept together so the helpers stay small)."""

    def __init__(self, submitted: Path, out: Path, autograder: Path, roster: Roster):
        self.submitted, self.out, self.autograder, self.roster = submitted, out, autograder, roster
        self.manifest_path = out / MANIFEST
        stored = _read_json(self.manifest_path) or {}
        # {student: {assignment: digest}}; version 1 kept one digest per student: regrade those
        self.manifest: dict[str, dict[str, str]] = (stored.get("students", {})
                                                    if stored.get("version") == 2 else {})
        self.graders = grader_digests(autograder, roster.assignments)
        self.results: dict[str, dict] = {}
        self.preload = notebook_preloads(submitted, roster)

    def shown(self, student: str) -> str:
        return str(self.submitted / student)  # as `whiteboard grade SUBMITTED/student` reports it

    def digest(self, student: str, assignment: str) -> str:
        return notebook_digest(self.submitted / student, assignment, self.graders[assignment])

    def stale(self, student: str) -> tuple[dict | None, list[str]]:
        """The stored results of this student (if any) and the submitted assignments whose
        notebook or grader changed since they were graded (all of them if nothing is stored)."""
        stored = _read_json(self.out / f"{student}.json")
        entry = self.manifest.get(student, {})
        if stored is None:
            return None, list(self.roster.submitted[student])
        changed = [a for a in self.roster.submitted[student]
                   if entry.get(a) != self.digest(student, a) or a not in stored.get("assignments", {})]
        return stored, changed

    def finish(self, student: str, results: dict, ok: bool, graded: list[str],
               stored: dict | None = None) -> None:
        """Store one student's results, merged with the stored results of the assignments that were
        not regraded: JSON and feedback first, then the manifest entry, so an entry never points
        at results that were not written."""
        if stored is not None:
            merged = {a: r for a, r in stored.get("assignments", {}).items()
                      if a not in graded and a in self.roster.submitted[student]}
            merged.update(results.get("assignments", {}))
            results = dict(results, assignments=dict(sorted(merged.items())))
            results["score"] = round(sum(r["score"] for r in merged.values()), 6)
            results["max_score"] = round(sum(r["max_score"] for r in merged.values()), 6)
        results["submission"] = self.shown(student)
        self.results[student] = results
        write_atomic(self.out / f"{student}.json", json.dumps(results, indent=1))
        write_feedback(self.out, student, results, self.roster.assignments)
        entry = self.manifest.setdefault(student, {})
        for a in graded:
            if ok:
                entry[a] = self.digest(student, a)
            else:  # a failure is not a grade: the next run tries again
                entry.pop(a, None)
        if not entry:
            del self.manifest[student]
        write_atomic(self.manifest_path, json.dumps({"version": 2, "students": self.manifest}, indent=1))


def write_feedback(out: Path, student: str, results: dict[str, Any], assignments: list[str]) -> None:
    """OUT/feedback/<student>/<assignment>.html for each assignment of the class (one the student
    did not submit gets a page that says so)."""
    from whiteboard.course.feedback import feedback_html

    submission = Path(results.get("submission") or "")
    for assignment in assignments:
        result = results.get("assignments", {}).get(assignment)
        notebook = submission / assignment / f"{assignment}.ipynb" if results.get("submission") else None
        write_atomic(out / "feedback" / student / f"{assignment}.html",
                     feedback_html(assignment, result, student, notebook=notebook, course=course_name(out)))


def course_name(out: Path) -> str:
    """The course's id from nbgrader_config.py (c.CourseDirectory.course_id), read as text."""
    import re

    for d in (Path.cwd(), *Path(out).resolve().parents):
        cfg = d / "nbgrader_config.py"
        if cfg.is_file():
            found = re.search(r"""course_id\s*=\s*(['"])(.+?)\1""", cfg.read_text())
            return found.group(2) if found else d.name
    return "Whiteboard"


def _pool(workers: int, preload: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    """`workers` grading processes; `preload`: the slow modules the notebooks import (see
    worker.PRELOADABLE), imported once for all of them."""
    # "forkserver": pool processes are forked from a fresh, single-threaded server process, never
    # from this one, whose state (and, in a caller's process, torch's threads) must not be passed on.
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD + list(preload))
    return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_init_worker, initargs=(threads, preload))


def notebook_preloads(submitted: Path, roster: Roster, sample: int = 20) -> tuple[str, ...]:
    """The preloadable modules the notebooks of the first `sample` students import."""
    from whiteboard.grading.grade import notebook_imports
    from whiteboard.worker.process import PRELOADABLE

    modules: set[str] = set()
    for student in list(roster.submitted)[:sample]:
        modules |= notebook_imports(submitted / student, roster.submitted[student])
    return tuple(sorted(m for m in modules if m in PRELOADABLE))


def _grade_all(run: _Run, todo: dict[str, tuple[dict | None, list[str]]], workers: int,
               progress: bool) -> list[str]:
    """Grade `todo` in a pool, storing each student as they finish; returns those that failed.

    If a pool process dies (which grading itself never causes: student code runs in workers of its
    own), the students it left unfinished get one more try in a fresh pool.
    """
    from tqdm import tqdm

    from whiteboard.worker import sandbox

    failed: list[str] = []
    bar = tqdm(total=len(todo), unit="student", desc="grading", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    remaining, tries = list(todo), 0
    try:
        while remaining:
            tries += 1
            with _pool(min(workers, len(remaining)), run.preload) as pool:
                futures: dict[Future, str] = {
                    pool.submit(_grade_student, str(run.submitted / s), todo[s][1],
                                str(run.autograder)): s for s in remaining}
                pending = set(futures)
                try:
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            student = futures[fut]
                            try:
                                ok, value, off = fut.result()
                            except BrokenProcessPool:
                                if tries < 2:
                                    continue  # retried below, in a fresh pool
                                ok, value, off = False, "a grading process died (BrokenProcessPool)", []
                            sandbox.warn_once(off, write=lambda text: bar.write(text, file=sys.stderr))
                            if not ok:
                                failed.append(student)
                                bar.write(f"whiteboard: grading {student} failed:\n{value}", file=sys.stderr)
                                value = _failed_result(run.shown(student), todo[student][1], value)
                            stored, changed = todo[student]
                            run.finish(student, value, ok, graded=changed, stored=stored)
                            remaining.remove(student)
                            bar.update(1)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return failed


def _max_scores(run: _Run) -> dict[str, float]:
    """Each assignment's maximum, from any student's results; for an assignment nobody's grading
    reported, grading an empty submission (every check fails, which is fast) gives it."""
    maxima: dict[str, float] = {}
    for res in run.results.values():
        for a, r in res.get("assignments", {}).items():
            if r.get("checks"):
                maxima[a] = r["max_score"]
    missing = [a for a in run.roster.assignments if a not in maxima]
    if missing:
        with tempfile.TemporaryDirectory(prefix="whiteboard-empty-") as empty, _pool(1, run.preload) as pool:
            ok, value, _ = pool.submit(_grade_student, empty, missing, str(run.autograder)).result()
        if ok:
            maxima.update({a: r["max_score"] for a, r in value["assignments"].items()})
    return maxima


def _complete(run: _Run, maxima: dict[str, float]) -> None:
    """Give every student every assignment of the class: one not submitted scores 0 out of its
    maximum (and gets a feedback page saying so), a failed grading gets its maximum too; so each
    student's JSON, grades.csv and the summary table add up to the same totals."""
    for student, res in run.results.items():
        assignments = res.setdefault("assignments", {})
        for a in run.roster.assignments:
            if a not in assignments:
                assignments[a] = {"score": 0.0, "max_score": maxima.get(a, 0.0), "errors": [],
                                  "checks": [], "submitted": False, "manual_max_score": 0.0,
                                  "manual": []}
            elif not assignments[a].get("checks"):
                assignments[a]["max_score"] = maxima.get(a, assignments[a].get("max_score", 0.0))
        res["assignments"] = dict(sorted(assignments.items()))
        res["score"] = round(sum(r["score"] for r in assignments.values()), 6)
        res["max_score"] = round(sum(r["max_score"] for r in assignments.values()), 6)
        res["submission"] = run.shown(student)
        text = json.dumps(res, indent=1)
        path = run.out / f"{student}.json"
        if not path.exists() or path.read_text() != text:  # an unchanged student stays untouched
            write_atomic(path, text)
            write_feedback(run.out, student, res, run.roster.assignments)


def grade_class(submitted: Path | str, out: Path | str, workers: int | None = None,
                assignments: list[str] | None = None, autograder: Path | None = None,
                progress: bool = True) -> ClassResults:
    """Grade every student under `submitted`; write OUT/<student>.json, feedback and grades.csv.

    `workers` defaults to the number of cores. An assignment whose notebook and grader are
    unchanged since the last run into the same OUT is not graded again.
    """
    from whiteboard.grading.course import find_autograder

    start = time.perf_counter()
    submitted, out = Path(submitted), Path(out)
    autograder = Path(autograder) if autograder else find_autograder()
    roster = discover(submitted, autograder, assignments)
    out.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(out)  # a killed run's half-written files (never under a result's name)
    run = _Run(submitted, out, autograder, roster)

    todo: dict[str, tuple[dict | None, list[str]]] = {}
    skipped: list[str] = []
    for student, present in roster.submitted.items():
        stored, changed = run.stale(student)
        if not present:  # nothing of this class's assignments: nothing to run
            run.results[student] = {"submission": "", "score": 0.0, "max_score": 0.0, "assignments": {}}
        elif not changed:
            run.results[student] = stored
            skipped.append(student)
        else:
            todo[student] = (stored, changed)
    workers = max(1, workers or os.cpu_count() or 1)
    busy = min(workers, max(1, len(todo)))
    print(f"whiteboard: {plural(len(roster.submitted), 'student')}, "
          f"{plural(len(roster.assignments), 'assignment')} ({', '.join(roster.assignments)}); grading "
          f"{len(todo)} with {plural(busy, 'worker')}; skipped {len(skipped)} unchanged", file=sys.stderr)
    failed = _grade_all(run, todo, workers, progress) if todo else []
    maxima = _max_scores(run)
    _complete(run, maxima)
    write_atomic(out / "grades.csv", grades_csv(run.results, roster.assignments, maxima))
    return ClassResults(roster.assignments, dict(sorted(run.results.items())), maxima,
                        graded=[s for s in todo if s not in failed], skipped=skipped, failed=failed,
                        seconds=time.perf_counter() - start)


# ---- the class's outputs ---------------------------------------------------------------------

def _score(res: dict, assignment: str) -> float:
    return res.get("assignments", {}).get(assignment, {}).get("score", 0.0)


def grades_csv(results: dict[str, dict], assignments: list[str], maxima: dict[str, float]) -> str:
    """student_id, assignment, score, max_score, manual_max_score: a row per student per
    assignment (0 if not submitted). `score` is the automatic checks' (the answers graded by hand,
    worth `manual_max_score`, are scored in nbgrader's formgrader and never hold it back)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student_id", "assignment", "score", "max_score", "manual_max_score"])
    manual = {a: max((r.get("assignments", {}).get(a, {}).get("manual_max_score", 0.0)
                      for r in results.values()), default=0.0) for a in assignments}
    for student in sorted(results):
        for a in assignments:
            w.writerow([student, a, f"{_score(results[student], a):g}", f"{maxima.get(a, 0.0):g}",
                        f"{manual[a]:g}"])
    return buf.getvalue()


def summary_table(cr: ClassResults, top: int = 3) -> str:
    """Per assignment: how many students submitted it, mean/median/min/max over the whole class
    (a student who did not submit counts 0, as in grades.csv), and the pitfall labels most
    students ran into (each label counted once per student)."""
    rows = [("assignment", "submitted", "mean", "median", "min", "max", "out of", "most frequent pitfalls")]
    for a in cr.assignments:
        scores, labels, submitted = [], Counter(), 0
        for res in cr.results.values():
            r = res.get("assignments", {}).get(a) or {"score": 0.0, "submitted": False}
            scores.append(r["score"])
            submitted += r.get("submitted", True) is not False
            labels.update({c["pitfall"] for c in r.get("checks", []) if c.get("pitfall")})
        stats = ([f"{statistics.mean(scores):.1f}", f"{statistics.median(scores):g}",
                  f"{min(scores):g}", f"{max(scores):g}"] if scores else ["-"] * 4)
        common = ", ".join(f"{label} ({n})" for label, n in labels.most_common(top)) or "-"
        rows.append((a, f"{submitted}/{len(cr.results)}", *stats, f"{cr.max_scores.get(a, 0.0):g}", common))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * max(len(ln) for ln in lines))
    return "\n".join(lines)
