"""How many models this process trained and how many it loaded from the cache.

:func:`cmim_lab.trainer.load_or_train` calls :func:`record` once per model. When
``$CMIM_LAB_TALLY`` names a file, the counts are also written there (JSON, rewritten
atomically after every model), so that ``cmim-lab notebooks`` can read what each notebook's
kernel -- another process -- trained and loaded, and print the totals.
"""

from __future__ import annotations

import os

from .files import read_json, write_json

TALLY_ENV = "CMIM_LAB_TALLY"

_COUNTS = {"trained": 0, "loaded": 0, "train_seconds": 0.0}


def record(trained: bool, seconds: float = 0.0) -> None:
    """Count one model: ``trained`` now (taking ``seconds`` of wall time) or loaded from the
    cache; write the counts to ``$CMIM_LAB_TALLY`` when it is set."""
    _COUNTS["trained" if trained else "loaded"] += 1
    if trained:
        _COUNTS["train_seconds"] += float(seconds)
    path = os.environ.get(TALLY_ENV)
    if path:
        write_json(path, _COUNTS)


def counts() -> dict:
    """This process's counts: ``trained``, ``loaded`` (models) and ``train_seconds``."""
    return dict(_COUNTS)


def read(path) -> dict:
    """The counts another process wrote to ``path``; zeros when it wrote none (a notebook that
    trains nothing, or one that failed before its first model)."""
    blob = read_json(path)
    out = {"trained": 0, "loaded": 0, "train_seconds": 0.0}
    if isinstance(blob, dict):
        for key, zero in out.items():
            value = blob.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = type(zero)(value)
    return out
