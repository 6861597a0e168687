"""The parent's handle on one submitted notebook: start its worker, run its cells, call its functions.

Everything here runs in the trusted process. The worker only ever receives the notebook's code and
the inputs of a call; it answers with plain data (see codec.py). Time limits are enforced from here
with SIGKILL, so no student code can catch or delay them.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from whiteboard.worker import codec, sandbox
from whiteboard.grading.notebook import Cell, cells_to_grade, imported_modules, read_code_cells

# Limits on the student's code, in seconds; the environment may lower them (the kit's tests do).
CELL_TIMEOUT_S = float(os.environ.get("WHITEBOARD_CELL_TIMEOUT", 60))
CALL_TIMEOUT_S = float(os.environ.get("WHITEBOARD_CALL_TIMEOUT", 20))
RESULT_LIMIT_BYTES = 64 * 1024 * 1024


class StudentError(Exception):
    """A call could not produce a value: `kind` is a catalogue label, `message` says why.
    `notebook`: the notebook as a whole is the problem (missing, unreadable), not this function."""

    def __init__(self, kind: str, message: str, notebook: bool = False):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.notebook = notebook
        self.forbidden_used: list[str] = []  # forbidden APIs the call used before it failed


def error_from_reply(reply: dict) -> StudentError:
    """The StudentError for a worker's error reply (a label and a message for the student)."""
    kind, text = reply["kind"], reply["message"]
    label = {"not-implemented": "not-implemented", "missing": "not-implemented"}.get(kind, "crash")
    if kind == "memory":
        text = f"ran out of memory: {text}"
    elif kind == "exit":
        text = f"called {text}: a graded function must return, not exit"
    elif kind == "not-implemented":
        where = text[text.find("(in "):].strip("()") if "(in " in text else ""
        where = where.rsplit(", line", 1)[0]
        text = ("still raises NotImplementedError" + (f" ({where})" if where else "")
                + ": replace the `raise NotImplementedError` line with your code")
    return StudentError(label, text)


# ---- the zygote ------------------------------------------------------------------------------

class Zygote:
    """One clean Python process with torch imported, from which every notebook process is forked.

    By default it is started with a fresh interpreter (never forked from this process), so nothing
    the parent holds, the references least of all, is in its memory. `fork=True` forks it from
    this process instead, which skips the seconds of importing torch again: only for a process
    that holds nothing yet (a grade-class pool process, before its first student) and has no
    threads of its own running Python.
    """

    def __init__(self, preload: tuple[str, ...] = (), fork: bool = False, harnesses: str | None = None) -> None:
        from whiteboard.worker.process import PRELOADABLE

        # SEQPACKET keeps message boundaries: "preload ..." and "spawn" must never merge.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.preloaded: set[str] = {m for m in preload if m in PRELOADABLE}
        env = dict(MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", WHITEBOARD_WORKER="1")
        config = {"preload": sorted(self.preloaded), "harnesses": harnesses}
        if fork:
            self.proc: subprocess.Popen | _ForkedProcess = _fork_zygote(ours, theirs, env, config)
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "whiteboard.worker", str(theirs.fileno()), json.dumps(config)],
                pass_fds=[theirs.fileno()], env=dict(os.environ, **env), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self.control = ours
        ours.settimeout(120)
        if ours.recv(64) != b"ready":
            raise RuntimeError("the grading worker did not start")
        ours.settimeout(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def preload(self, modules: set[str]) -> None:
        from whiteboard.worker.process import PRELOADABLE

        wanted = sorted(m for m in modules if m in PRELOADABLE and m not in self.preloaded)
        if wanted:
            self.control.sendall(("preload " + " ".join(wanted)).encode())
            self.preloaded.update(wanted)

    def spawn(self, config: dict | None = None) -> socket.socket:
        """A new notebook process; `config` says how to wall it in (see sandbox.lock_down)."""
        ours, theirs = socket.socketpair()
        message = b"spawn" + (json.dumps(config).encode() if config else b"")
        socket.send_fds(self.control, [message], [theirs.fileno()])
        theirs.close()
        return ours

    def close(self) -> None:
        try:
            self.control.close()
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()


class _ForkedProcess:
    """The part of Popen's interface Zygote uses, for a child made with os.fork."""

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self, flags: int = os.WNOHANG) -> int | None:
        if self.returncode is None:
            try:
                done = os.waitpid(self.pid, flags)[0]
            except ChildProcessError:  # reaped already
                done = self.pid
            if done:
                self.returncode = -1
        return self.returncode

    def wait(self) -> int:
        return self.poll(0)


def _fork_zygote(ours: socket.socket, theirs: socket.socket, env: dict, config: dict) -> _ForkedProcess:
    """Fork the zygote from this process. The child keeps nothing of ours that it could use: every
    file descriptor but its end of the control socket is closed (a grade-class pool process holds
    the pipe its results go back on), and it leads a session of its own, like a started one."""
    import gc

    gc.collect()  # what is garbage now would otherwise be collected in the child, closing stale fds
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return _ForkedProcess(pid)
    try:
        gc.freeze()  # the inherited objects are never collected here: their fds are closed below
        os.setsid()
        sandbox.die_with_parent(parent)  # its grade-class pool process gone: the zygote goes too
        keep = theirs.fileno()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, keep)
        os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
        os.environ.update(env)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        from whiteboard.worker.process import zygote as serve

        serve(theirs, **config)
    finally:
        os._exit(0)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote(preload: tuple[str, ...] = (), fork: bool = False, harnesses: str | None = None) -> Zygote:
    """The session's zygote, started on first use (thread-safe, so it can start in the background).

    `preload`: slow modules the notebooks import, loaded once in the zygote as it starts.
    `fork`: fork it from this process (see Zygote): only grade-class's pool initializer asks, the
    calls that come later in grading do not, so a zygote that died is replaced by a fresh one.
    `harnesses`: the autograder's harness folder, imported in the zygote as it starts (each
    notebook process names the folder it needs, so one zygote serves any autograder).
    """
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            _zygote = Zygote(preload, fork=fork, harnesses=harnesses)
            atexit.register(_zygote.close)
        return _zygote


# ---- one notebook ----------------------------------------------------------------------------

@dataclass
class CallResult:
    value: Any
    forbidden_used: list = field(default_factory=list)


class Notebook:
    """A submitted notebook, run in its own worker. Call `call()` or `run()`; `errors` says what broke."""

    def __init__(self, path: Path | str, assignment: str, references: Callable[[str], Callable] | None = None,
                 hidden: tuple = (), harnesses: Path | str | None = None):
        """`references(name)` answers a stand-in's call of graded function `name` (or None);
        `hidden`: paths the worker must not read, on top of sandbox.hidden_paths()'s;
        `harnesses`: the autograder's harness folder."""
        self.path = Path(path)
        self.harnesses = str(harnesses) if harnesses else None
        self.hidden = tuple(hidden)
        self.sandbox_off: list[str] = []  # protections the last worker ran without
        self._slot: sandbox.Slot | None = None
        self.assignment = assignment
        self.references = references  # name -> reference function, for reference_call requests
        self.errors: list[str] = []
        self.problem: tuple[str, str] | None = None  # (label, message) when nothing can be graded
        self.cells: list[Cell] = []
        self._skip: set[int] = set()  # cells that hung or killed the process: never run again
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        if not self.path.exists():
            self.problem = ("not-implemented", f"there is no notebook {self._shown_path()}, so nothing "
                            f"of {assignment} could be graded. Hand in {assignment}/{assignment}.ipynb "
                            "(the release notebook with your answers, saved).")
            self.errors.append(f"{self._shown_path()}: notebook not found")
            return
        try:
            self.cells = cells_to_grade(read_code_cells(self.path))
        except ValueError as exc:
            self.problem = ("crash", f"{exc}, so nothing of {assignment} could be graded. Open it in "
                            "Jupyter (if it does not open, start again from the release notebook and "
                            "copy your answers in), save it and hand it in again.")
            self.errors.append(str(exc))

    def _shown_path(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    # -- worker life ---------------------------------------------------------------------------

    def _start(self) -> None:
        z = zygote(harnesses=self.harnesses)
        z.preload(imported_modules(self.cells))
        if self._slot is None:
            self._slot = sandbox.Slot()
            self._config = {"hidden": sandbox.hidden_paths(self.path, self.hidden),
                            "expose": sandbox.expose_paths(), "harnesses": self.harnesses,
                            "uid": self._slot.uid, "disable": sorted(sandbox.disabled())}
        self._sock = z.spawn(self._config)
        try:
            hello = codec.recv(self._sock, deadline=time.monotonic() + 60)
        except (TimeoutError, EOFError, codec.FrameError, OSError) as exc:
            self._kill()
            raise StudentError("crash", f"the worker for your notebook could not start ({exc!r}); "
                               "this is a grader problem, please report it") from None
        self._pid = hello["pid"]
        self._init = hello.get("init")
        self.sandbox_off = list(hello.get("off", []))
        sandbox.note_off(self.sandbox_off)
        first_run = not getattr(self, "_ran_once", False)
        for cell in self.cells:
            if cell.index in self._skip:
                continue
            codec.send(self._sock, {"op": "exec", "index": cell.index, "source": cell.source,
                                    "name": cell.name})
            try:
                reply = codec.recv(self._sock, deadline=time.monotonic() + CELL_TIMEOUT_S)
            except TimeoutError:
                self._kill()
                self._skip.add(cell.index)
                self.errors.append(f"{cell.name} did not finish within {CELL_TIMEOUT_S:.0f} s "
                                   "and was skipped (an infinite loop?)")
                return self._start()
            except (EOFError, codec.FrameError, OSError):
                self._kill()
                self._skip.add(cell.index)
                self.errors.append(f"{cell.name} ended the Python process (os._exit, a crash "
                                   "or running out of memory) and was skipped")
                return self._start()
            unanswered = cell.nbgrader.get("solution") and reply.get("error", "").startswith("NotImplementedError")
            if not reply["ok"] and first_run and not unanswered:  # an untouched stub is not an error
                self.errors.append(f"{cell.name} raised {reply['error']}")
        self._ran_once = True

    def _kill(self) -> None:
        """End the notebook process and everything it started.

        Its process group dies by SIGKILL, and so does the init of its PID namespace, which takes
        every other process of the submission with it. Without one, the processes of the slot's uid are hunted down.
        """
        if self._pid is not None:
            for kill, pid in ((os.kill, getattr(self, "_init", None)), (os.killpg, self._pid)):
                try:
                    if pid:
                        kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if "pid-namespace" in self.sandbox_off and self._slot is not None and self._slot.uid:
                sandbox.kill_uid(self._slot.uid)
        if self._sock is not None:
            self._sock.close()
        self._sock = self._pid = None

    def close(self) -> None:
        if self._sock is not None:
            try:
                codec.send(self._sock, {"op": "quit"})
            except OSError:
                pass
        self._kill()
        if self._slot is not None:
            self._slot.release()  # kills whatever still runs under the slot's uid
            self._slot = None

    # -- calls ---------------------------------------------------------------------------------

    def call(self, function: str, *args: Any, standins: tuple = (), forbidden: tuple = (),
             timeout: float | None = None, **kwargs: Any) -> tuple[Any, list, dict, list]:
        """Call the student's `function(*args, **kwargs)` in the notebook process.

        Returns (value, args_after, kwargs_after, forbidden_used). Raises StudentError.
        """
        out = self.run("common", "call", dict(function=function, args=list(args), kwargs=kwargs),
                       standins=standins, forbidden=forbidden, timeout=timeout)
        v = out.value
        return v["value"], v["args_after"], v["kwargs_after"], out.forbidden_used

    def run(self, module: str, harness: str, params: dict, *, standins: tuple = (),
            forbidden: tuple = (), timeout: float | None = None, seed: int = 0) -> CallResult:
        """Run the harness `<module>.<harness>(namespace, **params)` in the notebook process
        (`module` is an assignment's harness module, or "common" for the engine's)."""
        if self.problem:
            raise StudentError(*self.problem, notebook=True)
        if self._sock is None:
            self._start()
        msg = {"op": "call", "harness_module": module, "harness": harness, "params": params,
               "standins": list(standins), "forbidden": list(forbidden), "seed": seed}
        try:
            codec.send(self._sock, msg)
            return self._await_result(CALL_TIMEOUT_S if timeout is None else timeout)
        except StudentError:
            raise
        except (EOFError, codec.FrameError, OSError) as exc:
            self._kill()
            raise StudentError("crash", f"the worker running your notebook stopped unexpectedly ({exc})")

    def _await_result(self, timeout: float) -> CallResult:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = codec.recv(self._sock, deadline=deadline, max_bytes=RESULT_LIMIT_BYTES)
            except TimeoutError:
                self._kill()  # a fresh notebook process serves the next check
                raise StudentError("timeout", f"your function did not return within {timeout:g} s "
                                   "(an infinite loop, or far too slow?)") from None
            except EOFError:
                self._kill()
                raise StudentError("crash", "your function ended the Python process before returning "
                                   "(os._exit, a crash in native code, or running out of memory?)") from None
            except codec.FrameError as exc:
                self._kill()
                if "-byte limit" in str(exc):
                    size = str(exc).split()[2]
                    raise StudentError("crash", f"your function returned {int(size) / 2**20:.0f} MB, more "
                                       f"than the {RESULT_LIMIT_BYTES // 2**20} MB a result may hold: "
                                       "return only what the exercise asks for") from None
                raise StudentError("crash", f"your function's result could not be read back: {exc}") from None
            if msg.get("event") == "reference_call":
                self._answer_reference_call(msg)
            else:
                break
        if msg.get("event") == "error":
            err = error_from_reply(msg)
            err.forbidden_used = list(msg.get("forbidden_used", []))
            raise err
        return CallResult(msg["value"], list(msg.get("forbidden_used", [])))

    def _answer_reference_call(self, msg: dict) -> None:
        name = msg.get("function")
        fn = self.references(name) if self.references else None
        if fn is None:
            codec.send(self._sock, {"error": f"{name} is not available here"})
            return
        try:
            codec.send(self._sock, {"value": fn(*msg.get("args", []), **msg.get("kwargs", {}))})
        except LookupError:  # no answer for these inputs (a student kit): the student's own answers
            codec.send(self._sock, {"fallback": True})
        except Exception as exc:  # the student's call of a helper went wrong: tell their code
            codec.send(self._sock, {"error": f"{name}() raised {type(exc).__name__}: {exc}"})
