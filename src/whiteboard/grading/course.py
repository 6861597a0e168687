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
