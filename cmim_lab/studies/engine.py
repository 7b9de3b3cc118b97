"""The study engine: a grid of configs -> load or train -> cached evaluation -> tidy rows.

Every comparison in the kit is a study: the benchmark, the batch-size sweep, the notebook
comparisons and the molecule benchmark are short specifications on top of it::

    entries = grid(TrainConfig(dataset="digits", epochs=3), ["cmim", "mim"], seeds=[0, 1],
                   reductions=["sum", "normalised"])
    study = run_study(entries, data.load("digits"), [EvalTask("digits", ds, EvalConfig())])
    study.rows        # one row per score: entry, method, reduction, seed, dataset, embedding, metric, value
    study.training    # one row per model: trained now or loaded, steps, minutes, final terms

* An :class:`Entry` is one model: a label (``cmim[sum]``), its :class:`TrainConfig` and
  ``tags`` (extra columns such as ``batch_size``).
* An :class:`EvalTask` is one evaluation of every model: the data it reads, the
  :class:`EvalConfig`, the evaluator (default :func:`cmim_lab.evaluation.evaluate`) and the
  columns it adds. The evaluation seed of every model is its training seed.
* Models are cached by :func:`~cmim_lab.trainer.load_or_train`; evaluations by
  :func:`cached_evaluate`, as JSON next to the checkpoint, keyed by the evaluator, every
  evaluation setting, the evaluated data's content fingerprint and provenance, the model's
  weights and the versions of the kit, torch and scikit-learn. Both are computed under the
  entry's lock: two processes running the same study wait for each other and the second
  loads what the first wrote.

A model whose training diverges (a NaN or infinite loss, :class:`~cmim_lab.errors.TrainingDivergedError`)
or collapses (constant codes, :func:`cmim_lab.evaluation.codes_constant`) is a result, not a
crash: the log gets one line (``... diverged: loss is NaN at step 12 (epoch 2) ...`` /
``codes are constant: probes at chance``), its row of ``study.training`` says so (columns
``diverged`` and ``note``), and every other entry is trained, evaluated and reported as usual.
A diverged entry has no model (``study.results`` holds None there) and no score rows; a
collapsed one is evaluated, its scores at chance level.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..checkpoint import tensor_digest
from ..config import EvalConfig, TrainConfig, check_seeds, expand_entries
from ..data import fingerprint
from ..errors import TrainingDivergedError
from ..evaluation import EvalResult, evaluate
from ..infra.digest import seal, seal_intact
from ..infra.files import read_json, write_json
from ..trainer import TrainResult, entry_lock, library_versions, load_or_train, outcome, planned_steps

HISTORY_COLUMNS = ("epoch", "step", "seconds", "samples_per_s")


@dataclass(frozen=True)
class Entry:
    """One model of a study: ``label`` names it in tables, ``tags`` are extra columns."""

    label: str
    config: TrainConfig
    tags: dict = field(default_factory=dict)


@dataclass
class EvalTask:
    """One evaluation of every model of a study.

    ``evaluator(model, data, eval_config, *, likelihood, device, **params)`` returns an
    :class:`~cmim_lab.evaluation.EvalResult` (default :func:`~cmim_lab.evaluation.evaluate`);
    ``name`` fills the rows' ``dataset`` column and ``columns`` adds more (e.g. a split seed).
    """

    name: str
    data: Any
    eval_config: EvalConfig = field(default_factory=EvalConfig)
    evaluator: Callable[..., EvalResult] | None = None
    params: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)


@dataclass
class StudyResult:
    """``rows``: one row per score (tidy); ``training``: one row per model, in entry order,
    with ``diverged`` (True: training stopped at a NaN/inf loss, no model, no scores) and
    ``note`` (``""``, the divergence line, or ``codes are constant: probes at chance``);
    ``results``: the trained models in entry order (:class:`~cmim_lab.trainer.TrainResult`,
    None for a diverged entry)."""

    rows: pd.DataFrame
    training: pd.DataFrame
    results: list[TrainResult | None]
    entries: list[Entry]

    def result(self, label: str, seed: int | None = None, **tags) -> TrainResult:
        """The trained model of ``label`` (and ``seed`` and ``tags`` where several match);
        ``KeyError`` unless exactly one matches, ``ValueError`` when its training diverged."""
        hits = [
            (i, r)
            for i, (e, r) in enumerate(zip(self.entries, self.results))
            if e.label == label
            and (seed is None or e.config.seed == seed)
            and all(e.tags.get(k) == v for k, v in tags.items())
        ]
        if len(hits) != 1:
            raise KeyError(
                f"{len(hits)} models match {label!r} seed={seed} {tags}; entries: "
                f"{sorted({e.label for e in self.entries})}"
            )
        i, result = hits[0]
        if result is None:
            raise ValueError(
                f"{label} seed {self.entries[i].config.seed} has no model: its training diverged "
                f"({self.training.iloc[i]['note']})"
            )
        return result

    def wide(self) -> pd.DataFrame:
        """One row per model: ``label``, tags, config fields that differ between the models,
        ``final_<term>`` (last epoch, in the config's reduction), ``<embedding>/<probe>``
        scores and the generative/clustering metrics."""
        dicts = [e.config.to_dict() for e in self.entries]
        varying = [k for k in TrainConfig().to_dict() if len({str(d[k]) for d in dicts}) > 1]
        out = []
        for i, (entry, d) in enumerate(zip(self.entries, dicts)):
            row = {"label": entry.label, **entry.tags, **{k: d[k] for k in varying if k not in entry.tags}}
            train = self.training.iloc[i]
            row.update({k: train[k] for k in self.training.columns if k.startswith("final_")})
            if isinstance(train.get("note"), str) and train["note"]:
                row["note"] = train["note"]
            scores = self.rows[self.rows["model"] == i] if "model" in self.rows else self.rows
            for r in scores.itertuples():
                name = f"{r.embedding}/{r.metric}" if r.embedding else r.metric
                if r.metric != "latent_dim":
                    row[name] = r.value
            out.append(row)
        return pd.DataFrame(out)


def grid(base: TrainConfig, labels, *, seeds=(0,), reductions=None, **axes) -> list[Entry]:
    """Entries for every label x value of each axis x seed, in that order.

    ``labels``: methods or variants (``cmim``, ``cmim[normalised]``, ``infonce[pure]``; see
    :func:`cmim_lab.config.variant_fields`); a bare method is crossed with ``reductions``
    when given. ``axes``: TrainConfig field -> values (each becomes a tag column)."""
    seeds = check_seeds("seeds", seeds)  # distinct: a repeated seed would score one model twice
    entries = []
    for label, fields in expand_entries(labels, reductions).items():
        for values in itertools.product(*axes.values()):
            over = dict(zip(axes, values))
            for seed in seeds:
                config = base.replace(**fields, **over, seed=seed)
                name = config.label if set(fields) == {"method"} else label
                entries.append(Entry(name, config, over))
    return entries


def evaluation_key(result: TrainResult, task: EvalTask, cfg: EvalConfig) -> str:
    """The cache key of one evaluation: the evaluator, every evaluation setting and parameter,
    the evaluated data (content fingerprint, :func:`cmim_lab.data.fingerprint`, and
    provenance), the model's weights and likelihood, and the versions of the kit, torch and
    scikit-learn."""
    evaluator = task.evaluator or evaluate
    blob = {
        "evaluator": f"{evaluator.__module__}.{evaluator.__qualname__}",
        "eval": cfg.key_dict(),
        "params": task.params,
        "data": getattr(task.data, "info", {}),
        "data_fingerprint": fingerprint(task.data),
        "weights": tensor_digest(result.model.state_dict()),
        "likelihood": result.config.likelihood,
        **library_versions(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_evaluate(
    result: TrainResult,
    task: EvalTask,
    cfg: EvalConfig | None = None,
    *,
    device=None,
    log: Callable[[str], None] | None = None,
) -> EvalResult:
    """Evaluate ``result.model`` on ``task`` (with ``cfg``, default ``task.eval_config``),
    cached as ``eval-<key>.json`` in the model's checkpoint folder (:func:`evaluation_key`),
    under the entry's lock (a second process evaluating the same entry waits, then loads).
    The file names the weights it was computed from (``checkpoint_sha256``, the checkpoint's
    ``sha256``) and is sealed (:func:`cmim_lab.infra.digest.seal`): one edited since is
    computed again."""
    cfg = cfg or task.eval_config
    if not result.directory:
        return _evaluate(result, task, cfg, device, log)
    path = Path(result.directory) / f"eval-{evaluation_key(result, task, cfg)}.json"
    with entry_lock(result.directory):
        blob = read_json(path)
        if isinstance(blob, dict) and {"probes", "metrics", "info"} <= set(blob) and seal_intact(blob):
            if log:
                log(f"  {task.name}: evaluation loaded from cache")
            return EvalResult(blob["probes"], blob["metrics"], blob["info"])
        ev = _evaluate(result, task, cfg, device, log)
        write_json(
            path,
            seal(
                {
                    "probes": ev.probes,
                    "metrics": ev.metrics,
                    "info": ev.info,
                    "checkpoint_sha256": tensor_digest(result.model.state_dict()),
                }
            ),
        )
    return ev


def _evaluate(result: TrainResult, task: EvalTask, cfg: EvalConfig, device, log) -> EvalResult:
    start = time.perf_counter()
    evaluator = task.evaluator or evaluate
    params = dict(task.params)
    if log and "progress" in inspect.signature(evaluator).parameters:
        params["progress"] = lambda line: log(f"    {line}")
    ev = evaluator(result.model, task.data, cfg, likelihood=result.config.likelihood, device=device, **params)
    if log:
        log(f"  {task.name}: evaluated in {time.perf_counter() - start:.1f} s")
    return ev


def run_study(
    entries: list[Entry],
    train_data,
    tasks: list[EvalTask] | None = None,
    *,
    device="auto",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    callback: Callable[[Entry, TrainResult, dict], None] | None = None,
) -> StudyResult:
    """Load or train every entry on ``train_data``, run every task on it, collect the rows.

    ``tasks`` default to one :class:`EvalTask` on ``train_data`` with the default
    :class:`EvalConfig` (``[]``: load or train only). ``progress``: one bar for the whole grid,
    counting the optimiser steps of every entry (a cached entry advances it at once).
    ``log`` receives one line per model (``trained in N s`` / ``loaded from cache (<key>)``,
    see :func:`cmim_lab.trainer.outcome`) and per evaluation; ``callback(entry, result,
    {task name: EvalResult})`` runs
    after each model (for live tables in notebooks). Rows carry ``kind="model"``, ``entry``,
    ``method``, ``reduction``, ``seed``, the tags, ``dataset`` (the task name), the task's
    columns, ``embedding``, ``metric``, ``value``, ``higher_is_better`` and ``model`` (the
    entry's index).

    An entry whose training diverges is logged (``<label> seed <s> diverged: loss is NaN at
    step N ...``), recorded in ``training`` (``diverged`` True, ``note``; ``results``: None)
    and skipped by the tasks and ``callback``; an entry whose codes come out constant is
    evaluated and its ``note`` says ``codes are constant: probes at chance``. Either way the
    other entries are trained and evaluated as usual."""
    tasks = tasks if tasks is not None else [EvalTask(train_data.name, train_data)]
    steps = [planned_steps(entry.config, train_data) for entry in entries]  # also an early check of every batch size
    bar = _grid_bar(sum(steps), len(entries), train_data.name) if progress else None
    log = _above(bar, log)
    rows, training, results = [], [], []
    try:
        for i, entry in enumerate(entries):
            done = bar.n if bar is not None else 0
            try:
                result = _load_or_train(entry, train_data, device, bar, steps[i], log)
            except TrainingDivergedError as exc:
                if bar is not None:  # past the steps the entry did not take
                    bar.update(max(done + steps[i] - bar.n, 0))
                results.append(None)
                training.append(_diverged_row(entry, exc, log))
                continue
            results.append(result)
            scores, notes = _evaluate_entry(i, entry, result, tasks, log, callback)
            rows += scores
            training.append({**_training_row(entry, result), "note": "; ".join(dict.fromkeys(notes))})
    finally:
        if bar is not None:
            bar.close()
    return StudyResult(pd.DataFrame(rows), pd.DataFrame(training), results, list(entries))


def _grid_bar(total_steps: int, n_models: int, name: str):
    """The one progress bar of a study: optimiser steps over every model of the grid."""
    from ..infra.progress import progress_bar

    return progress_bar(
        total=total_steps, desc=f"{n_models} model{'s' * (n_models != 1)} on {name}", unit="step", dynamic_ncols=True
    )


def _above(bar, log):
    """``log`` printing above the progress bar (a terminal bar is cleared and redrawn around
    each line rather than broken by it)."""
    if bar is None or log is None:
        return log

    def write(line: str) -> None:
        with bar.external_write_mode():
            log(line)

    return write


def _load_or_train(entry: Entry, train_data, device, bar, steps: int, log) -> TrainResult:
    """Load or train one entry, advancing the grid's ``bar`` by its ``steps``; log the outcome."""
    start = time.perf_counter()
    result = load_or_train(entry.config, train_data, device=device, progress=bar if bar is not None else False)
    if bar is not None and not result.trained_now:
        bar.update(steps)
    if log:
        how = outcome(result, time.perf_counter() - start)
        log(f"{entry.label} seed {entry.config.seed} {_tag_text(entry.tags)}{how}")
    return result


def _diverged_row(entry: Entry, exc: TrainingDivergedError, log) -> dict:
    """The training row of an entry whose training diverged (and its log line)."""
    line = str(exc).splitlines()[0]
    if log:
        log(f"{entry.label} seed {entry.config.seed} {_tag_text(entry.tags)}diverged: {line}")
    return {
        "entry": entry.label,
        "seed": entry.config.seed,
        **entry.tags,
        "trained_now": True,
        "epochs": exc.epoch - 1,
        "steps": exc.step,
        "diverged": True,
        "note": line,
    }


def _evaluate_entry(i: int, entry: Entry, result: TrainResult, tasks, log, callback) -> tuple[list[dict], list[str]]:
    """The score rows of model ``i`` on every task (cached evaluations) and the notes of its
    evaluations (``codes are constant: probes at chance``, logged); then ``callback``."""
    rows, notes = [], []
    base = {
        "kind": "model",
        "entry": entry.label,
        "method": entry.config.method,
        "reduction": entry.config.reduction,
        "seed": entry.config.seed,
        **entry.tags,
    }
    evaluations = {}
    for task in tasks:
        cfg = task.eval_config.replace(seed=entry.config.seed)
        ev = cached_evaluate(result, task, cfg, log=log)
        evaluations[task.name] = ev
        rows += [{**base, "dataset": task.name, **task.columns, **r, "model": i} for r in ev.rows()]
        note = getattr(ev, "note", "")
        if note:
            notes.append(note)
            if log:
                log(f"  {task.name}: {note}")
    if callback:
        callback(entry, result, evaluations)
    return rows, notes


def _tag_text(tags: dict) -> str:
    return "".join(f"{k}={v} " for k, v in tags.items())


def _training_row(entry: Entry, result: TrainResult) -> dict:
    hist = result.history
    last = hist.iloc[-1]
    return {
        "entry": entry.label,
        "seed": entry.config.seed,
        **entry.tags,
        "trained_now": result.trained_now,
        "diverged": False,
        "epochs": len(hist),
        "steps": int(last["step"]),
        "minutes": float(hist["seconds"].sum()) / 60,
        "samples_per_s": float(hist["samples_per_s"].mean()),
        **{f"final_{k}": float(last[k]) for k in hist.columns if k not in HISTORY_COLUMNS},
    }
