"""How fast a student's self-check answers, against nbgrader's Validate, in the same run.

    python benchmarks/selfcheck.py [--assignment q05_cross_entropy] [--function softmax] [--repeat 10]

A Jupyter kernel is started in a student kit made from this course (the way a student works), the
notebook's setup cell and the solution of one function are run in it, and then:

- the first `whiteboard.check(function)` (the kernel's grading server may still be starting),
- `--repeat` more checks of the same function: the median is the answer a student waits for;

then `nbgrader validate` (what nbgrader offers a student to check a notebook: it executes the whole
notebook in a fresh kernel) on the same notebook with the same solution, timed the same way.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def solved_notebook(assignment: str, function: str):
    """The release notebook with `function`'s answer cell filled in from source/."""
    from whiteboard.course.generate import MARKER

    release = nbformat.read(str(ROOT / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    source = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    answer = next(MARKER.sub("", c.source) for c in source.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == function)
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == function:
            cell.source = answer
    return release, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="q05_cross_entropy")
    parser.add_argument("--function", default="softmax")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    from test_student_kit import Kernel

    from whiteboard.course.kit import build_kit

    with tempfile.TemporaryDirectory(prefix="whiteboard-bench-") as tmp:
        kit = build_kit(ROOT, Path(tmp) / "kit", [args.assignment])
        notebook, answer = solved_notebook(args.assignment, args.function)
        setup = next(c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup_1")
        kernel = Kernel(kit / args.assignment)
        try:
            kernel.run(setup)
            kernel.run(answer)
            start = time.perf_counter()
            first_out = kernel.run(f'whiteboard.check("{args.function}")')
            first = time.perf_counter() - start
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                out = kernel.run(f'whiteboard.check("{args.function}")')
                times.append(time.perf_counter() - start)
            assert "all checks pass" in out and "all checks pass" in first_out, out
        finally:
            kernel.close()

        path = Path(tmp) / "validate" / f"{args.assignment}.ipynb"
        path.parent.mkdir()
        nbformat.write(notebook, str(path))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=path.parent,
                       capture_output=True, text=True, timeout=600)
        validate = time.perf_counter() - start

    median = statistics.median(times)
    print(f"self-check of {args.assignment}.{args.function} in a kernel started in a student kit:")
    print(f"  first check (server starting in the background): {first:.3f} s")
    print(f"  next {args.repeat} checks: median {median:.3f} s, min {min(times):.3f} s, max {max(times):.3f} s")
    print(f"nbgrader validate on the same notebook: {validate:.2f} s")
    print(f"ratio: self-check answers {validate / median:.0f}x faster than nbgrader validate")


if __name__ == "__main__":
    main()
