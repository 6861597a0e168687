"""What a harness uses, and the harness every check uses: call one function with plain data.

A harness is a function `harness(namespace, **params) -> plain data` in
`autograder/harnesses/<assignment>.py`. In grading it runs in the notebook process with the
student's namespace; the oracle runs the same harness in the trusted process on the references'
namespace to get the expected trace. So a harness never knows the right answer: it builds the
objects a check needs (a seeded model, an instrumented optimizer), calls the function under test
and reports what happened as numbers, strings, lists, dicts, arrays and tensors.
"""
from __future__ import annotations

import copy
import sys


class MissingFunction(Exception):
    """The notebook defines no object of the name a check asked for."""


def get_function(namespace: dict, name: str):
    """The student's object called `name` (a function or a class), or MissingFunction."""
    if name not in namespace:
        raise MissingFunction(f"your notebook defines no `{name}` (was it renamed, or did the cell "
                              "that defines it fail?)")
    return namespace[name]


def call(namespace: dict, function: str, args: list, kwargs: dict) -> dict:
    """Call namespace[function](*args, **kwargs); return the value and the arguments afterwards.

    The arguments come back so that the parent can see whether the function changed them in
    place (it compares them with the copy it kept).
    """
    fn = get_function(namespace, function)
    passed = copy.deepcopy(args), copy.deepcopy(kwargs)
    value = fn(*passed[0], **passed[1])
    return {"value": value, "args_after": passed[0], "kwargs_after": passed[1]}


def read(namespace: dict, names: list) -> dict:
    """The values of module-level variables (answers such as rf01), None for one not defined."""
    return {name: namespace.get(name) for name in names}


def as_float(value):
    """`value` as a float when it is one number (a Python or numpy number, a one-element tensor,
    detached first), else None: a bool is not a loss, and neither is a list."""
    if isinstance(value, bool):
        return None
    torch = sys.modules.get("torch")
    try:
        if torch is not None and isinstance(value, torch.Tensor):
            value = value.detach().reshape(())
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def plain_tensor(t):
    """A detached copy of tensor `t` as a plain torch.Tensor (a Parameter or a student's tensor
    subclass would not travel as data)."""
    import torch

    return t.detach().as_subclass(torch.Tensor).clone()
