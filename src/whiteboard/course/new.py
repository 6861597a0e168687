"""`whiteboard new qNN_slug`: a runnable skeleton of a new assignment, from its catalogue entry.

It reads the assignment's section of the catalogue (`## qNN_slug — title`, bullets that start with
the function's signature in backticks, `Labels:` lines, `Forbidden:` and `Figure:` lines) and
writes the six files of the pattern (see README, "Adding a question"):

    autograder/labels/qNN_slug.py       every function and label, explanations to write
    autograder/references/qNN_slug.py   every function's signature, to fill in; no variants yet
    autograder/test_qNN_slug.py         one check per function, skipped until written
    tests/mutants/qNN_slug.py           empty lists, with the labels that need a mutant
    source/qNN_slug/qNN_slug.ipynb      intro, setup, one exercise per function, a figure cell

Everything imports and grades from the start (a skipped check scores nothing); each TODO says
what to write next. Existing files are never overwritten.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from whiteboard.grading.labels import GENERIC

_HEADING = re.compile(r"^## (q\d\d_[a-z0-9_]+)\b(.*)$")
_SIGNATURE = re.compile(r"`(class\s+)?([A-Za-z_][A-Za-z0-9_]*)(\([^`]*?\))?(\([^`]*\))?[^`]*`")


@dataclass
class Function:
    name: str
    params: str            # "z, axis=-1" (for a class: its constructor's)
    is_class: bool = False
    base: str = ""         # nn.Module for a class
    contract: str = ""     # the catalogue's words after the signature


@dataclass
class Entry:
    assignment: str
    title: str
    functions: list[Function] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)  # function -> its labels
    forbidden: str = ""
    figure: str = ""
    library: str = ""      # "numpy", "torch", ...


def find_catalog(start: Path | None = None) -> Path:
    """catalog.md in this folder or above, or in a `shared/` folder beside one of them."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        for candidate in (d / "catalog.md", d / "shared" / "catalog.md", d / "docs" / "catalog.md"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError("no catalog.md found here or above; pass --catalog PATH")


def parse_entry(catalog_text: str, assignment: str) -> Entry:
    """The catalogue's section of `assignment`, as functions, labels and notes."""
    lines = catalog_text.splitlines()
    start = next((i for i, ln in enumerate(lines) if (m := _HEADING.match(ln)) and m.group(1) == assignment), None)
    if start is None:
        raise KeyError(f"the catalogue has no section `## {assignment}`")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ") or lines[i] == "---"),
               len(lines))
    title = _HEADING.match(lines[start]).group(2).strip(" —-")
    entry = Entry(assignment, title, library=(re.search(r"\(([^)]*)\)\s*$", title) or [None, ""])[1])
    bullets: list[str] = []
    for ln in lines[start + 1:end]:
        if ln.startswith("- "):
            bullets.append(ln[2:])
        elif ln.startswith("  ") and bullets:
            bullets[-1] += " " + ln.strip()
        elif ln.startswith("Forbidden:"):
            entry.forbidden = ln[len("Forbidden:"):].strip()
        elif ln.startswith("Figure:"):
            entry.figure = ln[len("Figure:"):].strip()
        elif entry.figure and ln.strip() and not ln.startswith(("#", "-")):
            entry.figure += " " + ln.strip()
    for bullet in bullets:
        head, _, labels_text = bullet.partition("Labels:")
        names = [f.name for f in _signatures(head)]
        entry.functions += [f for f in _signatures(head) if f.name not in {g.name for g in entry.functions}]
        if not names:
            continue
        contract = head.split("`")[2].strip(" .") if head.count("`") >= 2 else ""
        for f in entry.functions[-len(names):]:
            f.contract = contract
        found = re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+|[a-z]+-[a-z]+)`", labels_text)
        entry.labels.setdefault(names[0], [])
        for label in found:
            if label not in entry.labels[names[0]]:
                entry.labels[names[0]].append(label)
    if entry.forbidden and not any("forbidden-api" in v for v in entry.labels.values()):
        entry.labels.setdefault(entry.functions[0].name, []).append("forbidden-api")
    return entry


def _split_call(span: str) -> tuple[str, str, str] | None:
    """`name(params) rest` -> (name, params, rest), with nested parentheses in params."""
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\(", span)
    if not m:
        return None
    depth, i = 0, m.end() - 1
    for j in range(i, len(span)):
        depth += {"(": 1, ")": -1}.get(span[j], 0)
        if depth == 0:
            return m.group(1), span[i + 1:j], span[j + 1:]
    return None


def _without_remarks(text: str) -> str:
    """`text` without its parenthesised remarks (those outside backticks)."""
    out, depth, in_code = [], 0, False
    for ch in text:
        if ch == "`" and depth == 0:
            in_code = not in_code
        if not in_code and ch == "(":
            depth += 1
        if depth == 0:
            out.append(ch)
        if not in_code and ch == ")" and depth:
            depth -= 1
    return "".join(out)


def _signatures(head: str) -> list[Function]:
    """The functions a bullet defines: its leading backticked signature(s) (`f(a, b) -> x` and
    `g(c)`, or `class C(nn.Module)(a, b)`), or a list of names (`sigmoid, tanh, relu`)."""
    head = _without_remarks(head)
    spans = re.findall(r"`([^`]+)`", head)
    if not spans or not head.lstrip().startswith("`"):
        return []
    first = spans[0].strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*", first):
        names = [n for s in spans if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_, ]*", s.strip())
                 for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", s)]
        return [Function(n, "x") for n in dict.fromkeys(names)]
    out: list[Function] = []
    rest_of_head = head
    for span in spans:
        before, _, rest_of_head = rest_of_head.partition(f"`{span}`")
        if out and before.strip() not in ("and", ",", ", and", ";"):
            break
        if span.startswith("class "):
            call = _split_call(span[len("class "):])
            if call:
                name, base, rest = call
                params = _split_call(f"x{rest}")
                out.append(Function(name, params[1] if params else "", True, base))
            continue
        call = _split_call(span)
        if call is None:
            break
        out.append(Function(call[0], call[1]))
    return out


def _class_name(function: str) -> str:
    return "Test" + "".join(p.capitalize() for p in function.split("_"))


def _labels_file(e: Entry) -> str:
    catalogue = [label for labels in e.labels.values() for label in labels if label not in GENERIC]
    uses = sorted({label for labels in e.labels.values() for label in labels if label in GENERIC})
    lines = [f'"""{e.assignment}: the functions a student writes and the mistakes its checks can name."""',
             "from whiteboard.grading.labels import Labels", "", "LABELS = Labels(",
             f"    functions={tuple(f.name for f in e.functions)!r},", "    catalogue={"]
    for label in dict.fromkeys(catalogue):
        lines.append(f'        "{label}": ("TODO: what went wrong, in one sentence a student understands.",')
        lines.append('                    "TODO: how to fix it, short."),')
    lines += ["    },", f"    uses={tuple(uses)!r},", ")", ""]
    return "\n".join(lines)


def _references_file(e: Entry) -> str:
    lines = [f'"""{e.assignment}: reference answers and the classic mistakes as code. Never leaves the instructor."""',
             "import numpy as np", "import torch", "from torch import nn", "",
             f"from autograder.labels.{e.assignment} import LABELS", "from whiteboard.grading.pitfalls import Pitfalls",
             "", "PITFALLS = Pitfalls(LABELS)",
             "STANDINS = ()  # graded functions another graded function calls (answered by the reference)",
             f"FORBIDDEN = ()  # {e.forbidden or 'nothing forbidden'}", ""]
    for f in e.functions:
        lines.append("")
        if f.is_class:
            lines += [f"class {f.name}({f.base or 'object'}):",
                      f"    def __init__(self, {f.params}):" if f.params else "    def __init__(self):",
                      "        super().__init__()",
                      f'        raise NotImplementedError("TODO: the reference {f.name}")', ""]
        else:
            lines += [f"def {f.name}({f.params}):", f'    """{f.contract}"""' if f.contract else "",
                      f'    raise NotImplementedError("TODO: the reference {f.name}")', ""]
        for label in e.labels.get(f.name, []):
            if label in GENERIC:
                continue
            lines.append(f"# TODO: @PITFALLS.variant({f.name!r}, {label!r}): {f.name} written with that mistake")
    return "\n".join(ln for ln in lines) + "\n"


def _checks_file(e: Entry) -> str:
    lines = [f'"""Checks for {e.assignment}. Inputs come from nb.rng / nb.seed; expected values from the oracle."""',
             "import numpy as np", "import pytest", ""]
    for f in e.functions:
        lines += ["", f'@pytest.mark.grades("{f.name}")', f"class {_class_name(f.name)}:",
                  "    @pytest.mark.points(1)", "    def test_matches_reference(self, nb):",
                  '        """TODO: what this check checks, in a few words"""',
                  f'        pytest.skip("TODO: nb.expect({f.name!r}, ...) on inputs drawn from nb.rng(k)")', ""]
    return "\n".join(lines)


def _mutants_file(e: Entry) -> str:
    needed = [label for labels in e.labels.values() for label in labels]
    return (f'"""{e.assignment} mutants (one classic mistake each) and alternative correct solutions.\n\n'
            "Each source is appended to the solution notebook as a last cell that redefines one function.\n"
            f"Labels that need a mutant: {', '.join(dict.fromkeys(needed)) or 'none'}.\n"
            'Every function needs at least two alternatives."""\n\n'
            "MUTANTS = [  # (label, function, source)\n]\n\nALTERNATIVES = [  # (function, source)\n]\n")


def _notebook(e: Entry, path: Path) -> None:
    from whiteboard.course import authoring as au

    torch_lines = "import torch\nfrom torch import nn\n" if "torch" in e.library else ""
    cells = [au.markdown(f"# {e.assignment[:3]} · {e.title}\n\n**The whiteboard question.** *TODO: the "
                         "question as an interviewer asks it.*\n\nTODO: two or three sentences of context."),
             au.setup(f"import numpy as np\n{torch_lines}import matplotlib.pyplot as plt\nimport whiteboard\n\n"
                      f'ASSIGNMENT = "{e.assignment}"')]
    for i, f in enumerate(e.functions, 1):
        header = f"class {f.name}({f.base}):\n    def __init__(self, {f.params}):" if f.is_class \
            else f"def {f.name}({f.params}):"
        indent = "        " if f.is_class else "    "
        stub = (f'{header}\n{indent}"""TODO: the contract: shapes, dtypes, conventions. Never the formula."""\n'
                f"{indent}### BEGIN SOLUTION\n{indent}raise NotImplementedError\n{indent}### END SOLUTION")
        cells += au.exercise(e.assignment, f.name, f"## {i}. `{f.name}`\n\nTODO: the question. {f.contract}",
                             stub, points=1)
    cells += au.answer("explain", "## Explain *(graded by hand)*\n\nTODO: a question no function can grade.",
                       "**Model answer.** TODO\n\n**Rubric (2 points).** TODO", points=2)
    cells += [au.markdown(f"## The whiteboard picture\n\nTODO: {e.figure or 'what the figure shows'}"),
              au.figure("# TODO: draw the figure from the student's functions\nplt.show()")]
    au.write(path, cells)


def new_assignment(course: Path, assignment: str, catalog: Path | None = None) -> list[Path]:
    """Write the skeleton of `assignment` into `course`; returns the files written."""
    course = Path(course).resolve()
    entry = parse_entry(Path(catalog or find_catalog(course)).read_text(), assignment)
    targets = {
        course / "autograder" / "labels" / f"{assignment}.py": _labels_file(entry),
        course / "autograder" / "references" / f"{assignment}.py": _references_file(entry),
        course / "autograder" / f"test_{assignment}.py": _checks_file(entry),
        course / "tests" / "mutants" / f"{assignment}.py": _mutants_file(entry),
    }
    notebook = course / "source" / assignment / f"{assignment}.ipynb"
    existing = [p for p in [*targets, notebook] if p.exists()]
    if existing:
        raise FileExistsError(f"{assignment} exists already: {', '.join(str(p.relative_to(course)) for p in existing)}")
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _notebook(entry, notebook)
    return [*targets, notebook]
