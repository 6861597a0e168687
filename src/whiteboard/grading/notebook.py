"""Reading a submitted notebook in the parent: only JSON parsing, never execution."""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cell:
    index: int  # position among all the notebook's cells, as Jupyter counts them
    source: str
    tags: tuple = ()
    nbgrader: dict = field(default_factory=dict)
    number: int = 0  # 1-based among the notebook's code cells, as a student counts them

    @property
    def name(self) -> str:
        """The cell as a student finds it: by the function it answers, else by its position."""
        grade_id = self.nbgrader.get("grade_id")
        if self.nbgrader.get("solution") and grade_id:
            return f"the answer cell of `{grade_id}`"
        first = next((ln.strip() for ln in self.source.splitlines() if ln.strip()), "")
        return f"the code cell starting `{first[:40]}`" if first else f"code cell {self.number}"

    @property
    def is_nbgrader_test(self) -> bool:
        """A cell nbgrader grades on its own output (a self-check or hidden test cell)."""
        return bool(self.nbgrader.get("grade")) and not self.nbgrader.get("solution")


def read_code_cells(path: Path) -> list[Cell]:
    """The notebook's code cells, magics turned into Python. Raises ValueError if unreadable."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{Path(path).name} is not a readable notebook ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise ValueError(f"{Path(path).name} is not a notebook: it has no list of cells")
    cells = []
    for i, raw in enumerate(doc["cells"]):
        if not isinstance(raw, dict) or raw.get("cell_type") != "code":
            continue
        source = raw.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        tags = tuple(t for t in meta.get("tags", ()) if isinstance(t, str))
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        cells.append(Cell(i, _python_source(str(source)), tags, nbg, number=len(cells) + 1))
    return cells


def _python_source(source: str) -> str:
    """IPython syntax (`%matplotlib inline`, `!pip ...`) as plain Python calling get_ipython()."""
    if not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in source.splitlines())


def cells_to_grade(cells: list[Cell]) -> list[Cell]:
    """The cells the worker runs: not nbgrader's test cells, not the figure cells (they only draw)."""
    return [c for c in cells if not c.is_nbgrader_test and "figure" not in c.tags]


def imported_modules(cells: list[Cell]) -> set[str]:
    """Modules the notebook imports at top level (so the zygote can preload the slow ones)."""
    names = set()
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def read_manual_cells(path: Path | None) -> list[dict]:
    """The manually graded answer cells of a notebook (nbgrader's `grade` and `solution` cells):
    [{"id": grade_id, "max_points": points, "title": the question's first line}]. None are graded
    here; they are listed so that reports can say what the instructor grades by hand."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        raw_cells = doc["cells"]
    except (OSError, TypeError, ValueError, KeyError, UnicodeDecodeError):
        return []
    out, question = [], ""
    for raw in raw_cells if isinstance(raw_cells, list) else []:
        if not isinstance(raw, dict):
            continue
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        source = raw.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if nbg.get("grade") and nbg.get("solution"):
            out.append({"id": str(nbg.get("grade_id", "")), "max_points": float(nbg.get("points") or 0),
                        "title": question})
        elif raw.get("cell_type") == "markdown":
            heading = next((ln.lstrip("# ").strip() for ln in source.splitlines() if ln.strip()), "")
            if heading:
                question = heading[:120]
    return out
