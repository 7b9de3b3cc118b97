"""Small comparison helpers the notebooks build their stories on (specifications on top of
:mod:`cmim_lab.studies.engine`).

``compare`` trains (or loads) a set of labelled configs on one dataset and returns one
table row per model: the final value of every training term, probe scores and the
generative/clustering metrics. Models and evaluations are cached, so notebooks share them.
"""

from __future__ import annotations

import pandas as pd

from ..config import EvalConfig, TrainConfig, check_seeds
from ..embeddings import embed
from ..evaluation import probe_scores, probe_subset
from .engine import Entry, EvalTask, run_study


def compare(
    configs: dict[str, TrainConfig],
    data,
    eval_config: EvalConfig | None = None,
    *,
    seeds=None,
    device="auto",
    progress: bool = True,
    log=print,
    **overrides,
):
    """Train/load every ``configs[label]`` on ``data``; return ({label: TrainResult}, table).

    ``seeds``: train every config once per seed (default: each config's own seed); the
    table then has one row per (label, seed), and the returned models are each label's
    first seed whose training did not diverge (None when every seed diverged; the table's
    ``note`` column says so) (:func:`cmim_lab.trainer.load_or_train` gives the others from the cache).
    Per-seed rows are what :func:`cmim_lab.studies.verdicts.compare_entries` pairs (``by="label"``).

    ``eval_config`` (default :class:`EvalConfig` with ``overrides`` of its fields, e.g.
    ``probes=["linear"]``). Table columns: ``label``, config fields that differ between the
    configs, ``final_<term>`` for each training term (last epoch mean, in the config's
    reduction), ``<embedding>/<probe>`` scores, and the metrics of
    :func:`cmim_lab.evaluation.evaluate`. ``log`` (default ``print``; None: silent) gets one
    line per model (trained in N s / loaded from cache), per probe and per evaluation.
    """
    cfg = (eval_config or EvalConfig()).replace(**overrides)
    seeds = None if seeds is None else check_seeds("seeds", seeds)
    entries = [
        Entry(label, config if seeds is None else config.replace(seed=seed))
        for label, config in configs.items()
        for seed in (seeds or [config.seed])
    ]
    study = run_study(entries, data, [EvalTask(data.name, data, cfg)], device=device, progress=progress, log=log)
    table = study.wide()
    if "seed" not in table:  # wide() names only the fields that differ between the models
        table.insert(1, "seed", [e.config.seed for e in entries])
    first = {}
    for entry, result in zip(entries, study.results):  # None: diverged (the table's note says so)
        if first.get(entry.label) is None:
            first[entry.label] = result
    return first, table


def embedding_ablation(
    model, data, variants: dict[str, dict], eval_config: EvalConfig | None = None, **overrides
) -> pd.DataFrame:
    """Probe scores for several embeddings of one model.

    ``variants``: {name: keyword arguments of :func:`cmim_lab.embeddings.embed`}, e.g.
    ``{"mu": {"kind": "mean"}, "X, last layer": {"kind": "informative", "layers": [-1]}}``.
    Returns one row per variant with its width and score per probe.
    """
    cfg = (eval_config or EvalConfig()).replace(**overrides)
    idx = probe_subset(data.y_train, cfg.probe_n_train, cfg.seed)
    rows = []
    for name, kwargs in variants.items():
        train_e = embed(model, data.x_train[idx], **kwargs)
        test_e = embed(model, data.x_test, **kwargs)
        scores = probe_scores(train_e, data.y_train[idx], test_e, data.y_test, cfg)
        rows.append({"embedding": name, "width": train_e.shape[1], **scores})
    return pd.DataFrame(rows)
