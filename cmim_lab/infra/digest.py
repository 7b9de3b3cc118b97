"""SHA-256 digests of what the kit writes: files, named arrays and sealed JSON records.

A *sealed* record is a JSON object that carries ``sha256``: the digest of the rest of the
object (keys sorted, see :func:`record_digest`), so an edit of any value after it was
written is found by :func:`seal_intact`. Records written before seals existed carry none
and are taken as they are (there is nothing to check them against).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import numpy as np

SEAL = "sha256"
CHUNK = 2**20


def file_sha256(path) -> str:
    """SHA-256 (hex) of the bytes of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(Path(path), "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def named_bytes_digest(parts: Iterable[tuple[str, memoryview | bytes]]) -> str:
    """SHA-256 (hex) over ``(label, bytes)`` pairs in the order given: each label (UTF-8),
    then its bytes. The callers put a name, dtype and shape into each label, so the same
    bytes under another name or shape give another digest."""
    h = hashlib.sha256()
    for label, blob in parts:
        h.update(label.encode())
        h.update(blob)
    return h.hexdigest()


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) over every array's name, dtype, shape and bytes, in name order (numpy)."""

    def parts():
        for name in sorted(arrays):
            a = np.ascontiguousarray(arrays[name])
            yield f"{name}|{a.dtype}|{list(a.shape)}|", a.reshape(-1).view(np.uint8).data

    return named_bytes_digest(parts())


def record_digest(record: dict) -> str:
    """SHA-256 (hex) of a JSON object without its ``sha256`` field, taken in the form it has
    once written and read back (non-JSON values as ``str``, tuples as lists, keys as
    strings), keys sorted: the digest of a record and of its copy read from disk agree."""
    rest = json.loads(json.dumps({k: v for k, v in record.items() if k != SEAL}, default=str))
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def seal(record: dict) -> dict:
    """``record`` with ``sha256`` set to :func:`record_digest` of the rest."""
    return {**record, SEAL: record_digest(record)}


def seal_intact(record: dict) -> bool:
    """False when ``record`` carries a seal that no longer matches its content (it was
    edited after it was written); True when it matches or carries none (an older record)."""
    if SEAL not in record:
        return True
    return record[SEAL] == record_digest(record)
