"""`whiteboard student-kit OUT`: the folder a course hands its students, holding no answer.

    OUT/
      README.md                         how to install, self-check and grade the saved notebooks
      engine/                           the `whiteboard` package (pip install ./engine)
      q05_cross_entropy/q05_cross_entropy.ipynb      the student notebooks (from release/)
      autograder/
        conftest.py, test_q05_cross_entropy.py       the public checks (the same check code)
        labels/q05_cross_entropy.py                  what each mistake means and how to fix it
        harnesses/...                                code that runs next to the student's
        frozen/q05_cross_entropy.json + .npz         the references' answers on the public inputs

The references and the pitfall variants are not in it in any form. Their results on the public
checks' inputs are recorded by running those checks against the solutions and the stubs with a
recording oracle, and frozen as JSON + npz (read with allow_pickle=False). The hidden runs of the
checks are not in it either: their inputs come from the course secret, which stays with the
instructor.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from whiteboard.grading.course import available_assignments, unknown_assignments

KIT_AUTOGRADER_PARTS = ("labels", "harnesses")
ENGINE_FILES = ("pyproject.toml",)

STUDENT_README = """# {title}

Deep-learning whiteboard exercises as Jupyter notebooks. Each notebook asks you to write a few
functions; the cell under each exercise checks your function and, when something is wrong, says
which classic mistake it looks like and how to fix it.

## Install (once)

```bash
python -m pip install ./engine    # the `whiteboard` package, PyTorch (CPU), JupyterLab, pytest
```

## Work

```bash
jupyter lab {first}/{first}.ipynb
```

Replace each `raise NotImplementedError` with your code and run the check cell below it. The
check runs your function as it is defined in the kernel right now, in a separate process, so a
function that loops forever only costs that check (after {timeout:g} s) and the kernel stays usable.

## Grade your saved notebooks

```bash
pytest autograder/                       # every notebook in this folder
pytest autograder/ --function softmax    # one function's checks
pytest autograder/ --submission DIR      # notebooks in another folder laid out like this one
```

These are the public checks. Your instructor's grade runs the same checks again on inputs that
are not in this kit, so an answer that only reproduces the values in `autograder/frozen/` gets no
points there. Answers to the questions marked "graded by hand" are read by your instructor.

Assignments in this kit: {assignments}.
"""


def build_kit(course: Path, out: Path, assignments: list[str] | None = None,
              solutions: Path | None = None) -> Path:
    """Write the student kit of `course` into `out` (which must not exist or be empty)."""
    from whiteboard.grading.grade import grade
    from whiteboard.grading.submission import CALL_TIMEOUT_S

    course, out = Path(course).resolve(), Path(out).resolve()
    autograder = course / "autograder"
    known = available_assignments(autograder)
    names = list(assignments or known)
    unknown = unknown_assignments(autograder, names)
    if unknown:
        raise ValueError(f"no autograder for {', '.join(unknown)} (known: {', '.join(known)})")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: choose a new folder for the kit")
    kit_autograder = out / "autograder"
    kit_autograder.mkdir(parents=True)

    # 1. the frozen answers: the public checks, recorded on the solutions and on the stubs
    with tempfile.TemporaryDirectory(prefix="whiteboard-kit-") as tmp:
        record = Path(tmp) / "frozen"
        for submission in (solutions or course / "solutions", course / "release"):
            grade(submission, names, autograder=autograder, record=record, warn=False)
        shutil.copytree(record, kit_autograder / "frozen")

    # 2. the public parts of the autograder: checks, labels, harnesses; nothing compiled
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("__init__.py", "conftest.py", "pytest.ini"):
        if (autograder / name).exists():
            shutil.copy(autograder / name, kit_autograder / name)
    for a in names:
        shutil.copy(autograder / f"test_{a}.py", kit_autograder / f"test_{a}.py")
    for part in KIT_AUTOGRADER_PARTS:
        (kit_autograder / part).mkdir()
        if (autograder / part / "__init__.py").exists():
            shutil.copy(autograder / part / "__init__.py", kit_autograder / part / "__init__.py")
        for a in names:
            if (autograder / part / f"{a}.py").exists():
                shutil.copy(autograder / part / f"{a}.py", kit_autograder / part / f"{a}.py")

    # 3. the student notebooks, and the engine to run them
    for a in names:
        shutil.copytree(course / "release" / a, out / a, ignore=ignore)
    engine = out / "engine"
    shutil.copytree(course / "src" / "whiteboard", engine / "src" / "whiteboard", ignore=ignore)
    for name in ENGINE_FILES:
        shutil.copy(course / name, engine / name)
    readme = engine / "README.md"
    readme.write_text("The `whiteboard` package: the engine that runs and checks the notebooks.\n")
    (out / "README.md").write_text(STUDENT_README.format(
        title="Whiteboard: student kit", first=names[0], timeout=CALL_TIMEOUT_S,
        assignments=", ".join(f"`{a}`" for a in names)))
    return out
