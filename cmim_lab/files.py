"""The one way the kit writes a file: atomically, under a unique temporary name.

A writer first writes ``<name>.<random>.tmp`` in the target folder and then renames it over
the target (``os.replace`` is atomic on POSIX and Windows): an interrupted write leaves
either the old file or the new one, never half of one, and two processes writing the same
target never share a temporary file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` to produce the file, then rename it onto ``path``.

    The temporary file is created exclusively (``O_EXCL``, so a planted file or symlink of
    that name is never followed) and removed if ``write`` fails. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


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
