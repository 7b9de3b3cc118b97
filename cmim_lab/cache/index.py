"""What the kit's cache holds, and which model entries each notebook profile uses.

The cache (:func:`cmim_lab.infra.paths.cache_dir`) has five parts:

* ``models/<entry>/`` -- one trained model per folder: ``model.safetensors`` and its cached
  evaluations ``eval-<key>.json`` (:mod:`cmim_lab.trainer`, :mod:`cmim_lab.studies.engine`);
* ``evaluations/`` -- cached evaluations that belong to no model (e.g. a plugin's
  baseline on raw features);
* ``data/`` -- datasets converted once from their sources (rebuilt when missing);
* ``downloads/`` -- the raw files torchvision downloaded;
* ``profiles/<profile>.json`` -- the entries the notebooks of each profile have loaded or
  trained since the cache was last cleared (written here, see :func:`record_usage`).

A notebook's ``params.setup(profile=...)`` calls :func:`record_usage`, so every
:func:`~cmim_lab.trainer.load_or_train` in that kernel adds its entry to the profile's
record; ``cmim-lab cache export --profile`` packs exactly those entries. Models trained
outside the notebooks (``cmim-lab train``, ``benchmark``) are in no profile's record.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import CURVE_GLOB, EVAL_GLOB, MODEL_FILE
from ..infra.files import check_regular, file_kind, locked, read_json, write_json
from ..infra.paths import cache_dir

PARTS = ("models", "evaluations", "data", "downloads", "profiles")
USAGE_DIR = "profiles"
USAGE_FORMAT = "1"


@dataclass
class CacheEntry:
    """One folder of ``models/``: its files (checkpoint first, then evaluations), their
    total ``size`` in bytes, and what the checkpoint header says (``config`` as a dict,
    ``complete``, ``kit_version``); ``problem`` names why the header could not be read
    (None when it could)."""

    name: str
    directory: Path
    files: list[Path]
    size: int
    config: dict | None = None
    complete: bool | None = None
    kit_version: str | None = None
    problem: str | None = None

    @property
    def n_evaluations(self) -> int:
        """The number of cached evaluations (``eval-*.json``) in the entry."""
        return sum(1 for f in self.files if is_evaluation_file(f.name))


def _regular_files(paths) -> list[Path]:
    """The paths that are regular files, never following a symbolic link."""
    return [p for p in paths if stat.S_ISREG(os.lstat(p).st_mode)]


def is_evaluation_file(name: str) -> bool:
    """Whether a file name in an entry is a cached evaluation (not the checkpoint, not a curve)."""
    return fnmatch.fnmatch(name, EVAL_GLOB)


def entry_files(directory: Path) -> list[Path]:
    """What an entry holds worth keeping: ``model.safetensors`` (if present), its
    ``eval-*.json`` evaluations and ``curve-*.json`` budget curves, sorted; locks, temporary files,
    ``*.corrupt`` copies and symbolic
    links are left out."""
    directory = Path(directory)
    model = [directory / MODEL_FILE] if os.path.lexists(directory / MODEL_FILE) else []
    return _regular_files(model + sorted(directory.glob(EVAL_GLOB)) + sorted(directory.glob(CURVE_GLOB)))


def read_header(path: Path) -> dict:
    """The header metadata of a ``model.safetensors`` file (JSON fields decoded), without
    reading its tensors. ``ValueError`` when it is not a readable cmim_lab checkpoint (a
    FIFO, device or folder included: never opened)."""
    from safetensors import SafetensorError, safe_open

    try:
        check_regular(path, "checkpoint")
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
        return {
            "config": json.loads(raw["config"]),
            "complete": json.loads(raw["complete"]),
            "kit_version": raw["kit_version"],
        }
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"unreadable checkpoint header ({type(exc).__name__}: {exc})") from exc


def model_entries(root: Path | None = None) -> list[CacheEntry]:
    """Every folder of ``<cache>/models`` (or ``root``), sorted by name, with its header read."""
    models = Path(root) if root else cache_dir() / "models"
    out = []
    for directory in sorted(p for p in models.glob("*") if p.is_dir() and not p.is_symlink()):
        files = entry_files(directory)
        entry = CacheEntry(directory.name, directory, files, sum(f.stat().st_size for f in files))
        if files and files[0].name == MODEL_FILE:
            try:
                header = read_header(files[0])
                entry.config, entry.complete, entry.kit_version = (
                    header["config"],
                    header["complete"],
                    header["kit_version"],
                )
            except ValueError as exc:
                entry.problem = str(exc)
        else:
            entry.problem = _no_checkpoint(directory / MODEL_FILE)
        out.append(entry)
    return out


def _no_checkpoint(path: Path) -> str:
    """Why an entry's ``path`` (``model.safetensors``) is no checkpoint :func:`entry_files` keeps."""
    if not os.path.lexists(path):
        return "no checkpoint"
    mode = os.lstat(path).st_mode
    return f"{MODEL_FILE} is {'a symbolic link' if stat.S_ISLNK(mode) else file_kind(mode)}, not a regular file"


def folder_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (symbolic links are not followed)."""
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return 0
    if not path.is_dir():
        return path.stat().st_size if path.is_file() else 0
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


def sizes() -> dict[str, int]:
    """Bytes of each part of the cache (:data:`PARTS`) and of anything else in it (``other``)."""
    root = cache_dir()
    out = {part: folder_size(root / part) for part in PARTS}
    out["other"] = sum(folder_size(p) for p in root.iterdir() if p.name not in PARTS)
    return out


def format_bytes(n: int) -> str:
    """``n`` bytes as text: ``512 B``, ``3.4 kB``, ``12.0 MB``, ``1.2 GB`` (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def clear(everything: bool = False) -> list[Path]:
    """Delete the trained models, the evaluations and the profile records (``models/``,
    ``evaluations/``, ``profiles/``); with ``everything`` also the converted datasets and
    downloads (``data/``, ``downloads/``: rebuilt from their sources on next use). Returns
    the folders removed. A symbolic link is removed itself, never followed. Run it while no
    notebook trains."""
    root = cache_dir()
    removed = []
    for part in PARTS if everything else ("models", "evaluations", USAGE_DIR):
        path = root / part
        if path.is_symlink():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        else:
            continue
        removed.append(path)
    return removed


# --- which entries each profile uses ---------------------------------------------------------

_ACTIVE = {"profile": None, "warned": False}


def _usage_path(profile: str) -> Path:
    return cache_dir() / USAGE_DIR / f"{profile}.json"


def used_by(profile: str) -> list[str]:
    """The entry names the notebooks of ``profile`` have loaded or trained with this cache
    (sorted; empty when none has run since the cache was last cleared)."""
    blob = read_json(_usage_path(profile))
    names = blob.get("entries") if isinstance(blob, dict) else None
    return sorted(n for n in names if isinstance(n, str)) if isinstance(names, list) else []


def add_usage(profile: str, names) -> None:
    """Add entry ``names`` to ``profile``'s record (under its lock; written only when it grows)."""
    path = _usage_path(profile)
    with locked(path.with_name(".lock"), what="the profile records"):
        known = set(used_by(profile))
        if not set(names) <= known:
            write_json(path, {"format": USAGE_FORMAT, "profile": profile, "entries": sorted(known | set(names))})


def record_usage(profile: str | None) -> None:
    """From now on, :func:`note_entry` adds the entries it is given to ``profile``'s record
    (None: stop recording). ``params.setup`` calls it and hands :func:`note_entry` to
    :func:`cmim_lab.trainer.on_entry_used`, so every entry ``load_or_train`` returns in a
    notebook's kernel is recorded."""
    _ACTIVE["profile"] = profile


def note_entry(directory: Path) -> None:
    """Add the cache entry ``directory`` to the record of the profile in force (see
    :func:`record_usage`; nothing when none is). Entries outside ``<cache>/models`` (another
    ``cache_root``) are not recorded; a record that cannot be written warns once and never
    stops a notebook."""
    profile = _ACTIVE["profile"]
    if profile is None:
        return
    try:
        if Path(directory).parent.resolve() != (cache_dir() / "models").resolve():
            return
        add_usage(profile, [Path(directory).name])
    except OSError as exc:
        if not _ACTIVE["warned"]:
            _ACTIVE["warned"] = True
            warnings.warn(
                f"could not record which models profile {profile} uses ({exc}); "
                f"`cmim-lab cache export --profile {profile}` will not see them",
                stacklevel=2,
            )


# --- reports (cmim-lab cache list / size) ----------------------------------------------------


def listing() -> str:
    """``cmim-lab cache list``: one line per model entry (config, state, evaluations, size,
    the profiles whose notebooks used it), under a line naming the cache folder."""
    from tabulate import tabulate

    entries = model_entries()
    recorded = (
        sorted(p.stem for p in (cache_dir() / USAGE_DIR).glob("*.json")) if (cache_dir() / USAGE_DIR).is_dir() else []
    )
    usage = {p: set(used_by(p)) for p in recorded}  # the profiles whose notebooks ran with this cache
    head = f"cache {cache_dir()}: {len(entries)} model entries, {format_bytes(sum(e.size for e in entries))}"
    if not entries:
        return head
    rows = []
    for e in entries:
        c = e.config or {}
        state = e.problem or ("finished" if e.complete else "unfinished")
        rows.append(
            {
                "entry": e.name,
                "model": f"{c.get('method', '?')}[{c.get('reduction', '?')}]",
                "dataset": c.get("dataset", "?"),
                "n_train": c.get("n_train", "?") or "all",
                "epochs": c.get("epochs", "?"),
                "steps": c.get("max_steps") or "",
                "seed": c.get("seed", "?"),
                "state": state,
                "evals": e.n_evaluations,
                "size": format_bytes(e.size),
                "profiles": ",".join(p for p in usage if e.name in usage[p]) or "-",
            }
        )
    return head + "\n" + tabulate(rows, headers="keys", tablefmt="plain", disable_numparse=True)


def size_report() -> str:
    """``cmim-lab cache size``: bytes per part of the cache and in total."""
    parts = sizes()
    lines = [f"cache {cache_dir()}: {format_bytes(sum(parts.values()))}"]
    notes = {
        "models": "trained models and their evaluations",
        "evaluations": "evaluations of no model (baselines)",
        "data": "datasets converted from their sources",
        "downloads": "raw files torchvision downloaded",
        "profiles": "which models each profile used",
        "other": "anything else",
    }
    lines += [f"  {part:<10}{format_bytes(n):>10}  {notes[part]}" for part, n in parts.items()]
    return "\n".join(lines)
