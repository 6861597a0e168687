"""Every pitfall label is caught by name, and correct alternatives are never failed.

tests/mutants/<assignment>.py lists
- MUTANTS: (label, function, source): the solution with one mistake, `source` redefining `function`;
  grading must fail at least one check of `function` with exactly `label`, and every other
  function of the assignment must keep full marks;
- ALTERNATIVES: (function, source): another correct way to write `function`: full marks everywhere.

The cases of one assignment are graded together (see conftest.Corpus).
"""
from __future__ import annotations

import pytest

from conftest import ASSIGNMENTS, by_function, labels_of, mutant_cases, mutants_of, per_assignment

def _params(kind: str):
    for assignment in ASSIGNMENTS:
        for case, (k, label, function, _) in mutant_cases(assignment).items():
            if k == kind:
                yield pytest.param(assignment, case, label, function, id=f"{assignment}:{case}",
                                   marks=pytest.mark.xdist_group(assignment))


@pytest.mark.parametrize("assignment,case,label,function", list(_params("mutant")))
def test_mutant_is_named(corpus, assignment, case, label, function):
    functions = by_function(corpus(assignment)[case])
    assert function in functions, f"no checks for {function}"
    mutated = functions[function]
    assert label in mutated["labels"], (
        f"mutant for {label} was reported as {sorted(mutated['labels']) or 'passing'}:\n"
        + "\n---\n".join(mutated["messages"])[:3000])
    others = {f: v["labels"] for f, v in functions.items() if f != function and v["score"] != v["max"]}
    assert not others, f"other functions lost points too: {others}"


@pytest.mark.parametrize("assignment,case,label,function", list(_params("alternative")))
def test_alternative_solution_passes(corpus, assignment, case, label, function):
    result = corpus(assignment)[case]
    failed = [f"{c['id']} [{c['pitfall']}]: {c['message']}" for c in result["checks"] if not c["passed"]]
    assert not failed, "a correct alternative lost points:\n" + "\n\n".join(failed)[:4000]


@pytest.mark.parametrize("assignment", per_assignment())
def test_every_catalogue_label_has_a_mutant(assignment):
    covered = {label for label, *_ in mutants_of(assignment).MUTANTS}
    missing = labels_of(assignment).required - covered
    assert not missing, f"{assignment}: no mutant for {sorted(missing)}"


@pytest.mark.parametrize("assignment", per_assignment())
def test_every_function_has_two_alternatives(assignment):
    """Two other correct solutions per function; an answer given as a value needs one accepted
    form besides the notebook's (a list for a set, 1 / 4 for 0.25, ...)."""
    labels = labels_of(assignment)
    counts: dict[str, int] = {}
    for function, _ in mutants_of(assignment).ALTERNATIVES:
        counts[function] = counts.get(function, 0) + 1
    need = 1 if labels.values else 2
    short = {f: counts.get(f, 0) for f in labels.functions if counts.get(f, 0) < need}
    assert not short, f"{assignment}: fewer than {need} alternative solutions for {short}"
