"""The trainer: in-memory tensors on the training device, one objective, epoch checkpoints.

>>> result = load_or_train(TrainConfig(method="cmim", dataset="mnist-5k", epochs=5))
>>> result.model, result.history        # EncoderDecoder, per-epoch table of every term

Repeatability: the model is initialised from ``seed``; every epoch reseeds the shuffling
and the sampling noise from (seed, epoch, rank), so a run resumed from an epoch checkpoint
ends with the same weights as an uninterrupted one (on the CPU).

Multi-process training: ``torchrun --nproc_per_node=N -m cmim_lab.train --method cmim ...``
(the entry module :mod:`cmim_lab.train` starts :mod:`cmim_lab.distributed`).
(see :mod:`cmim_lab.distributed`).
"""
from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import __version__
from .checkpoint import MODEL_FILE, load_model, load_optimizer_state, save_checkpoint
from .config import TrainConfig
from .errors import CheckpointError, TrainingDivergedError
from .paths import cache_dir

LOG_EVERY = 25  # steps between progress-bar refreshes and divergence checks


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit device must exist."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use auto or cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} requested but Apple MPS is not available here; use auto or cpu")
    return dev


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Seed of the noise (reparameterisation, augmentation) in one epoch of one rank."""
    return (seed * 1_000_003 + epoch * 1_009 + rank * 7_919 + 17) % (2 ** 63)


@dataclass
class TrainResult:
    """A trained (or loaded) model with its config, history table and checkpoint folder."""
    model: nn.Module
    config: TrainConfig
    history: "object"  # pandas.DataFrame, one row per epoch
    directory: Path | None
    data_info: dict = field(default_factory=dict)
    trained_now: bool = True


class TrainStep(nn.Module):
    """model + objective as one module, so DistributedDataParallel can wrap the whole step."""

    def __init__(self, model: nn.Module, objective, gather=None):
        super().__init__()
        self.model, self.objective, self.gather = model, objective, gather

    def forward(self, x: torch.Tensor, **kwargs) -> dict[str, torch.Tensor]:
        return self.objective(self.model, x, gather=self.gather, **kwargs)


@dataclass
class DistContext:
    """Rank information for multi-process training (see :mod:`cmim_lab.distributed`)."""
    rank: int
    world_size: int
    gather: Callable[[torch.Tensor], torch.Tensor]
    wrap: Callable[[nn.Module], nn.Module]
    all_reduce_mean: Callable[[torch.Tensor], torch.Tensor]


def _history_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


def _data_for(config: TrainConfig, data):
    from . import data as data_module
    from .molecules.data import CORPORA

    if data is None and config.dataset in CORPORA:  # SMILES for arch gru (needs RDKit)
        from .molecules.data import load_corpus

        return load_corpus(config.dataset, n_train=config.n_train, seed=config.data_seed)
    if data is None:
        return data_module.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
    if data.name != config.dataset:
        raise ValueError(f"config.dataset is {config.dataset!r} but the data passed is {data.name!r}")
    if config.n_train is not None and len(data.x_train) != config.n_train:
        raise ValueError(f"config.n_train is {config.n_train} but the data passed has "
                         f"{len(data.x_train)} training samples")
    return data


def train(config: TrainConfig, data=None, *, device="auto", checkpoint_dir=None, progress: bool = True,
          resume: bool = True, callbacks: list[Callable] = (), dist: DistContext | None = None) -> TrainResult:
    """Train one model; write an epoch checkpoint to ``checkpoint_dir`` if given.

    Args:
        config: a :class:`TrainConfig` (validated).
        data: a :class:`cmim_lab.data.Dataset`; loaded from ``config`` when None.
        device: ``auto`` (CUDA, MPS, CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        checkpoint_dir: folder for ``model.safetensors`` (+ optimizer state while unfinished).
        resume: continue an unfinished checkpoint found in ``checkpoint_dir``.
        callbacks: called as ``fn(epoch, row, model)`` after each epoch (row: the history row).
        dist: rank context for multi-process training.

    Returns a :class:`TrainResult`; ``history`` has one row per epoch with the mean of every
    named term (unweighted, in the config's reduction convention), ``loss``, steps, seconds
    and samples per second.

    Raises:
        TrainingDivergedError: a term became NaN/inf (names the epoch and term; the last
            good checkpoint stays on disk).
        CheckpointError: ``checkpoint_dir`` holds a checkpoint of another config.
    """
    config.validate()
    dev = resolve_device(device)
    data = _data_for(config, data)
    rank, world = (dist.rank, dist.world_size) if dist else (0, 1)
    x = data.x_train.to(dev)
    n, batch = len(x), config.batch_size
    if batch > n:
        raise ValueError(f"batch_size {batch} exceeds the {n} training samples of {data.name}")
    if batch % world:
        raise ValueError(f"batch_size {batch} must be divisible by the number of processes ({world})")
    local = batch // world
    steps_per_epoch = n // batch  # the last incomplete batch is dropped: contrastive terms need full batches
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    torch.manual_seed(config.seed)
    model = config.build_model(data.input_shape, vocab=getattr(data, "vocab", None)).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    objective = config.objective()
    names = ["loss", *objective.term_names]
    # precomputed views [N, K, L] (randomised SMILES): InfoNCE gathers two per sample
    bank = getattr(data, "views_train", None) if config.method == "infonce" else None
    bank = bank.to(dev) if bank is not None else None
    start_epoch, step, rows = 0, 0, []
    directory = Path(checkpoint_dir) if checkpoint_dir else None

    if directory is not None and resume and (directory / MODEL_FILE).exists():
        loaded, meta = load_model(directory, config)  # raises CheckpointError on a config mismatch
        model.load_state_dict(loaded.state_dict())
        rows = meta["history"]
        if meta["complete"]:
            return TrainResult(model.eval(), config, _history_frame(rows), directory, meta["data"], False)
        opt_state = load_optimizer_state(directory)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        start_epoch, step = meta["epochs_done"], meta["steps_done"]

    step_module = TrainStep(model, objective, dist.gather if dist else None)
    runner = dist.wrap(step_module) if dist else step_module
    model.train()
    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=step, disable=not progress or rank != 0,
               desc=f"{config.label} {data.name}", unit="step", dynamic_ncols=True)
    try:
        for epoch in range(start_epoch, n_epochs):
            torch.manual_seed(epoch_seed(config.seed, epoch, rank))
            order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
            order = order.to(dev)
            sums = torch.zeros(len(names), device=dev)
            done, start = 0, time.perf_counter()
            for b in range(steps_per_epoch):
                if step >= total_steps:
                    break
                idx = order[b * batch + rank * local: b * batch + (rank + 1) * local]
                out = runner(x[idx]) if bank is None else runner(x[idx], views=pick_views(bank, idx))
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()
                sums += torch.stack([out[k].detach() for k in names])
                step += 1
                done += 1
                if step % LOG_EVERY == 0 or step == total_steps:
                    means = (sums / done).tolist()
                    _check_finite(names, means, epoch, directory)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in zip(names, means)}, refresh=False)
                bar.update(1)
            seconds = time.perf_counter() - start
            if dist:
                sums = dist.all_reduce_mean(sums)
            means = (sums / max(done, 1)).tolist()
            _check_finite(names, means, epoch, directory)
            row = {"epoch": epoch + 1, "step": step, **dict(zip(names, means)), "seconds": seconds,
                   "samples_per_s": done * batch / seconds if seconds > 0 else float("nan")}
            rows.append(row)
            complete = epoch == n_epochs - 1
            if directory is not None and rank == 0:
                save_checkpoint(directory, model, config, epochs_done=epoch + 1, steps_done=step,
                                complete=complete, history=rows, data_info=data.info,
                                optimizer=None if complete else optimizer)
            for fn in callbacks:
                fn(epoch + 1, row, model)
    finally:
        bar.close()
    return TrainResult(model.eval(), config, _history_frame(rows), directory, data.info, True)


def pick_views(bank: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two different precomputed views of each sample: ``bank`` [N, K, L], ``idx`` [b] ->
    two [b, L] tensors (a batched gather; with K = 1 both views are the same)."""
    k = bank.shape[1]
    first = torch.randint(k, (len(idx),), device=bank.device)
    second = (first + torch.randint(1, k, (len(idx),), device=bank.device)) % k if k > 1 else first
    return bank[idx, first], bank[idx, second]


def _check_finite(names, values, epoch, directory):
    for name, value in zip(names, values):
        if not math.isfinite(value):
            kept = f"the last good checkpoint is kept in {directory}" if directory else "no checkpoint was written"
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch + 1}: term {name!r} is {value}; {kept}. "
                f"Try a smaller lr, a larger logvar_floor or a smaller contrastive_weight.",
                epoch=epoch + 1, term=name)


def model_dir(config: TrainConfig, root: Path | None = None, salt: str = "") -> Path:
    """Cache folder of ``config``: ``<cache>/models/<dataset>-<method>-<reduction>-s<seed>-<hash>``."""
    return Path(root or cache_dir() / "models") / config.key(__version__, salt)


def load_or_train(config: TrainConfig, data=None, *, device="auto", cache_root=None, retrain: bool = False,
                  progress: bool = True) -> TrainResult:
    """Return the cached model for ``config`` (same config, same kit version), or train it.

    An unfinished checkpoint is resumed; a corrupt one is renamed to ``*.corrupt`` (kept for
    inspection, never unpickled) and the model is retrained. ``retrain=True`` ignores the cache.
    """
    from . import data as data_module
    from .molecules.data import CORPORA

    salt = ""
    if data is not None and data.name not in data_module.available() and data.name not in CORPORA:
        salt = data.info.get("source", "")
    directory = model_dir(config, cache_root, salt)
    path = directory / MODEL_FILE
    if path.exists() and not retrain:
        try:
            model, meta = load_model(path, config, resolve_device(device))
            if meta["complete"]:
                return TrainResult(model, config, _history_frame(meta["history"]), directory, meta["data"], False)
        except CheckpointError as exc:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            warnings.warn(f"{exc}. Moved it to {aside} and training again.")
    return train(config, data, device=device, checkpoint_dir=directory, progress=progress,
                 resume=not retrain)
