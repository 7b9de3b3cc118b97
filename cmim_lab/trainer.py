"""The trainer: in-memory tensors on the training device, one objective, epoch checkpoints.

>>> result = load_or_train(TrainConfig(method="cmim", dataset="mnist-5k", epochs=5))
>>> result.model, result.history        # the model, per-epoch table of every term

:func:`train` takes a ready dataset and reads as its steps: plan the batches, build the
model and optimiser, resume from a checkpoint, run the epochs (each: shuffle, step, check,
log, checkpoint). :func:`load_or_train` adds the cache: same config -> same folder.

Repeatability: the model is initialised from ``seed``; every epoch reseeds the shuffling
and the sampling noise from (seed, epoch, rank), so a run resumed from an epoch checkpoint
ends with the same weights as an uninterrupted one (on the CPU).

Multi-process training: ``torchrun --nproc_per_node=N -m cmim_lab.cli train ...`` (or the
``cmim-lab`` script under torchrun), see :mod:`cmim_lab.distributed`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import __version__
from . import data as data_module
from .checkpoint import (
    CURVE_GLOB,
    EVAL_GLOB,
    MODEL_FILE,
    load_model,
    remove_leftovers,
    restore_optimizer,
    save_checkpoint,
)
from .config import TrainConfig
from .errors import CheckpointError, TrainingDivergedError
from .infra import tally
from .infra.files import locked, remove_files, temp_name_glob
from .infra.paths import cache_dir
from .infra.runtime import resolve_device

LOCK_FILE = ".lock"  # an entry's lock file (see cmim_lab.infra.files.locked)

LOG_EVERY = 25  # steps between progress-bar refreshes and divergence checks


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Seed of the noise (reparameterisation, augmentation) in one epoch of one rank."""
    return (seed * 1_000_003 + epoch * 1_009 + rank * 7_919 + 17) % (2**63)


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


@dataclass
class _Plan:
    """How one run walks through the data: ``steps_per_epoch`` full global batches of
    ``batch`` samples (the last incomplete one is dropped: contrastive terms need full
    batches), ``local`` samples per process, ``total_steps`` optimiser steps over
    ``n_epochs`` epochs."""

    n: int
    batch: int
    local: int
    steps_per_epoch: int
    total_steps: int
    n_epochs: int


def _plan(config: TrainConfig, data, world: int) -> _Plan:
    n, batch = len(data.x_train), config.batch_size
    if batch > n:
        raise ValueError(f"batch_size {batch} exceeds the {n} training samples of {data.name}")
    if batch % world:
        raise ValueError(f"batch_size {batch} must be divisible by the number of processes ({world})")
    steps_per_epoch = n // batch
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    return _Plan(n, batch, batch // world, steps_per_epoch, total_steps, math.ceil(total_steps / steps_per_epoch))


def _check_data(config: TrainConfig, data) -> None:
    if data.name != config.dataset:
        raise ValueError(f"config.dataset is {config.dataset!r} but the data passed is {data.name!r}")
    if config.n_train is not None and len(data.x_train) != config.n_train:
        raise ValueError(
            f"config.n_train is {config.n_train} but the data passed has {len(data.x_train)} training samples"
        )


def _resume(directory: Path | None, config: TrainConfig, model: nn.Module, optimizer) -> tuple[int, int, list, bool]:
    """Load an unfinished (or finished) checkpoint of ``config`` from ``directory`` into
    ``model`` and ``optimizer``: (epochs done, steps done, history rows, complete).
    ``CheckpointError`` for another config or an optimizer state that does not belong to
    the weights (checked in :func:`cmim_lab.checkpoint.load_model`)."""
    if directory is None or not (directory / MODEL_FILE).exists():
        return 0, 0, [], False
    loaded, meta = load_model(directory, config)
    model.load_state_dict(loaded.state_dict())
    if not meta["complete"]:
        restore_optimizer(optimizer, meta["optimizer_state"], directory / MODEL_FILE)
    return meta["epochs_done"], meta["steps_done"], meta["history"], meta["complete"]


def train(
    config: TrainConfig,
    data,
    *,
    device="auto",
    checkpoint_dir=None,
    progress=True,
    resume: bool = True,
    callbacks: list[Callable] = (),
    step_callbacks: list[Callable] = (),
    dist: DistContext | None = None,
) -> TrainResult:
    """Train one model on a ready dataset; write an epoch checkpoint to ``checkpoint_dir`` if given.

    Args:
        config: a :class:`TrainConfig` (validated).
        data: the training data (:func:`cmim_lab.data.load` of ``config.dataset``, or a
            plugin's dataset); ``data.x_train`` moves to the device once.
        device: ``auto`` (CUDA, MPS, CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        checkpoint_dir: folder for ``model.safetensors`` (weights, optimizer state while
            unfinished, progress: one file). Held under its lock (:func:`entry_lock`) while
            training, so a second process on the same folder waits, then resumes or loads.
        progress: True: a progress bar of this run's steps; False: none; a tqdm bar: advance
            that shared bar instead (one bar per study grid, see :func:`cmim_lab.studies.engine.run_study`).
        step_callbacks: called as ``fn(step, model)`` after each optimiser step (``step``: the
            steps done so far, from 1), with the model in eval mode and the random state
            saved and restored around the call, so a callback that draws random numbers
            (a probe, an embedding) leaves the training run bit for bit unchanged (on the
            CPU); e.g. :func:`cmim_lab.studies.curves.train_with_curve` scores the model at chosen steps.
        resume: continue an unfinished checkpoint found in ``checkpoint_dir``.
        callbacks: called as ``fn(epoch, row, model)`` after each epoch (row: the history row).
        dist: rank context for multi-process training.

    Returns a :class:`TrainResult`; ``history`` has one row per epoch with the mean of every
    named term (unweighted, in the config's reduction convention), ``loss``, steps, seconds
    and samples per second.

    Raises:
        TrainingDivergedError: a term became NaN/inf; one line naming the term, the step and
            epoch (``loss is NaN at step 12 (epoch 2): training diverged ...``; ``.step``,
            ``.epoch``, ``.term``); the last good checkpoint stays on disk.
        CheckpointError: ``checkpoint_dir`` holds a checkpoint of another config, or a
            corrupt one (an unfinished checkpoint whose optimizer state does not belong to
            its weights is refused, never resumed inexactly).
    """
    config.validate()
    _check_data(config, data)
    dev = resolve_device(device)
    rank, world = (dist.rank, dist.world_size) if dist else (0, 1)
    plan = _plan(config, data, world)
    directory = Path(checkpoint_dir) if checkpoint_dir else None
    # one process at a time per checkpoint folder (under torchrun only rank 0 writes, and no rank waits)
    guard = entry_lock(directory) if directory is not None and dist is None else contextlib.nullcontext()
    with guard:
        if directory is not None and rank == 0:
            remove_leftovers(directory)
        return _run(config, data, dev, plan, directory, progress, resume, callbacks, step_callbacks, dist, rank)


def _run(
    config: TrainConfig,
    data,
    dev,
    plan: _Plan,
    directory: Path | None,
    progress,
    resume: bool,
    callbacks,
    step_callbacks,
    dist: DistContext | None,
    rank: int,
) -> TrainResult:
    """The body of :func:`train`: build, resume, run the epochs, checkpoint each one."""
    torch.manual_seed(config.seed)
    model = config.build_model(data.input_shape, data.model_context).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start_epoch, step, rows, complete = _resume(directory, config, model, optimizer) if resume else (0, 0, [], False)
    if complete:
        return TrainResult(model.eval(), config, _history_frame(rows), directory, data.info, False)

    objective = config.objective()
    names = ["loss", *objective.term_names]
    x = data.x_train.to(dev)
    # precomputed views [N, K, ...] (e.g. randomised SMILES): InfoNCE takes two per sample
    bank = getattr(data, "views_train", None) if config.method == "infonce" else None
    bank = bank.to(dev) if bank is not None else None
    step_module = TrainStep(model, objective, dist.gather if dist else None)
    runner = dist.wrap(step_module) if dist else step_module
    model.train()
    bar, own_bar = _bar(progress, plan.total_steps, step, f"{config.label} {data.name}", rank)
    try:
        for epoch in range(start_epoch, plan.n_epochs):
            torch.manual_seed(epoch_seed(config.seed, epoch, rank))
            order = torch.randperm(plan.n, generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
            order = order.to(dev)
            sums = torch.zeros(len(names), device=dev)
            # steps of this epoch after which every running sum was still finite: a NaN or inf
            # term keeps its sum non-finite, so the first bad step is first_step + finite_steps
            finite_steps, first_step = torch.zeros((), dtype=torch.long, device=dev), step + 1
            done, start = 0, time.perf_counter()
            for b in range(plan.steps_per_epoch):
                if step >= plan.total_steps:
                    break
                idx = order[b * plan.batch + rank * plan.local : b * plan.batch + (rank + 1) * plan.local]
                out = runner(x[idx]) if bank is None else runner(x[idx], views=pick_views(bank, idx))
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()
                sums += torch.stack([out[k].detach() for k in names])
                finite_steps += torch.isfinite(sums).all()
                step += 1
                done += 1
                if step % LOG_EVERY == 0 or step == plan.total_steps:
                    means = (sums / done).tolist()
                    _check_finite(names, means, epoch, directory, first_step + int(finite_steps))
                    bar.set_postfix(
                        {
                            **({} if own_bar else {"model": config.label}),
                            **{k: f"{v:.4g}" for k, v in zip(names, means)},
                        },
                        refresh=False,
                    )
                bar.update(1)
                if step_callbacks:
                    _call_at_step(step_callbacks, step, model, dev)
            seconds = time.perf_counter() - start
            if dist:
                sums = dist.all_reduce_mean(sums)
            means = (sums / max(done, 1)).tolist()
            _check_finite(names, means, epoch, directory, first_step + int(finite_steps) if done else None)
            row = {
                "epoch": epoch + 1,
                "step": step,
                **dict(zip(names, means)),
                "seconds": seconds,
                "samples_per_s": done * plan.batch / seconds if seconds > 0 else float("nan"),
            }
            rows.append(row)
            complete = epoch == plan.n_epochs - 1
            if directory is not None and rank == 0:
                save_checkpoint(
                    directory,
                    model,
                    config,
                    epochs_done=epoch + 1,
                    steps_done=step,
                    complete=complete,
                    history=rows,
                    data_info=data.info,
                    optimizer=None if complete else optimizer,
                )
            for fn in callbacks:
                fn(epoch + 1, row, model)
    finally:
        if own_bar:
            bar.close()
    return TrainResult(model.eval(), config, _history_frame(rows), directory, data.info, True)


def _call_at_step(fns, step: int, model: nn.Module, dev: torch.device) -> None:
    """Run each step callback on the model in eval mode, inside a forked random state (the
    training noise after the call is what it would have been without it)."""
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            for fn in fns:
                fn(step, model)
        finally:
            model.train()


def _bar(progress, total: int, done: int, desc: str, rank: int):
    """(the progress bar to advance, whether this run owns it): a shared bar passed as
    ``progress`` (advanced past the ``done`` steps of a resumed run), else a new one."""
    if hasattr(progress, "update") and rank == 0:
        progress.update(done)
        return progress, False
    from .infra.progress import progress_bar

    return progress_bar(
        total=total, initial=done, disable=not progress or rank != 0, desc=desc, unit="step", dynamic_ncols=True
    ), True


def planned_steps(config: TrainConfig, data) -> int:
    """Optimiser steps a run of ``config`` on ``data`` takes in one process (``max_steps``, or
    full batches per epoch x epochs); ``ValueError`` when the batch exceeds the data."""
    return _plan(config, data, 1).total_steps


def outcome(result: TrainResult, seconds: float) -> str:
    """How a model was obtained, in words: ``trained in 12.3 s (cache entry <key>)`` or
    ``loaded from cache (<key>)`` -- the key is the entry's folder name in the cache."""
    key = Path(result.directory).name if result.directory else "no cache entry"
    if result.trained_now:
        return f"trained in {seconds:.1f} s (cache entry {key})"
    return f"loaded from cache ({key})"


def pick_views(bank: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two different precomputed views of each sample: ``bank`` [N, K, L], ``idx`` [b] ->
    two [b, L] tensors (a batched gather; with K = 1 both views are the same)."""
    k = bank.shape[1]
    first = torch.randint(k, (len(idx),), device=bank.device)
    second = (first + torch.randint(1, k, (len(idx),), device=bank.device)) % k if k > 1 else first
    return bank[idx, first], bank[idx, second]


def _check_finite(names, values, epoch, directory, step: int | None = None):
    """``TrainingDivergedError`` when a term's mean in ``values`` is NaN or infinite. Its
    message is one line that starts with the term and, when known, the optimiser step
    (counted from 1 over the whole run) at which it first became non-finite: ``loss is NaN
    at step 12 (epoch 2): training diverged; ...``."""
    for name, value in zip(names, values):
        if not math.isfinite(value):
            if directory is not None and (Path(directory) / MODEL_FILE).exists():
                kept = f"the last good checkpoint is kept in {directory}"
            else:
                kept = "no checkpoint was written (it diverged before the first epoch's checkpoint)"
            what = "NaN" if math.isnan(value) else value
            at = f"at step {step} (epoch {epoch + 1})" if step is not None else f"in epoch {epoch + 1}"
            raise TrainingDivergedError(
                f"{name} is {what} {at}: training diverged; {kept}. "
                f"Try a smaller lr, a larger logvar_floor or a smaller contrastive_weight.",
                epoch=epoch + 1,
                term=name,
                step=step,
            )


def library_versions() -> dict[str, str]:
    """Versions of the kit and of the libraries that compute its numbers (torch, scikit-learn)."""
    try:
        sklearn = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        sklearn = "absent"
    return {"cmim_lab": __version__, "torch": torch.__version__, "scikit-learn": sklearn}


def data_salt(data) -> str:
    """What a model's cache key holds beyond its config: the data's content fingerprint
    (:func:`cmim_lab.data.fingerprint`) and :func:`library_versions`."""
    blob = json.dumps({"data": data_module.fingerprint(data), **library_versions()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def model_dir(config: TrainConfig, root: Path | None = None, data=None) -> Path:
    """Cache folder of ``config`` trained on ``data`` (default: loaded from the config, as
    :func:`load_or_train` does): ``<cache>/models/<dataset>-<method>-<reduction>-s<seed>-<hash>``,
    the hash covering the canonical config, the data's content (train and test inputs and
    labels) and the versions of the kit, torch and scikit-learn."""
    if data is None:
        data = data_module.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
    salt = data_salt(data)
    if config.method == "infonce" and getattr(data, "real_valued", False):
        salt += "/views-in-standardised-units"  # earlier InfoNCE models of real features saw views clipped to [0, 1]
    return Path(root or cache_dir() / "models") / config.key(__version__, salt)


def entry_lock(directory: Path):
    """The lock of one cache entry (a context manager; see :func:`cmim_lab.infra.files.locked`)."""
    return locked(Path(directory) / LOCK_FILE, what=f"the cache entry {Path(directory).name}")


def clear_entry(directory: Path) -> list[Path]:
    """Delete a cache entry's checkpoint, evaluations, curves and leftovers (keep ``*.corrupt``
    copies and the lock file); call it under :func:`entry_lock`. Returns what was removed."""
    directory = Path(directory)
    return remove_leftovers(directory) + remove_files(
        [
            directory / MODEL_FILE,
            *directory.glob(EVAL_GLOB),
            *directory.glob(temp_name_glob(EVAL_GLOB)),
            *directory.glob(CURVE_GLOB),
            *directory.glob(temp_name_glob(CURVE_GLOB)),
        ]
    )


def load_or_train(
    config: TrainConfig,
    data=None,
    *,
    device="auto",
    cache_root=None,
    retrain: bool = False,
    progress=True,
    log: Callable[[str], None] | None = None,
    step_callbacks: list[Callable] = (),
) -> TrainResult:
    """Return the cached model for ``config`` and ``data``, or train it.

    ``data``: the training data; loaded from ``config`` (:func:`cmim_lab.data.load`) when
    None. The cache entry is :func:`model_dir` (config, data content, library versions) and
    is held under its lock: a second process asking for the same entry waits, then loads
    what the first one wrote. An unfinished checkpoint is resumed. A checkpoint that cannot
    be used -- corrupt, failing its checksum or bounds, an optimizer state that does not
    belong to its weights, or a config that differs from the one its key was made from
    (corruption or a hash collision) -- is renamed to ``*.corrupt`` (kept for inspection,
    never unpickled) with one warning, and the model is trained again. ``retrain=True``
    deletes the entry's checkpoint, cached evaluations and curves first. ``step_callbacks``
    go to :func:`train` (they run only if the model is trained now, not when it is loaded).

    ``progress``: as in :func:`train`. ``log`` (e.g. ``print``) receives one line, ``cmim[sum]
    seed 0: loaded from cache (<key>)`` or ``...: trained in 12.3 s (cache entry <key>)``
    (:func:`outcome`). Every call is counted in :mod:`cmim_lab.infra.tally`.
    """
    if data is None:
        data = data_module.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
    config.validate()
    _check_data(config, data)  # before an entry folder is made for data that does not fit
    directory = model_dir(config, cache_root, data)
    start = time.perf_counter()
    with entry_lock(directory):
        result = _cached(directory, config, device, retrain)
        if result is None:
            result = train(
                config, data, device=device, checkpoint_dir=directory, progress=progress, step_callbacks=step_callbacks
            )
    seconds = time.perf_counter() - start
    tally.record(result.trained_now, seconds)
    for listener in list(_ENTRY_LISTENERS):
        listener(directory)
    if log:
        log(f"{config.label} seed {config.seed}: {outcome(result, seconds)}")
    return result


_ENTRY_LISTENERS: list[Callable[[Path], None]] = []


def on_entry_used(listener: Callable[[Path], None]) -> None:
    """Call ``listener(directory)`` each time :func:`load_or_train` returns the cache entry
    ``directory`` (loaded or trained); :mod:`cmim_lab.cache.index` records this way which
    entries a notebook profile uses. Adding the same listener again has no effect."""
    if listener not in _ENTRY_LISTENERS:
        _ENTRY_LISTENERS.append(listener)


def _cached(directory: Path, config: TrainConfig, device, retrain: bool) -> TrainResult | None:
    """The complete cached model in ``directory`` (called under its lock), or None: absent,
    unfinished, cleared (``retrain``) or unusable (moved aside as ``*.corrupt``)."""
    path = directory / MODEL_FILE
    if retrain:
        clear_entry(directory)
    elif path.exists():
        try:
            model, meta = load_model(path, config, resolve_device(device))
            if meta["complete"]:
                return TrainResult(model, config, _history_frame(meta["history"]), directory, meta["data"], False)
        except CheckpointError as exc:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            warnings.warn(f"{exc}. Moved it to {aside} and training again.", stacklevel=2)
    return None
