"""Grade a class with `whiteboard grade-class` and with `nbgrader autograde`, in the same run, and
print both times, the seconds per student, the ratio, and grade-class's peak memory.

    python benchmarks/grade_class.py [--students 12] [--small 4] [--assignment A ...]

Every student hands in every assignment, one of three kinds in turn: the solution with a classic
mistake (cycling through tests/mutants/), the stubs, or the clean solution. Both graders run cold,
as an instructor runs them: a new process, nothing cached (nbgrader's hidden cells cache
whiteboard's results per notebook under the temporary directory, so each nbgrader run gets a fresh
TMPDIR). The scores must agree: grade-class's grades.csv against nbgrader's gradebook.

Memory: the process tree of grade-class (the command, its pool processes, their zygotes and
notebook processes) is sampled from /proc every 0.2 s; the peak of the summed PSS (RSS counts the
pages forked processes share once per process) is reported for the whole class and for its first
--small students, to show that it does not grow with the number of students. Those two runs
are separate from the timed one, since sampling costs CPU too.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def build_course(root: Path, assignments: list[str], students: int) -> list[str]:
    """A course with `students` students; returns their ids."""
    import nbformat

    from test_nbgrader import submitted_notebook

    shutil.copytree(ROOT / "source", root / "source")
    shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    ids = [f"student{i:02d}" for i in range(students)]
    for a in assignments:
        mutants = importlib.import_module(f"mutants.{a}").MUTANTS
        release = nbformat.read(str(ROOT / "release" / a / f"{a}.ipynb"), as_version=4)
        for i, student in enumerate(ids):
            kind = i % 3
            nb = (submitted_notebook(a, mutants[(i // 3) % len(mutants)][2]) if kind == 0
                  else release if kind == 1 else submitted_notebook(a, None))
            folder = root / "submitted" / student / a
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{a}.ipynb"))
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                        "--log-level=WARN"], cwd=root, check=True, capture_output=True)
    return ids


# ---- memory of a process tree ----------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # the name may hold spaces
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_mib(root: int) -> float:
    """The summed PSS of `root` and all its descendants, in MiB."""
    kids, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        total += _pss_kib(pid)
        stack.extend(kids.get(pid, []))
    return total / 1024


def timed_with_memory(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak MiB of the process tree) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = [0.0]
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak[0] = max(peak[0], tree_pss_mib(proc.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    reader.join()
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{b''.join(out).decode()[-3000:]}")
    return seconds, peak[0]


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


# ---- the run ---------------------------------------------------------------------------------

def grade_class_cmd(submitted: str, out: str) -> list[str]:
    return [sys.executable, "-m", "whiteboard", "grade-class", submitted, "--out", out, "--no-progress"]


def csv_scores(path: Path) -> dict[tuple[str, str], float]:
    with open(path, newline="") as f:
        return {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(f)}


def gradebook_scores(course: Path, ids: list[str], assignments: list[str]) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {(s, a): gb.find_submission(a, s).score for s in ids for a in assignments}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=12, help="students in the class (default 12)")
    parser.add_argument("--small", type=int, default=4,
                        help="also measure grade-class's memory on this many students (default 4; 0: no memory runs)")
    parser.add_argument("--assignment", action="append", help="only these (default: all)")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time grade-class only")
    args = parser.parse_args()
    assignments = args.assignment or sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory(prefix="whiteboard-bench-class-") as tmp:
        course = Path(tmp)
        ids = build_course(course, assignments, args.students)
        small = course / "submitted_small"
        for s in ids[:args.small]:
            shutil.copytree(course / "submitted" / s, small / s)

        # timed on its own: sampling the memory reads /proc/*/smaps_rollup, which costs CPU too
        t_ours = timed(grade_class_cmd("submitted", "out"), course)
        ours = csv_scores(course / "out" / "grades.csv")
        print(f"{args.students} students x {len(assignments)} assignments ({', '.join(assignments)}), "
              f"{os.cpu_count()} cores")
        print(f"whiteboard grade-class: {t_ours:7.1f} s  {t_ours / args.students:6.2f} s/student")
        if args.small:
            _, mem_small = timed_with_memory(grade_class_cmd("submitted_small", "out_small"), course)
            _, mem_ours = timed_with_memory(grade_class_cmd("submitted", "out_memory"), course)
            print(f"  peak memory (PSS): {mem_small:5.0f} MiB for {args.small} students, "
                  f"{mem_ours:5.0f} MiB for {args.students}")
        if args.skip_nbgrader:
            return
        theirs = 0.0
        for a in assignments:
            scratch = tempfile.mkdtemp(prefix="nbgrader-tmp-")
            theirs += timed([sys.executable, "-m", "nbgrader", "autograde", a, "--force",
                             "--log-level=WARN"], course, dict(os.environ, TMPDIR=scratch))
            shutil.rmtree(scratch, ignore_errors=True)
        nbgrader = gradebook_scores(course, ids, assignments)
        differ = {k: (ours[k], v) for k, v in nbgrader.items() if abs(ours[k] - v) > 1e-6}
        print(f"nbgrader autograde:     {theirs:7.1f} s  {theirs / args.students:6.2f} s/student")
        print(f"grade-class is {theirs / t_ours:.1f}x faster; "
              + ("scores agree" if not differ else f"SCORES DIFFER: {differ}"))
        if differ:
            sys.exit(1)


if __name__ == "__main__":
    main()
