"""Whiteboard: deep-learning whiteboard exercises, graded in an isolated worker that names the mistake."""
from whiteboard.selfcheck import check

__all__ = ["check"]
__version__ = "0.1.0"
