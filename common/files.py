"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file RedBerry writes for the user (checkpoints, configs, cells, reports, plots, GIFs)
goes through `atomic_path`: the content is written to a hidden temporary file in the same
directory, flushed to disk, then moved over the target with ``os.replace`` (atomic on POSIX and
Windows). On any error, Ctrl-C included, the temporary file is removed and the target is left as
it was. Temporary names are ``.<name>.tmp-<pid><suffix>``, so the suffix still tells matplotlib
or PIL the format, and `sweep_temporaries` can find what a killed process left behind.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
from typing import Any, Iterator

TEMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces ``path``, on failure it is removed. An OSError
    while writing it (a full disk, a file-size limit) names ``path``, not the temporary."""
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, temporary_name(directory, name))
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the bytes are on disk before the rename makes them visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename == tmp:
            exc.filename = path
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def temporary_name(directory: str, name: str) -> str:
    """The hidden temporary name of ``name`` in ``directory``, ``.<name>.tmp-<pid><suffix>``. Where that is
    longer than the file system allows (a long but legal ``name``), ``name`` is cut and a hash of it added."""
    tail = f"{TEMP_MARK}{os.getpid()}{os.path.splitext(name)[1]}"
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or the file system does not say
        limit = 255
    if len(os.fsencode(f".{name}{tail}")) <= limit:
        return f".{name}{tail}"
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:8]
    room = max(limit - len(os.fsencode(tail)) - len(digest) - 1, 1)
    return f".{os.fsdecode(os.fsencode(name)[:room])}{digest}{tail}"


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def write_json(path: str, values: Any, **dump_options: Any) -> None:
    """Write ``values`` as indented JSON (a trailing newline) to ``path`` atomically."""
    dump_options.setdefault("indent", 2)
    write_text(path, json.dumps(values, **dump_options) + "\n")


def unwritable_dir(path: str) -> str | None:
    """Why ``path`` cannot become a directory this process writes into (None: it can), checked without
    creating anything: it must be a writable directory, or not exist under a writable one."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            return "it is a file, not a directory"
        return None if os.access(path, os.W_OK | os.X_OK) else "it is not writable"
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent!r} is a file, not a directory"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"{parent!r} is not writable"


def os_error_text(exc: OSError) -> str:
    """An OSError in one line: the file it names (a bytes path as text) and what went wrong; too many open
    files names the limit instead, which is what to change."""
    if exc.errno == errno.EMFILE:
        try:
            import resource

            limit = f" (the limit is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})"
        except ImportError:  # pragma: no cover - not POSIX
            limit = ""
        return f"too many open files{limit}; allowed: a higher limit (ulimit -n 1024)"
    name = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else exc.filename
    return f"{name}: {exc.strerror or exc}" if name else str(exc.strerror or exc)


def sweep_temporaries(directory: str) -> list[str]:
    """Remove temporary files in ``directory`` left by processes that no longer run; return them."""
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(directory), f".*{TEMP_MARK}*")):
        pid = os.path.basename(tmp).rsplit(TEMP_MARK, 1)[1].split(".")[0]
        if pid.isdigit() and not _running(int(pid)):
            os.remove(tmp)
            removed.append(tmp)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- one writer per directory ---------------------------------------------------------------------

LOCK_FILE = ".lock"


class DirLockedError(RuntimeError):
    """Another live process holds the directory's lock."""


class DirLock:
    """An advisory lock on ``directory`` (``fcntl.flock`` on DIRECTORY/.lock, which holds the owner's pid),
    held until `release` or the process ends. The kernel drops the lock of a process that died, however
    it died, so a lock file left behind never blocks. Where ``fcntl`` is missing (Windows) it locks nothing."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, LOCK_FILE)
        self.file = None
        self.made_dir: str | None = None  # the topmost folder made for this hold (its owner may remove it again)

    def acquire(self) -> "DirLock":
        """Take the lock; raises DirLockedError naming the holder's pid when a live process holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DirLockedError(f"process {holder}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.file = handle
        return self

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the last descriptor drops the flock
            self.file = None
