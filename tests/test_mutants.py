"""Every pitfall label is caught by name, and correct alternatives are never failed.

tests/mutants/<assignment>.py lists
- MUTANTS: (label, function, source) - the solution with one mistake, `source` redefining `function`;
  grading must fail at least one check of `function` with exactly `label`, and every other
  function of the assignment must keep full marks;
- ALTERNATIVES: (function, source) - another correct way to write `function`: full marks everywhere.
"""
from __future__ import annotations

import importlib

import pytest

from conftest import ASSIGNMENTS, by_function, grade_one, make_submission


def _cases(kind: str):
    for assignment in ASSIGNMENTS:
        try:
            module = importlib.import_module(f"mutants.{assignment}")
        except ModuleNotFoundError:
            continue
        for i, case in enumerate(getattr(module, kind, [])):
            name = "-".join(case[:2]) if kind == "MUTANTS" else f"{case[0]}-{i}"
            yield pytest.param(assignment, *case, id=f"{assignment}:{name}")


@pytest.mark.parametrize("assignment,label,function,source", list(_cases("MUTANTS")))
def test_mutant_is_named(tmp_path, assignment, label, function, source):
    result = grade_one(make_submission(tmp_path, assignment, [source]), assignment)
    functions = by_function(result)
    assert function in functions, f"no checks for {function}"
    mutated = functions[function]
    assert label in mutated["labels"], (
        f"mutant for {label} was reported as {sorted(mutated['labels']) or 'passing'}:\n"
        + "\n---\n".join(mutated["messages"])[:3000])
    others = {f: v["labels"] for f, v in functions.items() if f != function and v["score"] != v["max"]}
    assert not others, f"other functions lost points too: {others}"


@pytest.mark.parametrize("assignment,function,source", list(_cases("ALTERNATIVES")))
def test_alternative_solution_passes(tmp_path, assignment, function, source):
    result = grade_one(make_submission(tmp_path, assignment, [source]), assignment)
    failed = [f"{c['id']} [{c['pitfall']}]: {c['message']}" for c in result["checks"] if not c["passed"]]
    assert not failed, "a correct alternative lost points:\n" + "\n\n".join(failed)[:4000]


def test_every_catalogue_label_has_a_mutant():
    from catalog import catalogue_labels

    for assignment in ASSIGNMENTS:
        module = importlib.import_module(f"mutants.{assignment}")
        covered = {label for label, *_ in module.MUTANTS}
        missing = catalogue_labels(assignment) - covered
        assert not missing, f"{assignment}: no mutant for {sorted(missing)}"


def test_every_function_has_an_alternative():
    from catalog import catalogue_functions

    for assignment in ASSIGNMENTS:
        module = importlib.import_module(f"mutants.{assignment}")
        covered = {function for function, _ in module.ALTERNATIVES}
        missing = catalogue_functions(assignment) - covered
        assert not missing, f"{assignment}: no alternative solution for {sorted(missing)}"
