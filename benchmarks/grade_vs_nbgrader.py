"""Grade one student's submission of every assignment with `whiteboard grade` and with
`nbgrader autograde`, in the same run, and print both times and the ratio.

    python benchmarks/grade_vs_nbgrader.py [--repeat 3]

The student hands in the release notebooks with the solutions filled in and one classic mistake
per assignment (the first mutant of tests/mutants/), so both graders do real work. Both commands
are timed cold, as an instructor runs them: a new process, nothing cached (nbgrader's hidden
cells cache whiteboard's results per notebook, so each nbgrader run gets a fresh TMPDIR).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def build_course(root: Path, assignments: list[str]) -> None:
    import nbformat

    from test_nbgrader import submitted_notebook

    shutil.copytree(ROOT / "source", root / "source")
    shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for a in assignments:
        mistake = importlib.import_module(f"mutants.{a}").MUTANTS[0][2]
        folder = root / "submitted" / "student" / a
        folder.mkdir(parents=True)
        nbformat.write(submitted_notebook(a, mistake), str(folder / f"{a}.ipynb"))
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force",
                        "--log-level=WARN"], cwd=root, check=True, capture_output=True)


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def nbgrader_total(course: Path) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return sum(s.score for s in gb.find_student("student").submissions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each grader (median reported)")
    parser.add_argument("--assignment", action="append", help="only these (default: all)")
    args = parser.parse_args()
    assignments = args.assignment or sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory(prefix="whiteboard-bench-") as tmp:
        course = Path(tmp)
        build_course(course, assignments)
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(timed([sys.executable, "-m", "whiteboard", "grade", "submitted/student",
                               "--json", "whiteboard.json", "--quiet"], course))
            # nbgrader's hidden cells call whiteboard grade themselves: the same points, checked here
            expected = json.loads((course / "whiteboard.json").read_text())["score"]
            total = 0.0
            for a in assignments:
                scratch = tempfile.mkdtemp(prefix="nbgrader-tmp-")
                env = dict(os.environ, TMPDIR=scratch)
                total += timed([sys.executable, "-m", "nbgrader", "autograde", a, "--force",
                                "--log-level=WARN"], course, env)
                shutil.rmtree(scratch, ignore_errors=True)
            theirs.append(total)
            got = nbgrader_total(course)
            if abs(got - expected) > 1e-6:
                sys.exit(f"scores differ: whiteboard {expected}, nbgrader {got}")
    w, n = statistics.median(ours), statistics.median(theirs)
    print(f"one submission, {len(assignments)} assignments ({', '.join(assignments)})")
    print(f"whiteboard grade:   {w:6.1f} s")
    print(f"nbgrader autograde: {n:6.1f} s")
    print(f"whiteboard is {n / w:.1f}x faster")


if __name__ == "__main__":
    main()
