"""Checkpoints: weights in safetensors with the JSON config in its header, written atomically.

A checkpoint directory holds

* ``model.safetensors`` -- weights; header metadata: ``config`` (JSON), ``kit_version``,
  ``input_shape``, ``epochs_done``, ``steps_done``, ``complete``, ``history`` (per-epoch
  terms), ``data`` (dataset provenance), and ``context`` (the model's data-specific
  settings as JSON, e.g. a token vocabulary, so a loaded model tokenizes and decodes on
  its own);
* ``optimizer.pt`` -- Adam's state while a run is unfinished, read with
  ``torch.load(weights_only=True)``, so no pickled code is ever executed.

Every write goes to a temporary file that is then renamed over the old one: an
interruption leaves either the old or the new file, never half of one.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from . import __version__
from .config import TrainConfig
from .errors import CheckpointError
from .files import atomic_write
from .model import LatentModel

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"


def save_checkpoint(directory: Path, model: LatentModel, config: TrainConfig, *, epochs_done: int,
                    steps_done: int, complete: bool, history: list[dict], data_info: dict,
                    optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write weights + metadata (and the optimizer state if given) into ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(config.to_dict()), "kit_version": __version__,
            "input_shape": json.dumps(list(model.input_shape)), "epochs_done": str(epochs_done),
            "steps_done": str(steps_done), "complete": json.dumps(complete),
            "history": json.dumps(history), "data": json.dumps(data_info, default=str),
            "context": json.dumps(model.context())}
    if optimizer is not None:
        atomic_write(directory / OPTIMIZER_FILE, lambda p: torch.save(optimizer.state_dict(), p))
    atomic_write(directory / MODEL_FILE, lambda p: save_file(tensors, p, metadata=meta))
    if complete and (directory / OPTIMIZER_FILE).exists():
        (directory / OPTIMIZER_FILE).unlink()
    return directory / MODEL_FILE


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a ``model.safetensors`` file: (state_dict, decoded metadata).

    Raises :class:`CheckpointError` for a missing, truncated or foreign file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
        meta = {"config": json.loads(raw_meta["config"]), "kit_version": raw_meta["kit_version"],
                "input_shape": tuple(json.loads(raw_meta["input_shape"])),
                "epochs_done": int(raw_meta["epochs_done"]), "steps_done": int(raw_meta["steps_done"]),
                "complete": json.loads(raw_meta["complete"]), "history": json.loads(raw_meta["history"]),
                "data": json.loads(raw_meta.get("data", "{}")),
                "context": json.loads(raw_meta.get("context", "{}"))}
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {path}") from exc
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a cmim_lab checkpoint "
                              f"({type(exc).__name__}: {exc}); delete it or retrain "
                              f"(load_or_train(..., retrain=True))") from exc
    return state, meta


def config_differences(a: TrainConfig, b: TrainConfig) -> dict[str, tuple]:
    """Fields whose canonical values differ: {field: (a_value, b_value)}."""
    ca, cb = a.canonical(), b.canonical()
    return {k: (ca[k], cb.get(k)) for k in ca if ca[k] != cb.get(k)}


def load_model(path, config: TrainConfig | None = None, device="cpu") -> tuple[LatentModel, dict]:
    """Rebuild the model stored at ``path`` (file or directory) and load its weights.

    If ``config`` is given, the stored config must match it (canonical fields), else a
    :class:`CheckpointError` names the fields that differ. Returns (model in eval mode,
    metadata with ``config`` as a :class:`TrainConfig`).
    """
    state, meta = read_checkpoint(path)
    try:
        stored = TrainConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} holds an invalid config: {exc}") from exc
    if config is not None:
        diff = config_differences(config, stored)
        if diff:
            shown = ", ".join(f"{k}: wanted {w!r}, checkpoint has {h!r}" for k, (w, h) in diff.items())
            raise CheckpointError(f"checkpoint {path} was trained with another config ({shown})")
    try:
        model = stored.build_model(meta["input_shape"], context=meta["context"])
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot rebuild its model: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit the architecture in its config: {exc}") from exc
    meta["config"] = stored
    return model.to(device).eval(), meta


def load_optimizer_state(directory: Path) -> dict | None:
    """Adam's state for resuming, loaded without unpickling code; None if absent or unreadable."""
    path = Path(directory) / OPTIMIZER_FILE
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: resume with a fresh optimizer state
        warnings.warn(f"optimizer state {path} is unreadable ({exc}); resuming with a fresh "
                      f"Adam state, so the run will not repeat an uninterrupted one exactly")
        return None
