"""Scores at several points of one training run: the budget curve.

A claim can depend on the training budget (cMIM's lead over MIM under ``normalised`` opens
early and closes later). Instead of training one model per budget, :func:`train_with_curve`
trains once and evaluates the model at the chosen optimiser steps through the trainer's step
callbacks (:func:`cmim_lab.trainer.train`); the callbacks run in a forked random state, so
the run ends with the same weights as a plain one (on the CPU)::

    curve = train_with_curve(TrainConfig(dataset="digits", max_steps=200), ds, steps=[50, 100, 200])
    curve.rows      # one row per step, task, embedding and metric: step, dataset, embedding, metric, value
    curve.result    # the model at the last step, cached like any other (load_or_train finds it)

The model goes to its usual cache entry (:func:`cmim_lab.trainer.model_dir`); the scores go
beside it as ``curve-<key>.json`` (the key covers the steps, the tasks' data and every
evaluation setting), written after each point, so an interrupted run that resumes keeps the
points already scored. When a point cannot come from the cached run (the model was cached
without this curve), the run is repeated without touching the cache entry's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from ..config import STEPS, EvalConfig, TrainConfig, check_list
from ..data import fingerprint
from ..evaluation import evaluate
from ..infra.files import read_json, write_json
from ..infra.runtime import resolve_device
from ..trainer import TrainResult, entry_lock, library_versions, load_or_train, model_dir, train

CURVE_FORMAT = 1


@dataclass
class CurveResult:
    """``result``: the trained model (at the last step); ``rows``: one row per (step, task,
    embedding, metric) with ``step``, ``dataset`` (the task's name), ``embedding``,
    ``metric``, ``value`` and ``higher_is_better``."""

    result: TrainResult
    rows: pd.DataFrame


def total_steps(config: TrainConfig, n_train: int) -> int:
    """Optimiser steps of a run of ``config`` on ``n_train`` samples: ``max_steps``, or
    ``epochs`` full batches per epoch (the trainer drops an incomplete last batch)."""
    return config.max_steps or (n_train // config.batch_size) * config.epochs


def check_curve_steps(steps, total: int) -> tuple[int, ...]:
    """``steps`` as sorted distinct integers, each from 1 to ``total`` (the run's steps);
    ``ValueError`` naming the bad step and the run's length otherwise."""
    steps = check_list("curve steps", steps, STEPS, distinct=True)
    late = [s for s in steps if s > total]
    if late:
        raise ValueError(
            f"curve steps {late} lie beyond the {total} optimiser steps of this run; give steps from 1 "
            f"to {total}, or train longer (epochs or max_steps)"
        )
    return tuple(sorted(steps))


def curve_key(config: TrainConfig, steps, tasks, eval_config: EvalConfig) -> str:
    """The key of a curve file: the steps, every task (name, data fingerprint, provenance),
    the evaluation settings, the likelihood and the library versions (the model's own config
    and data are covered by the folder it sits in)."""
    blob = {
        "format": CURVE_FORMAT,
        "steps": list(steps),
        "likelihood": config.likelihood,
        "eval": eval_config.key_dict(),
        "tasks": [{"name": t.name, "data": fingerprint(t.data), "info": getattr(t.data, "info", {})} for t in tasks],
        **library_versions(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_with_curve(
    config: TrainConfig,
    data,
    steps,
    tasks=None,
    eval_config: EvalConfig | None = None,
    *,
    device="auto",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    name: str | None = None,
) -> CurveResult:
    """Train ``config`` on ``data`` once and evaluate it after each of ``steps`` optimiser steps.

    ``tasks``: the data to evaluate at each point, by name: objects with ``name`` and
    ``data`` such as :class:`cmim_lab.studies.engine.EvalTask` (default: one task named after
    ``data``; a task's own ``eval_config`` is not used); every evaluation is ``eval_config`` (default:
    kNN-cosine and linear probes on the posterior mean, no clustering) with the model's
    seed as evaluation seed. ``steps`` must lie
    within the run (:func:`check_curve_steps`). Cached: a second call with the same
    arguments loads the model and the scores. ``log`` lines name the model ``name``
    (default: its label, e.g. ``cmim[sum]``) and seed."""
    config.validate()
    who = f"{name or config.label} seed {config.seed}"
    if eval_config is not None and not isinstance(eval_config, EvalConfig):
        raise ValueError(f"eval_config must be an EvalConfig or None, got {type(eval_config).__name__}")
    cfg = (eval_config or EvalConfig(embeddings=("mean",), probes=("knn-cosine", "linear"), clustering=False)).replace(
        seed=config.seed
    )
    tasks = tasks if tasks is not None else [_Task(data.name, data)]
    steps = check_curve_steps(steps, total_steps(config, len(data.x_train)))
    dev = resolve_device(device)
    directory = model_dir(config, data=data)
    path = directory / f"curve-{curve_key(config, steps, tasks, cfg)}.json"
    with entry_lock(directory):
        points = _read_points(path, steps)

        def record(step, model):
            if step in steps and step not in points:
                points[step] = {t.name: _scores(model, t, cfg, config.likelihood, dev) for t in tasks}
                write_json(path, {"format": CURVE_FORMAT, "steps": list(steps), "points": points})
                if log:
                    log(f"  {who} step {step}: " + _summary(points[step]))

        if len(points) < len(steps):
            result = load_or_train(config, data, device=dev, progress=progress, step_callbacks=[record])
            if len(points) < len(steps):  # the model was cached without this curve: run it again, cache untouched
                if log:
                    log(
                        f"  {who}: scoring steps {[s for s in steps if s not in points]} "
                        f"needs a second run (the cached model has no curve for them)"
                    )
                points.clear()
                train(config, data, device=dev, progress=progress, resume=False, step_callbacks=[record])
        else:
            result = load_or_train(config, data, device=dev, progress=progress)
            if log:
                log(f"  {who}: curve loaded from cache ({len(steps)} steps)")
    return CurveResult(result, _rows(points))


def run_curves(
    entries,
    data,
    steps,
    tasks=None,
    eval_config: EvalConfig | None = None,
    *,
    device="auto",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, list[TrainResult]]:
    """:func:`train_with_curve` for every entry (:class:`cmim_lab.studies.engine.Entry`: ``label``,
    ``config``, ``tags``): (rows with ``entry``, ``method``, ``reduction``, ``seed`` and the
    entry's tags added, the trained models in entry order)."""
    frames, results = [], []
    for entry in entries:
        curve = train_with_curve(
            entry.config, data, steps, tasks, eval_config, device=device, progress=progress, log=log, name=entry.label
        )
        results.append(curve.result)
        frames.append(
            curve.rows.assign(
                entry=entry.label,
                method=entry.config.method,
                reduction=entry.config.reduction,
                seed=entry.config.seed,
                **entry.tags,
            )
        )
    return pd.concat(frames, ignore_index=True), results


@dataclass(frozen=True)
class _Task:
    """The default task of a curve: the training data's own test split."""

    name: str
    data: object


def _scores(model, task, cfg: EvalConfig, likelihood: str, device) -> dict:
    ev = evaluate(model, task.data, cfg, likelihood=likelihood, device=device)
    return {"probes": ev.probes, "metrics": ev.metrics}


def _read_points(path, steps) -> dict:
    blob = read_json(path) if path.exists() else None
    if not (isinstance(blob, dict) and blob.get("format") == CURVE_FORMAT and isinstance(blob.get("points"), dict)):
        return {}
    return {int(k): v for k, v in blob["points"].items() if str(k).isdigit() and int(k) in steps}


def _rows(points: dict) -> pd.DataFrame:
    lower = {"recon_nll", "mse"}
    rows = []
    for step in sorted(points):
        for task, scores in points[step].items():
            rows += [
                {
                    "step": step,
                    "dataset": task,
                    "embedding": kind,
                    "metric": probe,
                    "value": value,
                    "higher_is_better": True,
                }
                for kind, probes in scores["probes"].items()
                for probe, value in probes.items()
            ]
            rows += [
                {
                    "step": step,
                    "dataset": task,
                    "embedding": "",
                    "metric": k,
                    "value": v,
                    "higher_is_better": k not in lower,
                }
                for k, v in scores["metrics"].items()
                if k != "latent_dim"
            ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["step", "dataset", "embedding", "metric"], kind="stable").reset_index(drop=True)


def _summary(scores: dict) -> str:
    return "; ".join(
        f"{task} " + ", ".join(f"{p} {v:.4f}" for kind in s["probes"].values() for p, v in kind.items())
        for task, s in scores.items()
    )
