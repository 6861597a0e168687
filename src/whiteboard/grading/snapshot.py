"""The self-check server's side: grade a forked snapshot of a student's Jupyter kernel.

The kernel (see whiteboard.selfcheck) forks itself and hands the server one end of a socket to the
fork, which answers calls like any notebook process. Here that socket becomes a `SnapshotNotebook`
and the function's public checks run against it exactly as they run against a saved notebook.
"""
from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from whiteboard.grading.submission import Notebook, StudentError
from whiteboard.worker import codec


class SnapshotNotebook(Notebook):
    """A Notebook whose process is a fork of the student's kernel: nothing to run, only calls.

    When a call times out the fork is killed; `fresh()` asks the kernel for another one.
    """

    def __init__(self, assignment: str, references, sock: socket.socket, pid: int, fresh):
        self.assignment = assignment
        self.references = references
        self.path = None
        self.errors: list[str] = []
        self.problem = None
        self.sandbox_off: list[str] = []
        self._slot = self._init = None  # no uid slot, no PID namespace: Notebook's close and kill
        self._fresh = fresh             # then end just the fork's process group
        self._adopt(sock, pid)

    def _adopt(self, sock: socket.socket, pid: int) -> None:
        self._sock, self._pid = sock, pid
        try:
            hello = codec.recv(self._sock, deadline=time.monotonic() + 30)
        except (TimeoutError, EOFError, codec.FrameError, OSError) as exc:
            self._kill()
            raise StudentError("crash", f"the snapshot of your kernel did not start ({exc!r})") from None
        self._pid = hello.get("pid", pid)

    def _start(self) -> None:
        sock, pid = self._fresh()
        self._adopt(sock, pid)


def grade_snapshot(autograder: Path, assignment: str, function: str | None, fd: int, pid: int,
                   channel) -> dict[str, Any]:
    """The public checks of `function` (every function's when None) on the snapshot behind `fd`;
    that assignment's results."""
    from whiteboard.grading.grade import grade

    def fresh() -> tuple[socket.socket, int]:
        channel.send({"op": "fork"})
        msg, fds = channel.recv()
        return socket.socket(fileno=fds[0]), int(msg["pid"])

    def open_notebook(name, path, references, harnesses):
        return SnapshotNotebook(name, references, socket.socket(fileno=fd), pid, fresh)

    with tempfile.TemporaryDirectory(prefix="whiteboard-selfcheck-") as empty:
        results = grade(Path(empty), [assignment], autograder=autograder, function=function,
                        public_only=True, open_notebook=open_notebook, warn=False)
    return results["assignments"].get(assignment, {})
