"""The one way the kit writes a cache file, and the lock that keeps two processes apart.

:func:`atomic_write`: a writer first writes ``.<name>.<random>.tmp`` in the target folder
(created exclusively, so a planted file or symlink of that name is never written through),
flushes it to disk, and renames it over the target (``os.replace`` is atomic on POSIX and
Windows, and replaces a symlink planted at the target instead of writing through it). An
interrupted write leaves either the old file or the new one, never half of one, and two
processes writing the same target never share a temporary file. A write that finds the
disk full raises :class:`~cmim_lab.errors.DiskFullError` (an ``OSError``: one line naming
the folder, the bytes needed and the bytes free), whatever library did the writing.
Safetensors files are serialised in memory and written by :func:`atomic_write_bytes`, so
safetensors never leaves its own ``.tmpXXXXXX`` file beside the target; those an older kit
left are removed by :func:`remove_temporaries`.

:func:`locked`: an exclusive lock (the ``filelock`` package; released by the operating
system if its holder dies) around "look in the cache, else compute and write", so two
processes asking for the same cache entry wait for each other and the second one loads
what the first one wrote. The lock file stays in place (it is empty).

:func:`check_regular`: a FIFO, device, socket or folder where a cache file should be is
refused before it is opened (:class:`~cmim_lab.errors.SpecialFileError`): reading a FIFO
would wait forever.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DiskFullError, SpecialFileError

TMP_SUFFIX = ".tmp"
SAFETENSORS_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")  # safetensors' own temporary file (Rust tempfile crate)
STALE_TEMP_S = 600  # a temporary file not written to for this long belongs to no live writer
DISK_FULL_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def temp_name_glob(path) -> str:
    """The glob pattern of :func:`atomic_write`'s temporary files for ``path`` (for clean-up)."""
    return f".{Path(path).name}.*{TMP_SUFFIX}"


def atomic_write(path, write: Callable[[str], None], *, size: int | None = None) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then rename it onto ``path``.

    The temporary file is created exclusively (``O_EXCL``: a planted file or symlink of that
    name is never followed), synced to disk, renamed over ``path`` (a symlink at ``path`` is
    replaced, never followed) and removed if ``write`` fails. A folder or special file at
    ``path`` is refused first (:class:`SpecialFileError`). A full disk (``ENOSPC``/``EDQUOT``,
    also inside a library's own error such as safetensors') raises :class:`DiskFullError`
    naming the folder, ``size`` (the bytes the file needs, when the caller knows) and the
    bytes free. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _refuse_special(path, os.lstat, "write target")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        os.close(fd)
        write(tmp)
        _sync(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        written = _remove_temporary(tmp)
        if is_disk_full(exc):
            raise disk_full_error(path, size, written) from exc
        raise
    return path


def atomic_write_bytes(path, blob: bytes) -> Path:
    """Atomically write ``blob`` to ``path`` (:func:`atomic_write`, the size known in advance)."""
    return atomic_write(path, lambda tmp: _write_bytes(tmp, blob), size=len(blob))


def _write_bytes(tmp: str, blob: bytes) -> None:
    with open(tmp, "wb") as fh:
        fh.write(blob)


def _remove_temporary(tmp: str | None) -> int:
    """Delete a failed write's temporary file; return how many bytes it held (0 if none)."""
    if tmp is None:
        return 0
    try:
        written = os.lstat(tmp).st_size
        os.unlink(tmp)
    except FileNotFoundError:
        return 0
    return written


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the disk or quota is full:
    an ``OSError`` with ``ENOSPC``/``EDQUOT``, or a library's error quoting the system's message."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        text = str(exc)
        if "No space left on device" in text or "Disk quota exceeded" in text or "os error 28" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(path, needed: int | None, written: int = 0) -> DiskFullError:
    """The one-line :class:`DiskFullError` of a write to ``path`` that found its disk full:
    the folder, the bytes the write needed (``needed``; when unknown: more than the
    ``written`` bytes it had written), the bytes free there, and that nothing was changed."""
    path = Path(path)
    folder = path.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    need = f"{needed:,} bytes" if needed is not None else f"more than the {written:,} bytes it had written"
    room = f"{free:,} bytes free" if free is not None else "an unknown number of bytes free"
    return DiskFullError(
        f"disk full: writing {path.name} into {folder} needs {need}, and that disk has {room}; "
        f"nothing was written and the previous {path.name} (if any) is unchanged. Free some space "
        f"there, or use a folder on another disk (for the kit's cache: set CMIM_LAB_CACHE)",
        folder=folder,
        needed=needed,
        free=free,
    )


def _sync(path: str) -> None:
    """Flush ``path``'s bytes to disk, so a crash after the rename cannot leave an empty file.
    A full disk or an I/O error reported by the flush is raised; a file system without
    fsync (some network mounts) is accepted: the rename stays atomic."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno in (*DISK_FULL_ERRNOS, errno.EIO):
            raise
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words: ``a FIFO (named pipe)``, ``a folder`` ..."""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def _refuse_special(path: Path, stat_fn, what: str) -> bool:
    """False when ``path`` is missing; True when it is a regular file (or, with ``os.lstat``,
    a symbolic link); :class:`SpecialFileError` otherwise, without opening it."""
    try:
        mode = stat_fn(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return True
    raise SpecialFileError(
        f"{what} {path} is {file_kind(mode)}, not a regular file; the kit never opens it (a "
        f"FIFO would make it wait forever). Move it away or remove it (`rm -r {path}`) and run "
        f"again"
    )


def check_regular(path, what: str = "cache file") -> bool:
    """Whether the ``what`` at ``path`` exists: False when it is missing, True when it is a
    regular file (a symbolic link is followed), :class:`SpecialFileError` -- naming the path
    and what is there -- for a FIFO, device, socket or folder, which is never opened."""
    return _refuse_special(Path(path), os.stat, what)


def remove_temporaries(path, *, others_older_than: float = STALE_TEMP_S) -> list[Path]:
    """Delete what killed writes of ``path`` left in its folder: the kit's own temporaries
    of ``path`` (:func:`temp_name_glob`) and safetensors' ``.tmpXXXXXX`` files (regular
    files only) not modified for ``others_older_than`` seconds. Call it while holding
    ``path``'s lock, so no live writer of ``path`` is among them; safetensors' files name
    no target, so pass 0 only where the lock covers the whole folder. Returns the removed."""
    path = Path(path)
    limit = time.time() - others_older_than
    strays = []
    for p in path.parent.glob(".tmp*"):
        if SAFETENSORS_TEMP.fullmatch(p.name):
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mtime <= limit:
                strays.append(p)
    return remove_files([*path.parent.glob(temp_name_glob(path)), *strays])


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
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, blob) -> Path:
    """Atomically write ``blob`` as JSON (keys sorted; non-JSON values as ``str``)."""
    return write_text(path, json.dumps(blob, sort_keys=True, default=str))


def read_json(path):
    """The JSON in ``path``, or None when it is missing or unreadable (a torn cache file).
    A FIFO, device or folder at ``path`` raises :class:`SpecialFileError` unopened."""
    if not check_regular(path):
        return None
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
        raise OSError(
            f"lock file {path} is a symbolic link; refusing to follow it. Delete it (nothing is "
            f"lost: a lock file is empty) and run again"
        )
    _refuse_special(path, os.lstat, "lock file")
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
