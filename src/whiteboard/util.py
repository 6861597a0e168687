"""Small helpers the course tools share: atomic writes and running pytest in this process."""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, so a
    reader (or a crash) sees the old file or the new, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same directory: one file system
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries that `replacing` left under `folder` when its process was killed
    (SIGKILL runs no cleanup); those of a process still running are its work in progress and stay.
    Returns what was removed."""
    removed = []
    for tmp in Path(folder).rglob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _running(int(pid)) and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `path` atomically (see `replacing`), flushed to disk first."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def plugin_autoload_off():
    """Third-party pytest plugins (nbval & co.) cost seconds to load and add nothing to grading."""
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


def run_pytest(args: list[str], plugins: list, quiet: bool = True) -> tuple[int, str]:
    """pytest.main(args) in this process with plugin autoload off; (exit code, its output)."""
    import pytest

    out = io.StringIO()
    with plugin_autoload_off(), (contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext()):
        code = pytest.main(args, plugins=plugins)
    return int(code), out.getvalue()
