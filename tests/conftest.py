"""Fixtures for the kit's own tests: build submissions from the source notebooks and grade them."""
from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from whiteboard.grading.course import available_assignments
from whiteboard.grading.grade import grade, grade_many
from whiteboard.grading.results import by_function as checks_by_function

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = ROOT / "autograder"
# WHITEBOARD_TEST_ASSIGNMENTS=q05_cross_entropy,q11_convolution limits the tests to those (while
# working on one assignment); CI tests them all.
ASSIGNMENTS = [a for a in available_assignments(AUTOGRADER)
               if a in os.environ.get("WHITEBOARD_TEST_ASSIGNMENTS", a).split(",")]


def labels_of(assignment: str):
    """The assignment's one list of labels (autograder/labels/<assignment>.py)."""
    return importlib.import_module(f"autograder.labels.{assignment}").LABELS


def mutants_of(assignment: str):
    """tests/mutants/<assignment>.py: MUTANTS and ALTERNATIVES."""
    return importlib.import_module(f"mutants.{assignment}")


def source_notebook(assignment: str) -> Path:
    return ROOT / "source" / assignment / f"{assignment}.ipynb"


def make_submission(tmp: Path, assignment: str, extra_cells: list[str] = (),
                    base: Path | None = None) -> Path:
    """A submission dir holding `assignment`'s solution with `extra_cells` appended (the mutation)."""
    nb = nbformat.read(str(base or source_notebook(assignment)), as_version=4)
    for src in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    out = tmp / assignment
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out / f"{assignment}.ipynb"))
    return tmp


def grade_one(submission: Path, assignment: str, **kwargs) -> dict:
    """The results of one assignment (results['assignments'][assignment])."""
    return grade(submission, [assignment], autograder=AUTOGRADER, **kwargs)["assignments"][assignment]


def grade_cases(tmp: Path, assignment: str, cases: dict[str, list[str]], **kwargs) -> dict[str, dict]:
    """Grade many variants of the solution in one session: {case: that assignment's results}."""
    dirs = {case: make_submission(tmp / f"case{i}", assignment, cells)
            for i, (case, cells) in enumerate(cases.items())}
    results = grade_many(dirs, [assignment], autograder=AUTOGRADER, **kwargs)
    return {case: r["assignments"][assignment] for case, r in results.items()}


def by_function(result: dict) -> dict[str, dict]:
    """function -> {'score', 'max', 'labels', 'messages'} for one assignment's results."""
    out: dict[str, dict] = {}
    for function, checks in checks_by_function(result["checks"]).items():
        out[function] = {"score": sum(c["points"] for c in checks),
                         "max": sum(c["max_points"] for c in checks),
                         "labels": {c["pitfall"] for c in checks if c["pitfall"]},
                         "messages": [c["message"] for c in checks if c["pitfall"]]}
    return out


def mutant_cases(assignment: str) -> dict[str, tuple]:
    """{case id: (kind, label, function, source)} for the mutants and alternatives of `assignment`."""
    try:
        module = mutants_of(assignment)
    except ModuleNotFoundError:
        return {}
    cases = {f"mutant-{i}-{label}-{function}": ("mutant", label, function, source)
             for i, (label, function, source) in enumerate(module.MUTANTS)}
    cases.update({f"alternative-{i}-{function}": ("alternative", None, function, source)
                  for i, (function, source) in enumerate(module.ALTERNATIVES)})
    return cases


class Corpus:
    """Every mutant and alternative of an assignment graded once per test session, in two grading
    sessions: the solution, the stubs and the mutants on the public runs (where a pitfall must be
    named, and what a student kit runs), with a ComparingOracle that also asks the student kit's
    frozen data every question; the alternatives on the public and hidden runs (a correct answer
    must pass both).
    """

    def __init__(self, tmp_factory, kits):
        self.tmp_factory = tmp_factory
        self.kits = kits
        self.done: dict[str, dict] = {}
        self.oracles: dict[str, object] = {}

    def __call__(self, assignment: str) -> dict[str, dict]:
        if assignment not in self.done:
            from whiteboard.grading.oracle import ComparingOracle, FrozenOracle
            from whiteboard.grading.plugin import open_oracle

            def comparing(name, autograder):
                self.oracles[name] = ComparingOracle(open_oracle(name, autograder),
                                                     FrozenOracle(self.kits(name) / "autograder" / "frozen" / name))
                return self.oracles[name]

            cases = mutant_cases(assignment)
            tmp = self.tmp_factory.mktemp(assignment)
            mutants = {c: [v[3]] for c, v in cases.items() if v[0] == "mutant"}
            alternatives = {c: [v[3]] for c, v in cases.items() if v[0] == "alternative"}
            dirs = {case: make_submission(tmp / "m" / f"case{i}", assignment, cells)
                    for i, (case, cells) in enumerate({"solution": [], **mutants}.items())}
            dirs["stubs"] = ROOT / "release"
            results = {case: r["assignments"][assignment] for case, r in grade_many(
                dirs, [assignment], autograder=AUTOGRADER, public_only=True, oracle=comparing).items()}
            if alternatives:
                results.update(grade_cases(tmp / "a", assignment, alternatives))
            self.done[assignment] = results
        return self.done[assignment]

    def differences(self, assignment: str) -> list[str]:
        """Where the kit's frozen data answered differently from the references (or not at all)."""
        self(assignment)
        return list(self.oracles[assignment].differences)


class Kits:
    """kits(assignment): the student kit of that assignment alone, built on first use (a kit of
    several is the same files side by side; one each lets parallel test workers build only what
    their tests need)."""

    def __init__(self, tmp_factory):
        self.tmp_factory = tmp_factory
        self.built: dict[str, Path] = {}

    def __call__(self, assignment: str) -> Path:
        from whiteboard.course.kit import build_kit

        if assignment not in self.built:
            self.built[assignment] = build_kit(ROOT, self.tmp_factory.mktemp(f"kit_{assignment}") / "kit",
                                               [assignment])
        return self.built[assignment]


@pytest.fixture(scope="session")
def kits(tmp_path_factory) -> Kits:
    return Kits(tmp_path_factory)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, kits) -> Corpus:
    """corpus(assignment) -> {case: results}: the solution, the stubs, every mutant and alternative."""
    return Corpus(tmp_path_factory, kits)


def per_assignment(assignments=None):
    """pytest.param of each assignment, grouped so that parallel workers (pytest-xdist's
    --dist loadgroup) keep an assignment's tests, and its kit and corpus, on one worker."""
    return [pytest.param(a, id=a, marks=pytest.mark.xdist_group(a)) for a in (assignments or ASSIGNMENTS)]


@pytest.fixture
def submission_dir(tmp_path: Path) -> Path:
    return tmp_path / "submission"


def dump(result: dict) -> str:
    return json.dumps(result, indent=1, default=str)[:4000]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
