"""Whiteboard: deep-learning whiteboard exercises, graded in an isolated worker that names the mistake.

In a notebook, `whiteboard.check("softmax")` runs the public checks of one function on its live
definition (see whiteboard.selfcheck). Everything else is the `whiteboard` command.
"""
__version__ = "0.2.0"


def check(function: str, assignment: str | None = None) -> None:
    """Run the public checks of `function` on its definition in this notebook and print the outcome."""
    from whiteboard.selfcheck import check as run

    run(function, assignment, namespace=_callers_globals())


def check_all(assignment: str | None = None, show: bool = True) -> dict | None:
    """Run every public check of this notebook's assignment on the live definitions, print a
    summary per function with the mistakes found (unless `show` is False), and return the results
    (the drill's figure draws from them)."""
    from whiteboard.selfcheck import check as run

    return run(None, assignment, namespace=_callers_globals(), show=show)


def export(assignment: str | None = None) -> None:
    """Zip this notebook as last saved, ready to upload (save it first)."""
    from whiteboard.course.handin import export_from_notebook

    name = assignment or _callers_globals().get("ASSIGNMENT")
    if not name:
        print("export: this notebook sets no ASSIGNMENT (run its first code cell).")
        return
    export_from_notebook(name)


def _callers_globals() -> dict:
    """The notebook namespace that called check/check_all/export (two frames up). Not
    inspect.stack(): it reads the source of every frame, some 40 ms per self-check cell."""
    import sys

    return sys._getframe(2).f_globals


def _in_a_kernel() -> bool:
    """Whether this is a Jupyter kernel a student works in (not a grading worker, not nbgrader)."""
    import os
    import sys

    if os.environ.get("WHITEBOARD_WORKER") or os.environ.get("NBGRADER_EXECUTION"):
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


if _in_a_kernel():  # start the self-check server now, so that the first check answers at once
    from whiteboard.selfcheck import warm_up as _warm_up

    _warm_up()

__all__ = ["check", "check_all", "export", "__version__"]
