"""What a student hands in: their saved notebooks, packed into the zip an upload form expects.

    whiteboard export [FOLDER] --out submission.zip      from a terminal
    whiteboard.export()                                  from the notebook (the saved file)

The zip holds `<assignment>.ipynb` files at its top level, the names the Gradescope bundle (and any
instructor) matches notebooks by. A notebook that is not readable JSON is refused with a message,
so a broken file is found before the deadline, not after.
"""
from __future__ import annotations

import datetime as _dt
import json
import zipfile
from pathlib import Path

from whiteboard.grading.course import notebook_path


def export(folder: Path, assignments: list[str], out: Path) -> Path:
    """Write `out`, a zip of each assignment's notebook in `folder`; returns `out`."""
    out = Path(out)
    problems = []
    for a in assignments:
        try:
            doc = json.loads(notebook_path(folder, a).read_text(encoding="utf-8"))
            if not isinstance(doc.get("cells"), list):
                raise ValueError("it has no cells")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{notebook_path(folder, a)} is not a readable notebook ({exc})")
    if problems:
        raise ValueError("; ".join(problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for a in assignments:
            z.write(notebook_path(folder, a), f"{a}.ipynb")
    return out


def export_from_notebook(assignment: str, folder: Path | None = None) -> Path | None:
    """From inside a notebook: zip the *saved* notebook of `assignment` beside it, and say when it
    was saved (the kernel cannot save the notebook for you)."""
    folder = Path(folder or Path.cwd())
    path = notebook_path(folder, assignment)
    if not path.is_file():
        print(f"Cannot find {assignment}.ipynb in {folder}: save the notebook under its own name first.")
        return None
    out = folder / f"{assignment}-submission.zip"
    try:
        export(folder, [assignment], out)
    except ValueError as exc:
        print(f"Nothing exported: {exc}")
        return None
    saved = _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%H:%M:%S")
    print(f"Wrote {out.name} with {assignment}.ipynb as last saved at {saved}. Save (Ctrl-S) and run "
          "this again if you changed anything since; then upload the zip.")
    return out
