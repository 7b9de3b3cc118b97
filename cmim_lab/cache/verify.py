"""``cmim-lab cache verify``: re-hash every cache entry and list what changed since it was written.

>>> verify_cache()          # [] when every file still matches the digest written with it
['models/digits-cmim-.../model.safetensors: ... do not match the SHA-256 in its header ...']

What is checked, per part of the cache (:func:`cmim_lab.infra.paths.cache_dir`):

* ``models/<entry>/model.safetensors``: its tensors against the tensor SHA-256 in its
  header, its header against ``header_sha256`` (:func:`cmim_lab.checkpoint.read_checkpoint`);
* ``models/<entry>/eval-*.json`` and ``evaluations/*.json``: each against its own seal
  (:func:`cmim_lab.infra.digest.seal`), and an entry's evaluation against the checkpoint
  it names (``checkpoint_sha256``: the weights it was computed from);
* ``data/*.safetensors``: the arrays of each dataset cache against its ``sha256``.

Files written before a digest existed carry none and are not reported (there is nothing
to compare them with). A FIFO, device or folder where a file should be is reported, never
opened. Nothing is locked or changed: a verify may run beside a training run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..checkpoint import EVAL_GLOB, MODEL_FILE, read_checkpoint
from ..errors import CheckpointError
from ..infra.digest import arrays_digest, seal_intact
from ..infra.files import file_kind, read_json
from ..infra.paths import cache_dir


def verify_cache(root: Path | None = None) -> list[str]:
    """One line per file of the cache ``root`` (default :func:`cache_dir`) that changed since
    it was written, naming the file (relative to ``root``) and what no longer matches; an
    empty list when everything matches."""
    root = Path(root) if root is not None else cache_dir()
    problems: list[str] = []
    for entry in _folders(root / "models"):
        problems += _verify_entry(entry, root)
    for path in sorted((root / "evaluations").glob("*.json")) if (root / "evaluations").is_dir() else []:
        problems += _verify_evaluation(path, root, None)
    for path in sorted((root / "data").glob("*.safetensors")) if (root / "data").is_dir() else []:
        problems += _verify_dataset(path, root)
    return problems


def _folders(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("*") if p.is_dir() and not p.is_symlink()) if path.is_dir() else []


def _special(path: Path, root: Path) -> str | None:
    """A line for a FIFO, device, socket, folder or broken link at ``path`` (None for a
    regular file, or a symbolic link to one)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path.relative_to(root)}: is a symbolic link to nothing; remove it"
    if stat.S_ISREG(mode):
        return None
    return f"{path.relative_to(root)}: is {file_kind(mode)}, not a regular file (never opened); remove it"


def _verify_entry(entry: Path, root: Path) -> list[str]:
    """The checkpoint of one entry, then its evaluations against it."""
    problems, weights = [], None
    model = entry / MODEL_FILE
    if os.path.lexists(model):
        special = _special(model, root)
        if special:
            return [special]
        try:
            weights = read_checkpoint(model)[1]["sha256"]
        except CheckpointError as exc:
            problems.append(f"{model.relative_to(root)}: {exc}")
    for path in sorted(entry.glob(EVAL_GLOB)):
        problems += _verify_evaluation(path, root, weights, model_present=os.path.lexists(model))
    return problems


def _verify_evaluation(path: Path, root: Path, weights: str | None, *, model_present: bool = False) -> list[str]:
    """A cached evaluation against its seal and (in an entry) the checkpoint's ``weights``
    digest (None: the checkpoint is missing or failed its own check)."""
    special = _special(path, root)
    if special:
        return [special]
    where = path.relative_to(root)
    blob = read_json(path)
    if not isinstance(blob, dict):
        return [f"{where}: not a readable JSON object (torn or edited); delete it, it is computed again"]
    if not seal_intact(blob):
        return [
            f"{where}: edited since it was written (its content does not match its SHA-256); delete it, it is "
            f"computed again"
        ]
    named = blob.get("checkpoint_sha256")
    if named is None or weights is None:
        if named is not None and not model_present:
            return [f"{where}: names checkpoint weights {named[:16]}... but its entry holds no checkpoint"]
        return []
    if named != weights:
        return [
            f"{where}: computed from checkpoint weights {named[:16]}..., but {MODEL_FILE} beside it holds "
            f"{weights[:16]}...; delete it, it is computed again"
        ]
    return []


def _verify_dataset(path: Path, root: Path) -> list[str]:
    """A converted dataset against the ``sha256`` of its arrays (files without one: skipped)."""
    from safetensors import SafetensorError, safe_open

    special = _special(path, root)
    if special:
        return [special]
    where = path.relative_to(root)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            recorded = (fh.metadata() or {}).get("sha256")
            arrays = {key: fh.get_tensor(key) for key in fh.keys()} if recorded else {}
    except (SafetensorError, OSError, ValueError) as exc:
        return [f"{where}: unreadable ({type(exc).__name__}: {exc}); delete it, it is rebuilt from its source"]
    if recorded and arrays_digest(arrays) != recorded:
        return [
            f"{where}: its arrays (images or labels) changed since it was written (they do not match its "
            f"SHA-256); delete it, it is rebuilt from its source"
        ]
    return []
