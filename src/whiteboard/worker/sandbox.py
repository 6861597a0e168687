"""The walls around one notebook process: what a student who tries cannot get past.

Two halves:

- the parent's side (trusted): `hidden_paths()` says what the worker must not read, `Slot` leases
  an unprivileged uid per live notebook, `kill_uid()` ends every process of that uid;
- the worker's side: `enter_pid_namespace()` (in the zygote) makes the next notebook process the
  init of a fresh PID namespace, `enter_namespaces()` gives it its own network and mount
  namespaces, and `lock_down()` (in the notebook process, before any student code)
  hides the course's secrets, gives it a private /tmp and /proc, sets resource limits, drops to
  the slot's uid and installs a seccomp filter.

Every step is optional: where the platform refuses one (a laptop, an unprivileged container,
another CPU architecture), grading still works and the step's name is reported, so the parent can
say once which protections are off. Nothing here needs a package beyond the standard library.

Setting ``WHITEBOARD_SANDBOX=off`` turns every protection off; ``WHITEBOARD_SANDBOX_DISABLE=a,b``
turns off the named ones (names as in PROTECTIONS), to test or to debug a notebook.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import platform
import resource
import signal
import struct
import sys
import time
from pathlib import Path

# Each protection, by the name the warning uses.
PROTECTIONS = {
    "pid-namespace": "a PID namespace (every process of a submission dies with it)",
    "network-namespace": "no network",
    "mount-namespace": "hidden course files and a private /tmp",
    "private-proc": "a /proc that shows only the submission's processes",
    "uid-drop": "an unprivileged uid per worker (process limit, no access to root's files)",
    "seccomp": "a seccomp filter (no sockets but Unix ones, no ptrace, mount, unshare, bpf, ...)",
}

UID_BASE = 61000
UID_SLOTS = 1000
NPROC_LIMIT = 64  # processes and threads per submission (counted per uid: needs the uid drop)
NOFILE_LIMIT = 256
TMP_BYTES = 256 * 1024 * 1024  # the private /tmp (and scratch directory) of one notebook process

# Course directories (and files) a worker must never read, relative to a course root.
COURSE_SECRETS = ("autograder", "solutions", "source", "tests", "submitted", "autograded",
                  "feedback", "gradebook.db", ".git")

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 38, 22

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def disabled() -> set[str]:
    """Protections turned off by the environment (see the module's docstring)."""
    if os.environ.get("WHITEBOARD_SANDBOX", "").lower() in ("off", "0", "no", "false"):
        return set(PROTECTIONS)
    names = os.environ.get("WHITEBOARD_SANDBOX_DISABLE", "")
    return {n.strip() for n in names.split(",") if n.strip()}


# ==== the parent's side =======================================================================

def _essential_dirs() -> list[Path]:
    """Directories the worker needs to read: Python, its packages, this package, the temp dir."""
    import sysconfig
    import tempfile

    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(), "/",
            str(Path(__file__).resolve().parents[1]), str(Path.home())}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            dirs.add(sysconfig.get_paths()[key])
        except KeyError:
            pass
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            dirs.add(entry)
    return [Path(d).resolve() for d in dirs]


def _needed(path: Path, essentials: list[Path]) -> bool:
    """Whether hiding `path` would hide something the worker needs."""
    return any(e == path or path in e.parents for e in essentials)


def _course_roots(notebook: Path) -> set[Path]:
    roots: set[Path] = set()
    for start in (notebook.parent, Path.cwd()):
        for d in (start, *start.parents):
            if (d / "autograder").is_dir():
                roots.add(d)
                break
    for module in list(sys.modules.values()):  # where the loaded checks and references live
        f = getattr(module, "__file__", None) or ""
        if f"{os.sep}autograder{os.sep}" in f:
            roots.add(Path(f[:f.index(f"{os.sep}autograder{os.sep}")]))
    package_course = Path(__file__).resolve().parents[2]
    if (package_course / "autograder").is_dir():
        roots.add(package_course)
    return roots


def hidden_paths(notebook: Path | str, extra: tuple = ()) -> list[str]:
    """What the worker of `notebook` must not read.

    The course's secrets (COURSE_SECRETS of every course root in sight), the submission's own
    folder (the parent sends the cells: the worker never reads a notebook) and, when the folder
    beside it holds other submissions (nbgrader's submitted/<student>/), that whole folder.
    `extra` and $WHITEBOARD_HIDDEN (os.pathsep-separated) add paths. Nothing the worker needs to
    run (Python, its packages, this package, the temp directory) is ever hidden.
    """
    notebook = Path(notebook).resolve()
    essentials = _essential_dirs()
    wanted: list[Path] = []
    for root in sorted(_course_roots(notebook)):
        wanted += [root / name for name in COURSE_SECRETS]
    submission = notebook.parent.parent
    wanted.append(submission)
    beside = submission.parent
    if beside not in _course_roots(notebook) and not _needed(beside, essentials):
        wanted.append(beside)  # other students' folders, or other tests' submissions
    wanted += [Path(p) for p in extra]
    wanted += [Path(p) for p in os.environ.get("WHITEBOARD_HIDDEN", "").split(os.pathsep) if p]
    out: list[str] = []
    for p in wanted:
        p = p.resolve()
        if p.exists() and not _needed(p, essentials) and str(p) not in out:
            out.append(str(p))
    return out


class Slot:
    """An unprivileged uid leased to one live notebook, so that no two workers share one.

    Leases are flock()s on files in a root-only directory, so they hold across the processes of
    a parallel class grading and vanish with a parent that dies. `uid` is None when this process
    cannot switch uids (it is not root) or the uid drop is disabled.
    """

    _counter = 0

    def __init__(self) -> None:
        self.uid: int | None = None
        self._fd: int | None = None
        if os.geteuid() != 0 or "uid-drop" in disabled():
            return
        directory = Path(os.environ.get("WHITEBOARD_SLOT_DIR", "/tmp/whiteboard-slots"))
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
        except OSError:
            return
        start = (os.getpid() * 7 + Slot._counter) % UID_SLOTS
        Slot._counter += 1
        for i in range(UID_SLOTS):
            n = (start + i) % UID_SLOTS
            try:
                fd = os.open(directory / f"{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = UID_BASE + n, fd
            kill_uid(self.uid)  # whatever a crashed grader left behind under this uid
            return

    def release(self) -> None:
        if self.uid is not None:
            kill_uid(self.uid)
        if self._fd is not None:
            os.close(self._fd)
        self.uid = self._fd = None


def _live_uid(pid: str) -> int | None:
    """The real uid of a live process (None for a zombie, a gone one or an unreadable one)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            text = f.read()
    except OSError:
        return None
    uid = None
    for line in text.splitlines():
        if line.startswith(b"State:") and line.split()[1] in (b"Z", b"X"):
            return None
        if line.startswith(b"Uid:"):
            try:
                uid = int(line.split()[1])
            except (ValueError, IndexError):
                return None
    return uid


def processes_of(uid: int) -> list[int]:
    """The live processes whose real uid is `uid` (a SIGKILLed one counts until it has exited)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    return [int(p) for p in pids if _live_uid(p) == uid]


def kill_uid(uid: int, passes: int = 50) -> int:
    """SIGKILL every live process whose real uid is `uid` (a slot's: only a worker's); how many.

    Reads /proc/PID/status rather than the directory's owner, which a process can make root's
    with prctl(PR_SET_DUMPABLE, 0). Repeats until a pass finds none, so forks during a pass die too.
    """
    killed: set[int] = set()
    for _ in range(passes):
        found = 0
        for pid in processes_of(uid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            if pid not in killed:
                found += 1
                killed.add(pid)
        if not found:
            break
        time.sleep(0.001)
    return len(killed)


# ==== the worker's side =======================================================================

def _unshare(flags: int) -> None:
    _check(_c().unshare(ctypes.c_int(flags)), "unshare")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    ret = _c().mount(source.encode() if source else None, target.encode(),
                     fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                     data.encode() if data else None)
    _check(ret, f"mount {target}")


def _prctl(option: int, arg: int = 0) -> None:
    _check(_c().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                      ctypes.c_ulong(0)), f"prctl {option}")


def die_with_parent(parent: int | None = None) -> None:
    """Have the kernel SIGKILL this process when the thread that started it dies (a process the
    kit starts must never outlive the one that started it, even one killed with SIGKILL).

    `parent`: the pid it was started by; if that one is already gone, exit now (the race between
    fork and prctl). Without Linux's prctl this does nothing.
    """
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError, TypeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(0)


_own_pid_ns: int | None = None


def enter_pid_namespace(config: dict) -> int | None:
    """In the zygote, before it forks a notebook process: start a new PID namespace for it.

    Its init is a `sleep infinity` started with posix_spawn (vfork: no copy of the zygote's
    memory); the notebook process forked next is its second process. When the parent kills the
    init, the kernel kills every process of the namespace, daemons that called setsid()
    included. (The notebook process itself is not the init, so that it can still kill itself.)
    Returns the init's pid, or None without a namespace. Call leave_pid_namespace() after the fork.
    """
    global _own_pid_ns
    if "pid-namespace" in config.get("disable", ()) or not _SLEEP:
        return None
    try:
        if _own_pid_ns is None:
            _own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        _unshare(CLONE_NEWPID)  # for the zygote's next children, not for the zygote itself
    except (OSError, AttributeError):
        return None
    try:
        return os.posix_spawn(_SLEEP, [_SLEEP, "infinity"], {})
    except OSError:
        leave_pid_namespace()
        return None


def leave_pid_namespace() -> None:
    """Back in the zygote after the fork: the next child must not join the namespace just made."""
    try:
        _check(_c().setns(_own_pid_ns, CLONE_NEWPID), "setns")
    except (OSError, AttributeError):
        os._exit(1)  # never fork a second notebook into the first one's namespace: restart instead


def _find_sleep() -> str | None:
    import shutil

    return shutil.which("sleep", path="/usr/bin:/bin")


_SLEEP = _find_sleep()


def enter_namespaces(config: dict, in_pid_namespace: bool) -> tuple[int, list[str]]:
    """In the new notebook process: its own network and mount namespaces.

    Returns (its pid as the parent sees it, the protections that are off).
    """
    skip = set(config.get("disable", ()))
    off = [] if in_pid_namespace else ["pid-namespace"]
    pid = os.getpid()
    if in_pid_namespace:
        try:
            pid = int(os.readlink("/proc/self"))  # the host's /proc, until lock_down replaces it
        except (OSError, ValueError):
            pass
    flags = {"network-namespace": CLONE_NEWNET, "mount-namespace": CLONE_NEWNS}
    wanted = 0
    for name, flag in flags.items():
        if name in skip:
            off.append(name)
        else:
            wanted |= flag
    if wanted:
        try:
            _unshare(wanted)
        except (OSError, AttributeError):
            for name, flag in flags.items():  # both at once failed: each alone
                if name in skip:
                    continue
                try:
                    _unshare(flag)
                except (OSError, AttributeError):
                    off.append(name)
    return pid, off


def lock_down(config: dict, off: list[str]) -> str:
    """In the notebook process, before any student code: hide, limit, drop, filter.

    Returns the scratch directory (the process's cwd). Appends to `off` what could not be done.
    """
    import tempfile

    skip = set(config.get("disable", ()))
    private_mounts = "mount-namespace" not in off and "mount-namespace" not in skip
    if private_mounts:
        try:
            _mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks out
            _private_tmp(config.get("expose", ()))
            if config.get("uid") is not None and "uid-drop" not in skip:
                _open_the_way(config.get("expose", ()))
            for path in config.get("hidden", ()):
                _hide(path)
        except OSError:
            off.append("mount-namespace")
            private_mounts = False
    if "pid-namespace" not in off and private_mounts and "private-proc" not in skip:
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            off.append("private-proc")
    else:
        off.append("private-proc")
    scratch = tempfile.mkdtemp(prefix="whiteboard-", dir="/tmp" if os.path.isdir("/tmp") else None)
    os.chdir(scratch)
    uid = config.get("uid")
    _set_limits(uid is not None and "uid-drop" not in skip)
    if uid is not None and "uid-drop" not in skip:
        try:
            os.chown(scratch, uid, uid)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _prctl(PR_SET_DUMPABLE, 1)  # /proc/self stays readable by the process itself
        except (OSError, AttributeError):
            if os.getuid() == 0:
                off.append("uid-drop")
    else:
        off.append("uid-drop")
    # A change of uid clears the parent-death signal (prctl(2)): ask again, as the new uid.
    die_with_parent()
    for name in ("HOME", "TMPDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        os.environ[name] = scratch
    if "seccomp" in skip:
        off.append("seccomp")
    else:
        try:
            install_seccomp()
        except (OSError, AttributeError, NotImplementedError):
            off.append("seccomp")
    return scratch


TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _overlay(root: str, expose, options: str) -> None:
    """Cover `root` with an empty tmpfs (mount `options`), then bind the directories of `expose`
    that lie under it back, read-only; the directories the tmpfs needs on the way to them are
    created world-readable."""
    real = os.path.realpath(root)
    keep = sorted({os.path.realpath(e) for e in expose
                   if os.path.realpath(e).startswith(real + os.sep) and os.path.isdir(e)})
    old = os.open(root, os.O_PATH | os.O_DIRECTORY) if keep else None
    try:
        _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, options)
        for path in keep:
            if any(path.startswith(k + os.sep) for k in keep if k != path):
                continue  # inside a directory bound already
            inside = os.path.join(root, os.path.relpath(path, real))
            os.makedirs(inside, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{old}/{os.path.relpath(path, real)}", inside, None, MS_BIND | MS_REC)
            _mount("none", inside, None, MS_BIND | MS_RDONLY | MS_REC | 32)  # 32 = MS_REMOUNT
    finally:
        if old is not None:
            os.close(old)


def _private_tmp(expose) -> None:
    """An empty private tmpfs on each of TMP_DIRS, with the directories of `expose` that lie under
    one of them (a virtual environment in /tmp, a sys.path entry there) bound back read-only: a
    throwaway environment under /tmp must keep its packages."""
    for tmp in TMP_DIRS:
        if os.path.isdir(tmp):
            _overlay(tmp, expose, f"size={TMP_BYTES},mode=1777")


def _closed_ancestor(path: str) -> str | None:
    """The first directory on the way to `path` that other users may not enter (no o+x), or None."""
    parts = os.path.realpath(path).split(os.sep)[1:]
    for i in range(1, len(parts)):
        ancestor = os.sep + os.sep.join(parts[:i])
        try:
            if not os.stat(ancestor).st_mode & 0o001:
                return ancestor
        except OSError:
            return None
    return None


def _open_the_way(expose) -> None:
    """Before the uid drop: the Python environment may live where the dropped uid cannot go (pyenv
    under /root, mode 700). Cover each such closed directory with a world-readable tmpfs holding
    only the environment's directories, bound back read-only, so that the worker can still import
    a module the zygote did not preload (scipy, a lazily imported part of torch)."""
    closed = sorted({a for e in expose if (a := _closed_ancestor(e)) is not None})
    for root in closed:
        if not any(root.startswith(c + os.sep) for c in closed if c != root):
            _overlay(root, expose, "size=64k,mode=0755")


def expose_paths() -> list[str]:
    """What the worker needs to read even when it lies in a temporary directory: the interpreter's
    prefixes, its package directories, this package and every sys.path entry."""
    return [str(d) for d in _essential_dirs() if str(d) not in ("/", str(Path.home()))
            and os.path.realpath(str(d)) not in {os.path.realpath(t) for t in TMP_DIRS}]


def _hide(path: str) -> None:
    """Cover `path` with something empty and read-only (in this mount namespace only)."""
    if os.path.isdir(path):
        _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0")
    elif os.path.exists(path):
        _mount("/dev/null", path, None, MS_BIND)
        _mount("none", path, None, MS_BIND | MS_RDONLY | 32)  # 32 = MS_REMOUNT


def _set_limits(nproc: bool) -> None:
    for limit, value in ((resource.RLIMIT_NOFILE, NOFILE_LIMIT),
                         (resource.RLIMIT_NPROC, NPROC_LIMIT if nproc else None)):
        if value is None:
            continue
        try:
            soft, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass


# ---- seccomp, without libseccomp --------------------------------------------------------------
# A classic BPF program over struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6];}.

AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_BIT = 0x40000000
AF_UNIX = 1
NAMESPACE_FLAGS = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                   | CLONE_NEWPID | CLONE_NEWNET)

# x86_64 numbers of the calls a notebook never needs and an attacker would want.
DENIED_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "bpf": 321, "perf_event_open": 298,
    "keyctl": 250, "add_key": 248, "request_key": 249, "personality": 135,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "swapon": 167, "swapoff": 168,
    "acct": 163, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
    "clock_adjtime": 305, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
    "quotactl": 179, "lookup_dcookie": 212, "vhangup": 153, "syslog": 103,
}
SOCKET_X86_64, CLONE_X86_64, CLONE3_X86_64 = 41, 56, 435

_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06


def seccomp_program() -> list[tuple[int, int, int, int]]:
    """The filter, as (code, jt, jf, k) instructions; NotImplementedError off x86_64."""
    if platform.machine() not in ("x86_64", "AMD64") or struct.calcsize("P") != 8:
        raise NotImplementedError(f"no seccomp filter for {platform.machine()}")
    deny, enosys, allow, sock, clone = "deny", "enosys", "allow", "socket", "clone"
    prog: list = [
        (_LD_W_ABS, 0, 0, 4),                      # arch
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),  # i386 or x32 entry points: never ours
        (_LD_W_ABS, 0, 0, 0),                      # syscall number
        (_JGE_K, deny, 0, X32_BIT),
    ]
    for nr in sorted(DENIED_X86_64.values()):
        prog.append((_JEQ_K, deny, 0, nr))
    prog += [
        (_JEQ_K, sock, 0, SOCKET_X86_64),
        (_JEQ_K, clone, 0, CLONE_X86_64),
        (_JEQ_K, enosys, 0, CLONE3_X86_64),  # glibc then falls back to clone(), checked below
        (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ("label", sock),
        (_LD_W_ABS, 0, 0, 16),                     # args[0], low half: the address family
        (_JEQ_K, allow, deny, AF_UNIX),
        ("label", clone),
        (_LD_W_ABS, 0, 0, 16),                     # args[0], low half: clone flags
        (_JSET_K, deny, allow, NAMESPACE_FLAGS),
        ("label", deny),
        (_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
        ("label", enosys),
        (_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
        ("label", allow),
        (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    labels, out = {}, []
    for ins in prog:
        if ins[0] == "label":
            labels[ins[1]] = len(out)
        else:
            out.append(ins)
    resolved = []
    for i, (code, jt, jf, k) in enumerate(out):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        assert 0 <= jt < 256 and 0 <= jf < 256
        resolved.append((code, jt, jf, k))
    return resolved


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def install_seccomp() -> None:
    """Install the filter on this process (and, inherited, on everything it starts)."""
    program = seccomp_program()
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)  # also: no setuid binary can give the privileges back
    _check(_c().prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0),
                      ctypes.c_ulong(0)), "seccomp")


# ---- the one warning ------------------------------------------------------------------------

_warned = False
reported_off: set[str] = set()  # every protection this process's notebook workers ran without


def note_off(off: list[str]) -> None:
    """Remember what a worker ran without. The entry points warn (grade(), grade-class, the pytest
    summary): a worker starts inside a check, where pytest captures whatever is printed."""
    reported_off.update(off)


def warning_text(off: list[str] | set[str]) -> str:
    names = ", ".join(f"{n} ({PROTECTIONS.get(n, n)})" for n in sorted(off))
    return (f"whiteboard: warning: the grading sandbox runs without: {names}. Grading works, but a "
            "submission that tries could get further here; see README, 'Sandbox'.")


def warn_once(off: list[str] | set[str] | None = None, write=None) -> None:
    """Say once per process (on stderr, or with `write`) which protections are off (by default,
    those the workers reported); grading goes on regardless."""
    global _warned
    off = reported_off if off is None else off
    if _warned or not off:
        return
    _warned = True
    (write or (lambda text: print(text, file=sys.stderr)))(warning_text(off))
