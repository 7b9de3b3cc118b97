"""Checkpoints: one safetensors file per model -- weights, optimizer state and progress together.

A checkpoint directory holds

* ``model.safetensors`` -- the one checkpoint unit. Tensors: the model's ``state_dict``
  and, while a run is unfinished, Adam's state as ``optimizer/<param index>/<key>``.
  Header metadata: ``format``, ``config`` (JSON), ``kit_version``, ``input_shape``,
  ``epochs_done``, ``steps_done``, ``complete``, ``history`` (per-epoch terms), ``data``
  (dataset provenance), ``context`` (the model's data-specific settings as JSON, e.g. a
  token vocabulary, so a loaded model tokenizes and decodes on its own), ``optimizer``
  (JSON: the optimizer's param groups and non-tensor state, while unfinished),
  ``sha256`` (a checksum of every tensor's name, dtype, shape and bytes: the digest cached
  evaluations name as the checkpoint they were computed from) and ``header_sha256`` (a
  checksum of every other header field, ``sha256`` included: it binds the progress and the
  ``complete`` mark to the weights they describe);
* ``.lock`` -- the entry's (empty) lock file, see :func:`cmim_lab.infra.files.locked`;
* ``eval-<key>.json`` -- cached evaluations (:mod:`cmim_lab.studies.engine`).

Model, optimizer and progress are written together by one atomic rename: an interruption
at any instant leaves the previous checkpoint or the new one, never a model of one step
with an optimizer of another. Reading validates the header (sizes within
:data:`MAX_DIM` / :data:`MAX_INPUT_ELEMENTS`) and checks the model's shapes on the
``meta`` device before anything is allocated, verifies both checksums, and never unpickles:
safetensors holds only tensors and strings. A checkpoint marked complete that still holds
an optimizer state (an unfinished one re-marked) is refused. Checkpoints written before
``header_sha256`` existed (no such field) are read as before. A FIFO, device or folder at
``model.safetensors`` is refused unopened (:class:`~cmim_lab.errors.SpecialFileError`).
The file is serialised in memory and written by
:func:`cmim_lab.infra.files.atomic_write_bytes`, so safetensors leaves no temporary file
of its own. The ``optimizer.pt`` file of format-1 checkpoints (earlier kit versions) is never read; saving
removes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch

from . import __version__
from .config import TrainConfig
from .errors import CheckpointError
from .infra.digest import named_bytes_digest
from .infra.files import atomic_write_bytes, check_regular, remove_files, remove_temporaries
from .model import LatentModel
from .validation import LATENT_DIM, MAX_INPUT_DIM, MAX_LAYERS, PROJECTION_DIM, check_hidden_sizes

MODEL_FILE = "model.safetensors"
EVAL_GLOB = "eval-*.json"  # cached evaluations in an entry (see cmim_lab.studies.engine)
CURVE_GLOB = "curve-*.json"  # scores along the run in an entry (see cmim_lab.studies.curves)
# the separate optimizer file of format-1 checkpoints (earlier kit versions): never read, removed on save
OPTIMIZER_FILE = "optimizer.pt"
FORMAT = "2"
OPTIMIZER_PREFIX = "optimizer/"
HEADER_DIGEST = "header_sha256"
RETRAIN = "delete it or retrain (load_or_train(..., retrain=True))"
# header sizes are checked with the configs' own limits (cmim_lab.validation); the two names stay for 0.2 code
MAX_DIM = MAX_INPUT_DIM  # bound on each input dimension in a header
MAX_INPUT_ELEMENTS = 2**26  # bound on the values of one sample (e.g. 3 x 4096 x 4096 images)
MAX_HIDDEN_LAYERS = MAX_LAYERS


# --- writing ------------------------------------------------------------------------------


def save_checkpoint(
    directory: Path,
    model: LatentModel,
    config: TrainConfig,
    *,
    epochs_done: int,
    steps_done: int,
    complete: bool,
    history: list[dict],
    data_info: dict,
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write weights + metadata (and the optimizer state if given) as one file in ``directory``.

    One atomic rename publishes everything; a leftover ``optimizer.pt`` of an older kit
    version is removed afterwards. Returns the path of ``model.safetensors``. A full disk
    raises :class:`~cmim_lab.errors.DiskFullError` and leaves the previous checkpoint.
    """
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "config": json.dumps(config.to_dict()),
        "kit_version": __version__,
        "input_shape": json.dumps(list(model.input_shape)),
        "epochs_done": str(epochs_done),
        "steps_done": str(steps_done),
        "complete": json.dumps(complete),
        "history": json.dumps(history),
        "data": json.dumps(data_info, default=str),
        "context": json.dumps(model.context()),
    }
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
    meta["sha256"] = tensor_digest(tensors)
    meta[HEADER_DIGEST] = header_digest(meta)
    atomic_write_bytes(directory / MODEL_FILE, save(tensors, metadata=meta))
    remove_leftovers(directory)
    return directory / MODEL_FILE


def remove_leftovers(directory: Path) -> list[Path]:
    """Delete what an interrupted save can leave behind in ``directory``: temporary files of
    ``model.safetensors`` (the kit's, and the ``.tmpXXXXXX`` files safetensors' own writer
    left before the kit serialised in memory), and the ``optimizer.pt`` of older kit
    versions. Call it only while no other process writes into ``directory`` (under its
    lock). Returns the removed paths."""
    directory = Path(directory)
    return remove_temporaries(directory / MODEL_FILE, others_older_than=0) + remove_files([directory / OPTIMIZER_FILE])


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) over every tensor's name, dtype, shape and bytes, in name order."""

    def parts():
        for name in sorted(tensors):
            t = tensors[name].detach().cpu().contiguous()
            yield f"{name}|{t.dtype}|{list(t.shape)}|", t.reshape(-1).view(torch.uint8).numpy().data

    return named_bytes_digest(parts())


def header_digest(raw: dict[str, str]) -> str:
    """SHA-256 (hex) over a checkpoint header's fields but ``header_sha256`` (names and
    values, sorted): with ``sha256`` among them, it covers the weights and every mark
    written beside them (``complete``, ``epochs_done``, ``config`` ...)."""
    rest = {k: v for k, v in raw.items() if k != HEADER_DIGEST}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], str]:
    """An optimizer ``state_dict`` as tensors ``optimizer/<index>/<key>`` + JSON for the rest."""
    tensors, scalars = {}, {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIMIZER_PREFIX}{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    blob = {"param_groups": state_dict["param_groups"], "scalars": scalars}
    return tensors, json.dumps(blob)


# --- reading ------------------------------------------------------------------------------


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a ``model.safetensors`` file: (model state_dict, decoded metadata).

    The metadata gains ``optimizer_state`` (an optimizer ``state_dict`` or None) and
    ``sha256`` (the tensor digest). Raises :class:`CheckpointError` for a missing,
    truncated, foreign or corrupt file: a header outside the stated bounds (checked before
    any tensor is read), tensor bytes that do not match the header's SHA-256, header fields
    changed after writing (``header_sha256``), or a complete mark on a file that still holds
    an optimizer state; :class:`~cmim_lab.errors.SpecialFileError` (unopened) for a FIFO,
    device or folder where the file should be.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.is_dir() and path.name != MODEL_FILE:
        path = path / MODEL_FILE
    check_regular(path, "checkpoint")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata() or {}
            meta = _decode_header(raw_meta)
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {path}") from exc
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a cmim_lab checkpoint ({type(exc).__name__}: {exc}); {RETRAIN}"
        ) from exc
    if tensor_digest(tensors) != raw_meta["sha256"]:
        raise CheckpointError(
            f"checkpoint {path} is corrupt: its tensor bytes do not match the SHA-256 in its header; {RETRAIN}"
        )
    if HEADER_DIGEST in raw_meta and raw_meta[HEADER_DIGEST] != header_digest(raw_meta):
        raise CheckpointError(
            f"checkpoint {path} is corrupt: its header (config, progress or complete mark) was "
            f"changed after it was written (it does not match its {HEADER_DIGEST}); {RETRAIN}"
        )
    has_optimizer = raw_meta.get("optimizer") is not None or any(k.startswith(OPTIMIZER_PREFIX) for k in tensors)
    if meta["complete"] and has_optimizer:
        raise CheckpointError(
            f"checkpoint {path} is marked complete but still holds an optimizer state, which only "
            f"an unfinished run saves: it was re-marked after it was written; {RETRAIN}"
        )
    state = {k: v for k, v in tensors.items() if not k.startswith(OPTIMIZER_PREFIX)}
    meta["optimizer_state"] = _unflatten_optimizer(tensors, raw_meta.get("optimizer"), path)
    meta["sha256"] = raw_meta["sha256"]
    return state, meta


def _decode_header(raw: dict) -> dict:
    """The header's metadata, decoded and checked against the stated bounds (``ValueError``
    naming the field otherwise); nothing is allocated from it here."""
    if raw.get("format") != FORMAT or "sha256" not in raw:
        raise ValueError(
            f"header format {raw.get('format')!r} is not {FORMAT!r} with a checksum (written by "
            f"kit version {raw.get('kit_version', 'unknown')}, this is {__version__})"
        )
    meta = {
        "config": json.loads(raw["config"]),
        "kit_version": raw["kit_version"],
        "input_shape": json.loads(raw["input_shape"]),
        "epochs_done": int(raw["epochs_done"]),
        "steps_done": int(raw["steps_done"]),
        "complete": json.loads(raw["complete"]),
        "history": json.loads(raw["history"]),
        "data": json.loads(raw.get("data", "{}")),
        "context": json.loads(raw.get("context", "{}")),
    }
    shape = meta["input_shape"]
    if not isinstance(shape, list) or not 1 <= len(shape) <= 4 or not all(_is_size(s) for s in shape):
        raise ValueError(f"input_shape {shape!r} must be 1 to 4 integers in 1..{MAX_DIM}")
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise ValueError(
            f"input_shape {shape!r} has {math.prod(shape)} values per sample, more than {MAX_INPUT_ELEMENTS}"
        )
    meta["input_shape"] = tuple(shape)
    config = meta["config"]
    if not isinstance(config, dict):
        raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
    LATENT_DIM.check("config latent_dim", config.get("latent_dim"))  # the limits TrainConfig enforces
    check_hidden_sizes("config hidden_sizes", config.get("hidden_sizes", []), min_len=0)
    PROJECTION_DIM.check("config projection_dim", config.get("projection_dim", 0))
    for key in ("epochs_done", "steps_done"):
        if meta[key] < 0:
            raise ValueError(f"{key} {meta[key]} is negative")
    if not isinstance(meta["complete"], bool) or not isinstance(meta["history"], list):
        raise ValueError("complete must be true/false and history a list")
    if not isinstance(meta["context"], dict):
        raise ValueError("context must be a JSON object")
    return meta


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DIM


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], blob: str | None, path: Path) -> dict | None:
    """The optimizer ``state_dict`` stored in a checkpoint (None when there is none)."""
    if blob is None:
        return None
    try:
        decoded = json.loads(blob)
        state: dict[int, dict] = {}
        for index, entry in decoded["scalars"].items():
            state.setdefault(int(index), {}).update(entry)
        for name, value in tensors.items():
            if name.startswith(OPTIMIZER_PREFIX):
                index, key = name[len(OPTIMIZER_PREFIX) :].split("/", 1)
                state.setdefault(int(index), {})[key] = value
        groups = decoded["param_groups"]
        if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups
        ):
            raise ValueError("param_groups must be a list of objects with a params list")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path} holds an unreadable optimizer state ({exc}); {RETRAIN}") from exc
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def config_differences(a: TrainConfig, b: TrainConfig) -> dict[str, tuple]:
    """Fields whose canonical values differ: {field: (a_value, b_value)}."""
    ca, cb = a.canonical(), b.canonical()
    return {k: (ca[k], cb.get(k)) for k in ca if ca[k] != cb.get(k)}


def load_model(path, config: TrainConfig | None = None, device="cpu") -> tuple[LatentModel, dict]:
    """Rebuild the model stored at ``path`` (file or directory) and load its weights.

    If ``config`` is given, the stored config must match it (canonical fields), else a
    :class:`CheckpointError` names the fields that differ. Any failure to rebuild the model
    from a header that passed the bounds is a :class:`CheckpointError` too. Returns (model
    in eval mode, metadata with ``config`` as a :class:`TrainConfig` and
    ``optimizer_state``: an optimizer ``state_dict`` while the run is unfinished, checked
    by :func:`check_optimizer_state`).
    """
    state, meta = read_checkpoint(path)
    try:
        stored = TrainConfig.from_dict(meta["config"])
    except Exception as exc:  # any invalid stored config is a corrupt checkpoint
        raise CheckpointError(f"checkpoint {path} holds an invalid config: {exc}") from exc
    if config is not None:
        diff = config_differences(config, stored)
        if diff:
            shown = ", ".join(f"{k}: wanted {w!r}, checkpoint has {h!r}" for k, (w, h) in diff.items())
            raise CheckpointError(f"checkpoint {path} was trained with another config ({shown})")
    model = _rebuild(path, stored, meta, state)
    meta["config"] = stored
    if not meta["complete"]:
        check_optimizer_state(meta["optimizer_state"], model, meta["steps_done"], stored, path)
    return model.to(device).eval(), meta


def _rebuild(path, config: TrainConfig, meta: dict, state: dict[str, torch.Tensor]) -> LatentModel:
    """The model of ``config`` with ``state`` loaded: built on the ``meta`` device first, so a
    header that asks for other shapes than the file's tensors fails before any allocation."""
    try:
        with torch.device("meta"):
            skeleton = config.build_model(meta["input_shape"], context=meta["context"])
        wanted = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in state.items()}
        if wanted != found:
            diff = sorted(k for k in set(wanted) | set(found) if wanted.get(k) != found.get(k))[:5]
            shown = ", ".join(f"{k}: model {wanted.get(k)}, file {found.get(k)}" for k in diff)
            raise CheckpointError(
                f"weights in {path} do not fit the architecture in its config (first differences: {shown})"
            )
        model = config.build_model(meta["input_shape"], context=meta["context"])
        model.load_state_dict(state, strict=True)
    except CheckpointError:
        raise
    except Exception as exc:  # whatever the header makes the builder do: a corrupt checkpoint
        raise CheckpointError(f"checkpoint {path} cannot rebuild its model ({type(exc).__name__}: {exc})") from exc
    return model


def check_optimizer_state(
    opt_state: dict | None, model: LatentModel, steps_done: int, config: TrainConfig, path
) -> None:
    """Raise :class:`CheckpointError` unless ``opt_state`` belongs to ``model`` after
    ``steps_done`` steps: one parameter group holding every parameter, each state's
    tensors shaped like its parameter, Adam's largest ``step`` equal to ``steps_done``,
    the config's learning rate."""
    where = f"checkpoint {path} is unfinished but"
    if opt_state is None:
        raise CheckpointError(
            f"{where} holds no optimizer state, so it cannot resume exactly; retrain it "
            f"(load_or_train(..., retrain=True))"
        )
    params = list(model.parameters())
    indices = [i for g in opt_state["param_groups"] for i in g["params"]]
    if indices != list(range(len(params))):
        raise CheckpointError(
            f"{where} its optimizer state covers parameters {indices[:8]}..., not the model's {len(params)} parameters"
        )
    if any(g.get("lr") != config.lr for g in opt_state["param_groups"]):
        raise CheckpointError(f"{where} its optimizer's learning rate is not the config's lr {config.lr}")
    steps = []
    for index, entry in opt_state["state"].items():
        if not 0 <= index < len(params):
            raise CheckpointError(f"{where} its optimizer state names parameter {index} of {len(params)}")
        for key, value in entry.items():
            if key == "step":
                steps.append(float(value))
            elif isinstance(value, torch.Tensor) and value.shape != params[index].shape:
                raise CheckpointError(
                    f"{where} its optimizer's {key} of parameter {index} has shape "
                    f"{tuple(value.shape)}, the parameter {tuple(params[index].shape)}"
                )
    if steps_done > 0 and (not steps or max(steps) != steps_done or min(steps) < 0):
        found = f"{int(max(steps))} steps" if steps else "no steps"
        raise CheckpointError(
            f"{where} its optimizer state has taken {found} while the model has taken "
            f"{steps_done}: they do not belong together"
        )


def restore_optimizer(optimizer: torch.optim.Optimizer, opt_state: dict, path) -> None:
    """Load a checked optimizer state (:func:`check_optimizer_state`) into ``optimizer``;
    tuples (Adam's ``betas``) come back as tuples."""
    groups = []
    for saved, current in zip(opt_state["param_groups"], optimizer.param_groups):
        groups.append(
            {k: tuple(v) if isinstance(current.get(k), tuple) and isinstance(v, list) else v for k, v in saved.items()}
        )
    try:
        optimizer.load_state_dict({"state": opt_state["state"], "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"the optimizer state in {path} does not fit the optimizer: {exc}") from exc


def load_optimizer_state(directory: Path) -> dict | None:
    """The optimizer ``state_dict`` stored in ``directory``'s checkpoint (None when there is
    no checkpoint or it is finished). Nothing is unpickled: the ``optimizer.pt`` of older kit
    versions is never read. Raises :class:`CheckpointError` for a corrupt checkpoint."""
    path = Path(directory) / MODEL_FILE
    if not check_regular(path, "checkpoint"):
        return None
    return read_checkpoint(path)[1]["optimizer_state"]
