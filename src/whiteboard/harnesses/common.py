"""The harness every assignment uses: call one function with plain-data arguments."""
from __future__ import annotations

import copy

from whiteboard.worker import get_function


def call(namespace: dict, function: str, args: list, kwargs: dict) -> dict:
    """Call namespace[function](*args, **kwargs); return the value and the arguments afterwards.

    The arguments come back so that the parent can see whether the function changed them in
    place (it compares them with the copy it kept).
    """
    fn = get_function(namespace, function)
    passed = copy.deepcopy(args), copy.deepcopy(kwargs)
    value = fn(*passed[0], **passed[1])
    return {"value": value, "args_after": passed[0], "kwargs_after": passed[1]}
