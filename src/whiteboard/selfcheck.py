"""Self-check from inside a notebook: `whiteboard.check("softmax")` after each exercise.

It grades the function as it is defined in the kernel right now (no need to save), with the
public checks, and prints what passed and, for each failure, the mistake and its fix. Three
processes take part, so that the kernel never holds anything of the autograder and never hangs:

    kernel     this process: forks a snapshot of itself per check, prints the results
      |- snapshot  the fork: the kernel's namespace as it was, serving calls (whiteboard.worker's
      |            call loop); a function that loops forever is killed here, the kernel lives on
    server     `python -m whiteboard.selfcheck AUTOGRADER`, started once per kernel: runs the checks
               (pytest, the oracle: references or the kit's frozen data) against the snapshot

When the server kills a snapshot (a time limit), it asks the kernel for a fresh one.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

_server: "_Server | None" = None
_server_lock = threading.Lock()


# ---- a channel of JSON lines that can carry file descriptors ------------------------------------

class Channel:
    """JSON messages, one per line, over a stream socket; a message may carry file descriptors."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = b""
        self._fds: list[int] = []

    def send(self, obj: Any, fds: tuple[int, ...] = ()) -> None:
        data = json.dumps(obj).encode() + b"\n"
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)

    def recv(self) -> tuple[Any, list[int]]:
        while b"\n" not in self._buf:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 4)
            if not data:
                raise EOFError("the other side closed the channel")
            self._buf += data
            self._fds += fds
        line, self._buf = self._buf.split(b"\n", 1)
        fds, self._fds = self._fds, []
        return json.loads(line), fds


# ---- the kernel's side ----------------------------------------------------------------------------

class _Server:
    """The grading server of this kernel: a separate Python that runs the checks."""

    def __init__(self, autograder: Path):
        ours, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "whiteboard.selfcheck", str(autograder), str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=str(autograder.parent))
        theirs.close()
        self.autograder = autograder
        self.channel = Channel(ours)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.channel.sock.close()


def server(autograder: Path) -> _Server:
    """This kernel's server for `autograder`, started on first use."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive() or _server.autograder != autograder:
            if _server is not None:
                _server.stop()
            _server = _Server(autograder)
        return _server


def warm_up(start: Path | None = None) -> None:
    """Start the server in the background (the first check then answers at once)."""
    from whiteboard.grading.course import find_autograder

    try:
        autograder = find_autograder(start)
    except FileNotFoundError:
        return
    threading.Thread(target=server, args=(autograder,), daemon=True).start()


def _snapshot(namespace: dict, autograder: Path) -> tuple[int, int]:
    """Fork this kernel; the child serves calls on `namespace`. Returns (our socket fd, its pid)."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the snapshot
        try:
            ours.close()
            _serve_snapshot(theirs, namespace, autograder)
        finally:
            os._exit(0)
    theirs.close()
    return ours.detach(), pid


def _serve_snapshot(sock: socket.socket, namespace: dict, autograder: Path) -> None:
    from whiteboard.worker import codec, process

    os.setsid()  # its own process group: the server can kill it and all it starts
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = process._Sink()
    if "torch" in sys.modules:  # the kernel's thread pool did not survive the fork
        sys.modules["torch"].set_num_threads(1)
    process._limit_resources()
    process.load_harnesses(str(autograder / "harnesses"), eager=False)
    codec.send(sock, {"event": "ready", "pid": os.getpid()})
    process.serve(sock, namespace, only_loaded=True)


def check(function: str | None, assignment: str | None = None, namespace: dict | None = None,
          show: bool = True) -> dict | None:
    """Run the public checks of `function` (all of the assignment's when None) against the live
    definitions, print the outcome (unless `show` is False) and return the assignment's results."""
    if os.environ.get("WHITEBOARD_WORKER") or os.environ.get("NBGRADER_EXECUTION"):
        return  # grading runs these checks itself, in isolation
    from whiteboard.grading.course import find_autograder

    if namespace is None:
        import sys

        namespace = sys._getframe(1).f_globals
    try:
        autograder = find_autograder()
    except FileNotFoundError as exc:
        print(f"Self-check unavailable: {exc}")
        return
    assignment = assignment or namespace.get("ASSIGNMENT")
    if not assignment:
        print("Self-check unavailable: this notebook sets no ASSIGNMENT (run its first code cell).")
        return
    srv = server(autograder)
    children: list[int] = []
    try:
        fd, pid = _snapshot(namespace, autograder)
        children.append(pid)
        srv.channel.send({"op": "check", "assignment": assignment, "function": function, "pid": pid}, (fd,))
        os.close(fd)
        while True:
            msg, _ = srv.channel.recv()
            if msg.get("op") == "fork":  # the server killed the last snapshot: another one
                fd, pid = _snapshot(namespace, autograder)
                children.append(pid)
                srv.channel.send({"op": "snapshot", "pid": pid}, (fd,))
                os.close(fd)
            else:
                break
    except KeyboardInterrupt:
        print(f"Self-check of {function or assignment} interrupted.")
        srv.stop()
        return
    except (OSError, EOFError, ValueError) as exc:
        print(f"Self-check failed to run ({exc}); run it again, or grade the saved notebook with "
              "`pytest autograder/`.")
        srv.stop()
        return
    finally:
        for pid in children:
            _reap(pid)
    if msg.get("error"):
        print(f"Self-check unavailable: {msg['error']}")
        return None
    if show and function is None:
        print_all(msg["result"], assignment)
    elif show:
        print_result(msg["result"], function)
    return msg["result"]


def _reap(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def print_result(result: dict | None, function: str) -> None:
    from whiteboard.grading.results import fmt_points, shared_failure

    checks = [c for c in (result or {}).get("checks", []) if c["function"] == function]
    if not checks:
        print(f"No checks ran for {function}.")
        return
    got = sum(c["points"] for c in checks)
    total = sum(c["max_points"] for c in checks)
    verdict = "all checks pass" if got == total else "some checks fail"
    print(f"{function}: {fmt_points(got)} / {fmt_points(total)} points, {verdict}")
    once = shared_failure(checks)
    if once is not None:
        print(f"  FAIL every check  [{once['pitfall']}]\n")
        print("\n".join("  " + ln for ln in once["message"].splitlines()))
        return
    for c in checks:
        about = f": {c['description']}" if c.get("description") else ""
        mark = "ok  " if c["passed"] else "FAIL"
        print(f"  {mark} {c['id']}{about}" + ("" if c["passed"] else f"  [{c['pitfall']}]"))
    for c in checks:
        if not c["passed"]:
            print()
            print("\n".join("  " + ln for ln in c["message"].splitlines()))


def print_all(result: dict | None, assignment: str) -> None:
    """Every function's points, then the mistakes found (as the saved notebook would be graded
    with the public checks)."""
    from whiteboard.grading.results import by_function, fmt_points, shared_failure

    functions = by_function((result or {}).get("checks", []))
    if not functions:
        print(f"No checks ran for {assignment}.")
        return
    got = sum(c["points"] for c in result["checks"])
    total = sum(c["max_points"] for c in result["checks"])
    print(f"{assignment}: {fmt_points(got)} / {fmt_points(total)} points on the public checks")
    width = max(len(f) for f in functions)
    for function, checks in functions.items():
        p = sum(c["points"] for c in checks)
        t = sum(c["max_points"] for c in checks)
        labels = sorted({c["pitfall"] for c in checks if c["pitfall"]})
        print(f"  {function:<{width}}  {fmt_points(p):>4} / {fmt_points(t):<4} {'ok' if p == t else ', '.join(labels)}")
    for function, checks in functions.items():
        once = shared_failure(checks)
        failed = [once] if once else [c for c in checks if not c["passed"]]
        for c in failed:
            print(f"\n{c['id']}  [{c['pitfall']}]")
            print("\n".join("  " + ln for ln in c["message"].splitlines()))
    if (result or {}).get("manual"):
        print(f"\nAnswers graded by hand (not checked here): {', '.join(m['id'] for m in result['manual'])}")


# ---- the server's side ----------------------------------------------------------------------------

def serve(autograder: Path, fd: int) -> None:
    """The server loop: one grading per "check" request, until the kernel goes away."""
    from whiteboard.grading.snapshot import grade_snapshot

    # No PR_SET_PDEATHSIG here: the kernel may start us from a thread that ends at once. When the
    # kernel dies, its end of the channel closes and the loop below returns.
    channel = Channel(socket.socket(fileno=fd))
    import numpy  # noqa: F401 - what every check needs, loaded before the first request
    import pytest  # noqa: F401

    import whiteboard.grading.grade  # noqa: F401
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    while True:
        try:
            msg, fds = channel.recv()
        except (EOFError, OSError, ValueError):
            return
        if msg.get("op") != "check" or not fds:
            continue
        try:
            result = grade_snapshot(autograder, msg["assignment"], msg["function"], fds[0], msg["pid"], channel)
            channel.send({"op": "done", "result": result})
        except Exception as exc:  # noqa: BLE001 - reported to the kernel, the server lives on
            channel.send({"op": "done", "error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
