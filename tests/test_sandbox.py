"""Each wall of the sandbox (src/whiteboard/sandbox.py), tested from inside a real worker.

A protection the platform does not give (no root, no namespaces, another CPU) is skipped with the
reason; what must hold everywhere (grading works, one warning names what is off) is not.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from whiteboard.worker import sandbox
from whiteboard.grading.submission import Notebook, StudentError

# one parallel worker runs all of this module: its fixtures are built once
pytestmark = pytest.mark.xdist_group("sandbox")

PROBES = r'''
import os, socket, errno, resource, json



def try_(fn):
    try:
        return ["ok", repr(fn())[:200]]
    except BaseException as exc:
        return ["error", type(exc).__name__ + ": " + str(exc)[:200]]

def read_dir(path):
    return try_(lambda: os.listdir(path))

def read_file(path):
    return try_(lambda: open(path, "rb").read(100))

def connect(host, port):
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect((host, port))
    return try_(go)

def unix_socket():
    return try_(lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))

def ids():
    return {"uid": os.getuid(), "euid": os.geteuid(), "pid": os.getpid(),
            "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}

def limits():
    return {name: list(resource.getrlimit(getattr(resource, name)))
            for name in ("RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_AS")}

def syscall(name):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    calls = {
        "ptrace": lambda: libc.ptrace(16, 1, 0, 0),           # PTRACE_ATTACH to pid 1
        "unshare": lambda: libc.unshare(0x10000000),           # CLONE_NEWUSER
        "mount": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
        "umount": lambda: libc.umount2(b"/tmp", 2),
        "bpf": lambda: libc.syscall(321, 0, 0, 0),
        "keyctl": lambda: libc.syscall(250, 0, 0, 0),
        "perf_event_open": lambda: libc.syscall(298, 0, 0, -1, -1, 0),
        "setuid0": lambda: libc.setuid(0),
    }
    ret = calls[name]()
    return [ret, errno.errorcode.get(ctypes.get_errno(), "")]

def write_big(nbytes):
    def go():
        with open("big.bin", "wb") as f:
            f.write(b"x" * nbytes)
    return try_(go)

def numerics():
    import numpy as np, torch
    a = np.linalg.solve(np.eye(3) * 2, np.ones(3))
    t = torch.nn.functional.conv2d(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3)).sum().item()
    x = torch.randn(4, 4, requires_grad=True); (x @ x).sum().backward()
    return [a.tolist(), t, x.grad.shape[0]]

def spin():
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        pass

def spawn_daemon(path):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            import shutil
            # a process anyone can find by its arguments: `sleep 30.5151` (the test looks for it)
            os.execv(shutil.which("sleep") or "/bin/sleep", ["sleep", "30.5151"])
        os._exit(0)
    return True
'''


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course-like tree: autograder/ and solutions/ with a secret, and two students."""
    root = tmp_path_factory.mktemp("course")
    for d in ("autograder", "solutions", "source"):
        (root / d).mkdir()
        (root / d / "secret.txt").write_text("the answer is 42")
    (root / "autograder" / "conftest.py").write_text("")
    for student in ("alice", "bob"):
        folder = root / "submitted" / student / "qprobe"
        folder.mkdir(parents=True)
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(PROBES)]
        nbformat.write(nb, str(folder / "qprobe.ipynb"))
    return root


@pytest.fixture
def alice(course):
    nb = Notebook(course / "submitted" / "alice" / "qprobe" / "qprobe.ipynb", "qprobe")
    yield nb
    nb.close()


def probe(nb: Notebook, name: str, *args):
    return nb.call(name, *args)[0]


def require(nb: Notebook, protection: str) -> None:
    probe(nb, "ids")  # starts the worker
    if protection in nb.sandbox_off:
        pytest.skip(f"{protection} is not available here ({sandbox.PROTECTIONS[protection]})")


def test_grading_works_and_reports_what_is_off(alice):
    assert probe(alice, "numerics") == [[0.5, 0.5, 0.5], 81.0, 4]
    assert set(alice.sandbox_off) <= set(sandbox.PROTECTIONS)


def test_secrets_and_other_students_are_unreadable(alice, course):
    require(alice, "mount-namespace")
    for path in (course / "autograder", course / "solutions", course / "source",
                 course / "submitted" / "bob", course / "submitted"):
        status, text = probe(alice, "read_dir", str(path))
        assert status == "error" or text == "[]", (path, text)
    for path in (course / "solutions" / "secret.txt", course / "submitted" / "bob" / "qprobe" / "qprobe.ipynb",
                 ROOT / "autograder" / "references" / "__init__.py"):
        assert probe(alice, "read_file", str(path))[0] == "error", path


def test_no_network(alice):
    require(alice, "network-namespace")
    status, text = probe(alice, "connect", "1.1.1.1", 53)
    assert status == "error", text
    assert probe(alice, "unix_socket")[0] == "ok"  # multiprocessing & co. still work


def test_pid_namespace_and_private_proc(alice):
    require(alice, "pid-namespace")
    require(alice, "private-proc")
    ids = probe(alice, "ids")
    assert ids["pid"] != alice._pid and len(ids["processes"]) <= 3, ids  # init, itself, maybe a child
    assert os.getpid() not in ids["processes"]


def test_unprivileged_uid_and_limits(alice):
    require(alice, "uid-drop")
    ids = probe(alice, "ids")
    assert sandbox.UID_BASE <= ids["uid"] < sandbox.UID_BASE + sandbox.UID_SLOTS and ids["euid"] == ids["uid"]
    lim = probe(alice, "limits")
    assert lim["RLIMIT_NPROC"][0] == sandbox.NPROC_LIMIT
    assert lim["RLIMIT_NOFILE"][0] <= sandbox.NOFILE_LIMIT
    assert lim["RLIMIT_CORE"] == [0, 0]
    assert probe(alice, "syscall", "setuid0")[0] == -1


def test_file_size_limit(alice):
    assert probe(alice, "write_big", 1024)[0] == "ok"
    status, text = probe(alice, "write_big", 100 * 1024 * 1024)
    assert status == "error", text


@pytest.mark.parametrize("call", ["ptrace", "unshare", "mount", "umount", "bpf", "keyctl",
                                  "perf_event_open"])
def test_seccomp_denies(alice, call):
    require(alice, "seccomp")
    ret, err = probe(alice, "syscall", call)
    assert ret == -1 and err in ("EPERM", "EACCES"), (ret, err)


def test_seccomp_program_is_well_formed():
    try:
        program = sandbox.seccomp_program()
    except NotImplementedError as exc:
        pytest.skip(str(exc))
    assert program[0] == (0x20, 0, 0, 4) and len(program) < 200
    assert all(0 <= jt < 256 and 0 <= jf < 256 for _, jt, jf, _ in program)


def test_daemon_dies_with_its_notebook(course, tmp_path):
    nb = Notebook(course / "submitted" / "alice" / "qprobe" / "qprobe.ipynb", "qprobe")
    try:
        probe(nb, "ids")
        if "pid-namespace" in nb.sandbox_off and "uid-drop" in nb.sandbox_off:
            pytest.skip("neither a PID namespace nor a uid per worker: a setsid() daemon can outlive it")
        # the daemon writes where it can: the notebook's private /tmp
        assert probe(nb, "spawn_daemon", "/tmp/daemon.log") is True
        time.sleep(0.3)
        uid = nb._slot.uid if nb._slot else None
    finally:
        nb.close()
    if uid is not None:
        deadline = time.monotonic() + 30
        while sandbox.processes_of(uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not sandbox.processes_of(uid), "a process of the worker's uid survived"
    deadline = time.monotonic() + 10
    while "sleep 30.5151" in subprocess.run(["ps", "-eo", "pid,args"], capture_output=True,
                                           text=True).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert "sleep 30.5151" not in survivors, "the daemon outlived its notebook"


def test_workers_report_what_is_off_and_grading_goes_on(course, monkeypatch):
    monkeypatch.setenv("WHITEBOARD_SANDBOX_DISABLE", "seccomp,network-namespace")
    monkeypatch.setattr(sandbox, "reported_off", set())
    nbs = [Notebook(course / "submitted" / s / "qprobe" / "qprobe.ipynb", "qprobe") for s in ("alice", "bob")]
    try:
        for nb in nbs:
            assert probe(nb, "numerics")[1] == 81.0
            assert {"seccomp", "network-namespace"} <= set(nb.sandbox_off)
        assert probe(nbs[0], "connect", "127.0.0.1", 9)[0] == "error"  # nothing listens: refused
    finally:
        for nb in nbs:
            nb.close()
    assert {"seccomp", "network-namespace"} <= sandbox.reported_off


def test_whiteboard_grade_warns_once_naming_what_is_off(tmp_path):
    """The workers start inside checks, where pytest captures output: the warning must come from
    grade() itself, once, after the checks (and --quiet keeps it quiet)."""
    from conftest import make_submission

    submission = make_submission(tmp_path, "q05_cross_entropy")
    env = dict(os.environ, WHITEBOARD_SANDBOX_DISABLE="seccomp,network-namespace")
    cmd = [sys.executable, "-m", "whiteboard", "grade", str(submission)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("whiteboard: warning: the grading sandbox runs without") == 1, run.stderr
    assert "seccomp" in run.stderr and "network-namespace" in run.stderr
    quiet = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr


def test_everything_off_still_grades(course, monkeypatch):
    monkeypatch.setenv("WHITEBOARD_SANDBOX", "off")
    nb = Notebook(course / "submitted" / "bob" / "qprobe" / "qprobe.ipynb", "qprobe")
    try:
        assert probe(nb, "numerics")[1] == 81.0
        assert set(nb.sandbox_off) == set(sandbox.PROTECTIONS)
    finally:
        nb.close()


def test_hidden_paths(course):
    hidden = sandbox.hidden_paths(course / "submitted" / "alice" / "qprobe" / "qprobe.ipynb")
    for p in (course / "autograder", course / "solutions", course / "source", course / "submitted",
              ROOT / "autograder", ROOT / "solutions"):
        assert str(p) in hidden, (p, hidden)
    assert not any(sys.prefix.startswith(h + os.sep) or sys.prefix == h for h in hidden)
    assert str(Path(sandbox.__file__).parent) not in hidden


def test_slots_are_distinct_and_released():
    if os.geteuid() != 0 or "uid-drop" in sandbox.disabled():
        pytest.skip("not root (or the uid drop is disabled): no uid per worker")
    a, b = sandbox.Slot(), sandbox.Slot()
    try:
        assert a.uid is not None and b.uid is not None and a.uid != b.uid
    finally:
        a.release()
        b.release()
    assert a.uid is None


def test_a_call_timeout_is_still_enforced_from_outside(alice):
    started = time.monotonic()
    with pytest.raises(StudentError) as info:
        alice.call("spin", timeout=1.0)
    assert info.value.kind == "timeout" and time.monotonic() - started < 5
    assert probe(alice, "numerics")[1] == 81.0  # a fresh worker serves the next call
