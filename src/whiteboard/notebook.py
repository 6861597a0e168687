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
        cells.append(Cell(i, _python_source(str(source)), tags, nbg))
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
