"""The one way the kit writes a cache file, and the lock that keeps two processes apart.

:func:`atomic_write`: a writer first writes ``.<name>.<random>.tmp`` in the target folder
(created exclusively, so a planted file or symlink of that name is never written through),
flushes it to disk, and renames it over the target (``os.replace`` is atomic on POSIX and
Windows, and replaces a symlink planted at the target instead of writing through it). An
interrupted write leaves either the old file or the new one, never half of one, and two
processes writing the same target never share a temporary file.

:func:`locked`: an exclusive lock (the ``filelock`` package; released by the operating
system if its holder dies) around "look in the cache, else compute and write", so two
processes asking for the same cache entry wait for each other and the second one loads
what the first one wrote. The lock file stays in place (it is empty).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

TMP_SUFFIX = ".tmp"


def temp_name_glob(path) -> str:
    """The glob pattern of :func:`atomic_write`'s temporary files for ``path`` (for clean-up)."""
    return f".{Path(path).name}.*{TMP_SUFFIX}"


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then rename it onto ``path``.

    The temporary file is created exclusively (``O_EXCL``: a planted file or symlink of that
    name is never followed), synced to disk, renamed over ``path`` (a symlink at ``path`` is
    replaced, never followed) and removed if ``write`` fails. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _sync(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _sync(path: str) -> None:
    """Flush ``path``'s bytes to disk, so a crash after the rename cannot leave an empty file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # a file system without fsync (some network mounts): the rename stays atomic
        pass
    finally:
        os.close(fd)


def remove_files(paths) -> list[Path]:
    """Delete each of ``paths`` that exists; return the ones removed (missing ones are skipped)."""
    removed = []
    for path in paths:
        try:
            Path(path).unlink()
            removed.append(Path(path))
        except FileNotFoundError:
            pass
    return removed


def write_text(path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path, blob) -> Path:
    """Atomically write ``blob`` as JSON (keys sorted; non-JSON values as ``str``)."""
    return write_text(path, json.dumps(blob, sort_keys=True, default=str))


def read_json(path):
    """The JSON in ``path``, or None when it is missing or unreadable (a torn cache file)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_held = threading.local()  # lock path -> depth, per thread: a thread may re-enter its own lock


@contextmanager
def locked(path, *, what: str = "this cache entry") -> Iterator[None]:
    """Hold the exclusive inter-process lock ``path`` (a file, created if missing) for the block.

    Another process (or thread) asking for the same lock waits until it is released; a
    message on stderr says so when the wait begins. Re-entering a lock this thread already
    holds does not wait. A symlink planted at ``path`` is refused (``OSError``), never
    followed.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.parent.resolve() / path.name)
    held = _held.__dict__.setdefault("depth", {})
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    if path.is_symlink():
        raise OSError(f"lock file {path} is a symbolic link; refusing to follow it. Delete it (nothing is "
                      f"lost: a lock file is empty) and run again")
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another process that holds {what} ({path}) ...", file=sys.stderr, flush=True)
        lock.acquire()
    held[key] = 1
    try:
        yield
    finally:
        held.pop(key, None)
        lock.release()
