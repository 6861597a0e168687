"""Whiteboard: deep-learning whiteboard exercises, graded in an isolated worker that names the mistake.

In a notebook, `whiteboard.check("softmax")` runs the public checks of one function on its live
definition (see whiteboard.selfcheck). Everything else is the `whiteboard` command.
"""
__version__ = "0.2.0"


def check(function: str, assignment: str | None = None) -> None:
    """Run the public checks of `function` on its definition in this notebook and print the outcome."""
    import inspect

    from whiteboard.selfcheck import check as run

    run(function, assignment, namespace=inspect.stack()[1].frame.f_globals)


__all__ = ["check", "__version__"]
