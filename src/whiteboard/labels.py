"""What the labels used by every assignment mean, and how to fix each mistake."""

GENERIC = {
    "not-implemented": ("the function is still the stub (or is missing from the notebook).",
                        "Write your code in place of `raise NotImplementedError`, keep the function's "
                        "name and arguments as given, and run its cell."),
    "wrong-shape": ("the result has the wrong shape.",
                    "Check which axis each operation reduces over, and keep the batch dimension."),
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
                    "Compare with the formula in the notebook on the small example, step by step."),
}
