"""The classic mistakes as code: each pitfall variant is a reference function written with one.

They live in `autograder/references/<assignment>.py` beside the references and never leave the
instructor: the student kit carries only their outputs on the public checks' inputs.

    PITFALLS = Pitfalls(LABELS)

    @PITFALLS.variant("softmax", "unstable-softmax")
    def softmax_without_shift(z, axis=-1):
        ...

When a student's answer is wrong, the variant that reproduces it names the mistake. A variant must
be a deterministic function of its inputs (its outputs are frozen into the student kit). To compare
only part of its output, return a `numpy.ma.MaskedArray`: masked entries match anything.
"""
from __future__ import annotations

from typing import Callable

from whiteboard.grading.labels import Labels


class Pitfalls:
    """An assignment's pitfall variants, by the function they imitate."""

    def __init__(self, labels: Labels):
        self.labels = labels
        self.variants: dict[str, list[tuple[str, Callable]]] = {}

    def variant(self, function: str, label: str) -> Callable[[Callable], Callable]:
        """Register `fn` as `function` written with the mistake `label`."""
        self.labels._known(label)

        def register(fn: Callable) -> Callable:
            self.variants.setdefault(function, []).append((label, fn))
            return fn
        return register
