"""The pitfall labels of an assignment: what each mistake is, how to fix it, and how to spot it.

Each assignment has one list of labels, in `autograder/labels/<assignment>.py`: the checks report
them, the references' pitfall variants are registered under them, and the kit's tests demand a
mutant for each. That file ships in the student kit, so it holds explanations and detectors, never
an answer.

    LABELS = Labels(
        functions=("softmax", "log_softmax"),            # the catalogue's functions, in order
        catalogue={"unstable-softmax": ("what went wrong", "how to fix it"), ...},
        uses=("mutates-input",),                         # generic labels the catalogue names here
        extra={...},                                     # labels of our own, beyond the catalogue
    )

    @LABELS.detector("softmax", "softmax-wrong-axis")
    def sums_to_one_elsewhere(got, z, axis=-1) -> bool:  # a property of the wrong answer only
        ...
"""
from __future__ import annotations

from typing import Callable

GENERIC = {
    "not-implemented": ("the function is still the stub (or is missing from the notebook).",
                        "Write your code in place of `raise NotImplementedError`, keep the function's "
                        "name and arguments as given, and run its cell."),
    "wrong-shape": ("the result (or a layer's weights) does not have the shape the exercise asks for.",
                    "Compare each shape with the docstring's: which axis each operation reduces over, "
                    "whether the batch dimension is kept, whether each layer has the sizes given."),
    "wrong-type": ("the result is not the type the exercise asks for.",
                   "Return the type named in the docstring (e.g. np.ndarray, torch.Tensor, float), "
                   "and make sure every path through the function ends in `return`."),
    "mutates-input": ("the function changed one of its input arrays in place.",
                      "Work on a copy (`x = x.copy()` / `x.clone()`) or use out-of-place operations "
                      "(`x = x - m` rather than `x -= m`)."),
    "nan-or-inf": ("the result contains NaN or inf where the true answer is finite.",
                   "Look for exp() of large numbers, log(0) and divisions by zero; rewrite the formula "
                   "in a numerically stable form."),
    "timeout": ("the function did not finish in time.",
                "Look for an infinite loop, or vectorise the slow part."),
    "crash": ("the function raised an exception or ended the process.",
              "Run the function on the small example in the notebook and read the traceback."),
    "forbidden-api": ("the exercise must be done without a library shortcut, and the function used one.",
                      "Implement the computation yourself with the basic operations."),
    "wrong-value": ("the values are wrong, and none of the classic mistakes we know explains them.",
                    "Go back to the docstring's contract and try the function on the small example, "
                    "step by step."),
}


class Labels:
    """One assignment's labels (the generic ones included), their explanations and detectors."""

    def __init__(self, functions: tuple[str, ...] | list[str], catalogue: dict[str, tuple[str, str]],
                 uses: tuple[str, ...] = (), extra: dict[str, tuple[str, str]] | None = None,
                 values: bool = False):
        """`values`: the "functions" are module-level variables holding answers (a drill)."""
        self.functions = tuple(functions)
        self.values = values
        self.catalogue = dict(catalogue)
        self.uses = tuple(uses)
        self.extra = dict(extra or {})
        unknown = [u for u in self.uses if u not in GENERIC]
        if unknown:
            raise KeyError(f"`uses` names generic labels only; {unknown} are not generic")
        self.text = {**GENERIC, **self.catalogue, **self.extra}
        self.detectors: dict[str, list[tuple[str, Callable]]] = {}

    def __contains__(self, label: str) -> bool:
        return label in self.text

    @property
    def required(self) -> set[str]:
        """The labels the catalogue names for this assignment: each needs a mutant in tests/."""
        return set(self.catalogue) | set(self.uses)

    def explain(self, label: str) -> str:
        why, fix = self.text.get(label, ("", ""))
        return f"Likely mistake ({label}): {why}\nHow to fix it: {fix}"

    def detector(self, function: str, label: str) -> Callable[[Callable], Callable]:
        """Register `test(got, *args, **kwargs) -> bool`, a property of a wrong answer that names
        `label` when no pitfall variant reproduces it exactly (e.g. "sums to 1 along another axis").
        It sees only the student's result and the inputs: it ships in the student kit."""
        self._known(label)

        def register(fn: Callable) -> Callable:
            self.detectors.setdefault(function, []).append((label, fn))
            return fn
        return register

    def _known(self, label: str) -> None:
        if label not in self.text:
            raise KeyError(f"unknown label {label!r}: add it to the assignment's labels")
