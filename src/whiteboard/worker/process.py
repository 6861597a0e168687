"""The isolated side of grading. Nothing in this file ever sees an expected value or a score.

Two kinds of process:

    zygote            started once per grading session; imports numpy, torch and matplotlib
      `- notebook     forked per submitted notebook; runs its code cells in a fresh namespace,
                      then one check's call after another (see run_call)

Each call starts from the namespace the notebook left (run_call undoes what a call changes), and
a call that hangs or kills the process costs that check only: the parent enforces every time
limit from outside, with SIGKILL, and starts a fresh notebook process for the next check.

Run as ``python -m whiteboard.worker FD CONFIG`` where FD is a Unix socket to the parent.
A self-check from a Jupyter kernel uses the same call loop (`serve`) in a fork of the kernel.
"""
from __future__ import annotations

import builtins
import importlib
import json
import linecache
import os
import resource
import signal
import socket
import sys
import traceback

from whiteboard.worker import codec, harness, sandbox

# Modules worth importing once in the zygote because notebooks import them (and they are slow).
PRELOADABLE = ("sklearn.datasets",)
CALL_MEMORY_BYTES = 6 * 1024**3  # on top of what the notebook process already maps
CALL_FILE_BYTES = 64 * 1024**2


class _Sink:
    """Where print() goes inside the worker: nowhere. Output never costs points."""

    encoding = "utf-8"

    def write(self, s):  # noqa: D401 - file protocol
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor")


class _IPythonStub:
    """Enough of get_ipython() for notebooks that use `%matplotlib inline` or `!pip`."""

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, *args, **kwargs):
        return None

    def system(self, *args, **kwargs):
        return None

    def getoutput(self, *args, **kwargs):
        return []


# ---- zygote --------------------------------------------------------------------------------

def zygote(control: socket.socket, preload: list[str] = (), harnesses: str | None = None) -> None:
    """Serve the parent on `control`: fork a notebook process for every "spawn" message.

    `preload`: slow modules the notebooks import; `harnesses`: the autograder's harness folder,
    whose modules are imported here, before any sandbox hides the autograder from the notebook
    processes forked from this one.
    """
    os.environ["MPLBACKEND"] = "Agg"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy  # noqa: F401 - loaded once here for every notebook
    import torch

    # One thread: forking after a parallel torch op can deadlock the child's thread pool.
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *a, **k: None
    _warm_up(torch)
    load_harnesses(harnesses)
    for name in preload:
        if name in PRELOADABLE:
            importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # notebook processes are reaped automatically
    control.set_inheritable(False)
    control.send(b"ready")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
        except OSError:
            _end_session()
            return
        if not msg:
            _end_session()  # the parent went away
            return
        op = msg.decode()
        if op.startswith("preload "):
            for name in op.split()[1:]:
                if name in PRELOADABLE:
                    try:
                        importlib.import_module(name)
                    except Exception:
                        pass
            continue
        for fd in fds:  # never inherited by the PID namespace's init (an exec'd `sleep`)
            os.set_inheritable(fd, False)
        if not op.startswith("spawn") or not fds:
            for fd in fds:
                os.close(fd)
            continue
        try:
            config = json.loads(op[len("spawn"):] or "{}")
        except ValueError:
            config = {}
        if config.get("harnesses"):
            load_harnesses(config["harnesses"])
        init = sandbox.enter_pid_namespace(config)
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            control.close()
            sock = socket.socket(fileno=fds[0])
            try:
                config["init"] = init
                notebook_process(sock, config, *sandbox.enter_namespaces(config, init is not None))
            finally:
                os._exit(0)
        if init is not None:
            sandbox.leave_pid_namespace()
            if pid < 0:
                os.kill(init, signal.SIGKILL)
        os.close(fds[0])


def _end_session() -> None:
    """The parent is gone: take the PID namespaces' inits (our process group) down with us."""
    try:
        os.killpg(0, signal.SIGKILL)
    except OSError:
        pass


HARNESS_PACKAGE = "whiteboard_harnesses"  # where an autograder's harness modules are registered
_harness_dir: list[str] = []


def load_harnesses(directory: str | None, eager: bool = True) -> None:
    """Make the harness modules of an autograder's folder importable as
    `whiteboard_harnesses.<assignment>` (again if another folder was loaded before).

    `eager`: import them all now (the zygote, before any sandbox hides the folder); otherwise each
    is imported when first used (a self-check snapshot of a numpy notebook skips torch's).
    """
    import types

    if not directory:
        return
    if _harness_dir != [str(directory)]:
        package = types.ModuleType(HARNESS_PACKAGE)
        package.__path__ = []
        sys.modules[HARNESS_PACKAGE] = package
        for name in [m for m in sys.modules if m.startswith(HARNESS_PACKAGE + ".")]:
            del sys.modules[name]
        _harness_dir[:] = [str(directory)]
    if eager:
        from pathlib import Path

        for path in sorted(Path(directory).glob("*.py")):
            if not path.stem.startswith("_"):
                try:
                    _import_harness(path.stem)
                except Exception:  # a broken harness fails its own checks, not the others
                    pass


def _import_harness(module: str):
    import importlib.util
    from pathlib import Path

    name = f"{HARNESS_PACKAGE}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(_harness_dir[0]) / f"{module}.py" if _harness_dir else None
    if path is None or not path.exists():
        raise LookupError(f"no harness module {module!r} (is autograder/harnesses/{module}.py there?)")
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[name]
        raise
    return loaded


def harness_function(module: str, name: str):
    """The harness `name` of `module` ("common" is the engine's call harness)."""
    if module == "common":
        return getattr(harness, name)
    return getattr(_import_harness(module), name)


def _warm_up(torch) -> None:
    """Pay torch's lazy first-use costs once here, not again in every notebook process."""
    import numpy as np

    a = torch.randn(8, 8, dtype=torch.float64, requires_grad=True)
    (a @ a).tanh().sum().backward()
    torch.nn.functional.softmax(torch.randn(4, 4), dim=-1)
    torch.tensor(np.ones(3))
    torch.nn.Linear(4, 4)(torch.randn(2, 4)).sum().backward()
    torch.nn.functional.conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3))
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1).step()


# ---- notebook process ----------------------------------------------------------------------

def notebook_process(sock: socket.socket, config: dict | None = None, pid: int | None = None,
                     off: list | None = None) -> None:
    """Serve one notebook. `pid` is this process's id as the parent sees it (inside a PID
    namespace os.getpid() is 1); `off` lists the sandbox's protections that could not be had."""
    os.setsid()  # its own process group, so the parent can kill it and its calls as one
    sandbox.die_with_parent()  # the zygote gone (its grader killed): this process goes too
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = _Sink()
    sys.stdin = open(os.devnull)
    off = list(off or [])
    _limit_resources()  # reads /proc/self: before the sandbox replaces /proc and drops the uid
    sandbox.lock_down(config or {}, off)
    namespace = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": _IPythonStub}
    codec.send(sock, {"event": "ready", "pid": pid or os.getpid(), "init": (config or {}).get("init"),
                      "off": sorted(set(off))})
    serve(sock, namespace)


def serve(sock: socket.socket, namespace: dict, only_loaded: bool = False) -> None:
    """Answer the parent's "exec" and "call" messages on `namespace` until it says "quit".

    `only_loaded`: tripwires leave alone modules nobody imported (a self-check in a numpy notebook
    should not pay for importing torch just to watch it).
    """
    while True:
        try:
            msg = codec.recv(sock)
        except (EOFError, codec.FrameError, OSError):
            return
        if msg["op"] == "exec":
            codec.send(sock, run_cell(namespace, msg["index"], msg["source"], msg.get("name")))
        elif msg["op"] == "call":
            reply = run_call(namespace, msg, lambda name: _reference_proxy(sock, name, namespace.get(name)),
                             only_loaded)
            try:
                codec.send(sock, reply)
            except (ValueError, TypeError, OverflowError) as exc:
                codec.send(sock, {"event": "error", "kind": "unsendable",
                                  "message": f"the result could not be sent back: {exc}"})
        elif msg["op"] == "quit":
            return


def _seed_everything(seed: int = 0) -> None:
    """Reset the random generators a call may draw from (torch only if something imported it)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def run_cell(namespace: dict, index: int, source: str, name: str | None = None) -> dict:
    """Run one cell's source in the namespace; `name` is how the student finds the cell."""
    import warnings

    import matplotlib.pyplot as plt

    warnings.simplefilter("ignore")
    filename = f"<cell {name or index}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec")
        exec(code, namespace)  # noqa: S102 - running the student's notebook is the point
        return {"event": "cell", "ok": True}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: a cell is only a cell
        return {"event": "cell", "ok": False, "error": _describe(exc)}
    finally:
        plt.close("all")


def _describe(exc: BaseException, filename_prefix: str = "<cell") -> str:
    """One line of exception, plus where in the student's own frames it happened (never ours)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(filename_prefix) or "ipykernel_" in f.filename]
    where = ""
    if frames:
        f = frames[-1]
        place = f.filename[len("<cell "):-1] if f.filename.startswith("<cell ") else "your notebook"
        where = f" (in {place}, line {f.lineno}: {(f.line or '').strip()[:120]})"
    text = f"{type(exc).__name__}: {exc}"
    if len(text) > 500:
        text = text[:500] + "..."
    return text + where


def _limit_resources() -> None:
    """Memory and file-size limits for everything the student's code does in this process."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + CALL_MEMORY_BYTES, hard))
        resource.setrlimit(resource.RLIMIT_FSIZE, (CALL_FILE_BYTES, CALL_FILE_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


def run_call(namespace: dict, msg: dict, standin, only_loaded: bool = False) -> dict:
    """Run one check's harness on the notebook's namespace; return the reply to send.

    Calls run in the notebook process itself (forking a process with torch loaded costs more
    than the check), so everything a call changes in the namespace or patches on a module is put
    back afterwards, and the random seeds are reset before it. A call that kills or hangs the
    process is handled by the parent, which starts a fresh one.
    `standin(name)` makes the function that answers for another graded function `name`.
    """
    before = dict(namespace)
    forbidden = msg.get("forbidden", ())
    patched = _save_attrs(forbidden, only_loaded)
    used: set = set()

    def error(kind: str, message: str) -> dict:
        # a forbidden API used on the way to an exception is still reported: it explains the crash
        return {"event": "error", "kind": kind, "message": message, "forbidden_used": sorted(used)}

    try:
        for name in msg.get("standins", ()):
            namespace[name] = standin(name)
        used = _install_tripwires(forbidden, only_loaded, namespace)
        _seed_everything(msg.get("seed", 0))
        run = harness_function(msg["harness_module"], msg["harness"])
        value = run(namespace, **msg.get("params", {}))
        return {"event": "result", "value": value, "forbidden_used": sorted(used)}
    except NotImplementedError as exc:
        return error("not-implemented", _describe(exc))
    except harness.MissingFunction as exc:
        return error("missing", str(exc))
    except MemoryError as exc:
        return error("memory", _describe(exc))
    except SystemExit as exc:
        return error("exit", f"SystemExit({exc.code!r})")
    except BaseException as exc:
        return error("exception", _describe(exc))
    finally:
        for name in [k for k in namespace if k not in before]:
            del namespace[name]
        namespace.update(before)
        for owner, attr, value in patched:
            setattr(owner, attr, value)
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def _resolve(dotted_names, only_loaded: bool):
    """(owner module, attribute name, current value) for each importable dotted name."""
    for dotted in dotted_names:
        module_name, _, attr = dotted.rpartition(".")
        if only_loaded and module_name not in sys.modules:
            continue
        try:
            owner = importlib.import_module(module_name)
            yield dotted, owner, attr, getattr(owner, attr)
        except (ImportError, AttributeError, ValueError):
            continue


def _save_attrs(dotted_names, only_loaded: bool) -> list:
    return [(owner, attr, value) for _, owner, attr, value in _resolve(dotted_names, only_loaded)]


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _reference_proxy(sock: socket.socket, name: str, original=None):
    """A stand-in that asks the parent to run the reference: the reference never comes here.

    Where the parent has no answer (a student kit's data lacks these inputs), the student's own
    `original` function answers instead.
    """

    def proxy(*args, **kwargs):
        codec.send(sock, {"event": "reference_call", "function": name, "args": list(args),
                          "kwargs": kwargs})
        reply = codec.recv(sock)
        if reply.get("fallback") and callable(original):
            return original(*args, **kwargs)
        if reply.get("error"):
            raise TypeError(reply["error"])
        return reply["value"]

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def _install_tripwires(dotted_names, only_loaded: bool = False, namespace: dict | None = None) -> set:
    """Wrap forbidden APIs so that using them is noticed (the call still goes through).

    The attribute is replaced on its module, and every global of the notebook bound to the same
    object (`from torch.nn.functional import scaled_dot_product_attention as sdpa`) is replaced
    too. `only_loaded` skips modules nobody has imported yet (a self-check in a numpy-only
    notebook should not pay for importing torch just to watch it).
    """
    used: set = set()
    for dotted, owner, attr, original in _resolve(dotted_names, only_loaded):
        if isinstance(original, type):
            def make(orig=original, name=dotted):
                class Tripwire(orig):  # subclass so isinstance and super() still work
                    def __init__(self, *a, **k):
                        used.add(name)
                        super().__init__(*a, **k)
                Tripwire.__name__ = orig.__name__
                Tripwire.__qualname__ = orig.__qualname__
                return Tripwire
            wire = make()
        else:
            def wire(*a, _orig=original, _name=dotted, **k):
                used.add(_name)
                return _orig(*a, **k)
        setattr(owner, attr, wire)
        for key, value in list((namespace or {}).items()):
            if value is original:
                namespace[key] = wire
    return used
