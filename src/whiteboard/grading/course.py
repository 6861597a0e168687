"""Finding a course's parts: its autograder, its assignments and its secret."""
from __future__ import annotations

import os
import re
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[3]
# The default secret that seeds the hidden checks. Anyone can read it here, so a course that hands
# out student kits sets its own (WHITEBOARD_SECRET, or c.Whiteboard.secret in nbgrader_config.py).
DEFAULT_SECRET = "whiteboard-default-secret"
_SECRET_LINE = re.compile(r"""^\s*c\.Whiteboard\.secret\s*=\s*(['"])(.+?)\1""", re.M)


def course_secret(course: Path | None) -> str:
    """$WHITEBOARD_SECRET, else `c.Whiteboard.secret = "..."` in the course's nbgrader_config.py,
    else DEFAULT_SECRET. The config file is read as text, never executed."""
    if os.environ.get("WHITEBOARD_SECRET"):
        return os.environ["WHITEBOARD_SECRET"]
    try:
        found = _SECRET_LINE.search((Path(course) / "nbgrader_config.py").read_text())
    except (OSError, TypeError):
        found = None
    return found.group(2) if found else DEFAULT_SECRET


def find_autograder(start: Path | None = None) -> Path:
    """autograder/ in the current directory or above it, else the one beside this package."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "autograder" / "conftest.py").exists():
            return d / "autograder"
    if (PACKAGE_ROOT / "autograder" / "conftest.py").exists():
        return PACKAGE_ROOT / "autograder"
    raise FileNotFoundError("no autograder/ folder here or above; run this from the course directory "
                            "(the folder that holds autograder/), or pass --autograder DIR")


def available_assignments(autograder: Path) -> list[str]:
    """The assignments an autograder has checks for."""
    return sorted(p.stem[len("test_"):] for p in Path(autograder).glob("test_q*.py"))


def unknown_assignments(autograder: Path, wanted: list[str]) -> list[str]:
    known = set(available_assignments(autograder))
    return sorted(a for a in wanted if a not in known)


def notebook_path(submission: Path, assignment: str) -> Path:
    """Where `assignment`'s notebook is in a submission: `<a>/<a>.ipynb` (release/'s layout), else
    `<a>.ipynb` beside the others (notebooks downloaded one by one)."""
    nested = Path(submission) / assignment / f"{assignment}.ipynb"
    flat = Path(submission) / f"{assignment}.ipynb"
    return flat if not nested.exists() and flat.exists() else nested


def submitted_assignments(submission: Path, known: list[str]) -> list[str]:
    """The assignments among `known` whose notebook is in `submission`."""
    return [a for a in known if notebook_path(submission, a).is_file()]


def describe_folder(folder: Path, limit: int = 8) -> str:
    """What a folder holds, for a message: its notebooks and sub-folders, a few of each."""
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError as exc:
        return f"(cannot be read: {exc.strerror})"
    notebooks = [e.name for e in entries if e.suffix == ".ipynb"]
    folders = [e.name + "/" for e in entries if e.is_dir() and not e.name.startswith(".")]
    nested = [f"{e.name}/{n.name}" for e in entries if e.is_dir() for n in sorted(e.glob("*.ipynb"))][:limit]
    shown = (notebooks + nested)[:limit] or folders[:limit]
    if not entries:
        return "nothing (it is empty)"
    more = len(notebooks) + len(folders) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") + ("" if notebooks or nested else
                                                                             " (no notebook)")
