"""The molecule benchmark: pre-train on a SMILES corpus, probe property regressions,
summarise as Z-scores and ranks (the image benchmark's format, lower RMSE = better).

``cmim-lab molecules --datasets esol,freesolv,lipophilicity --pretrain moses
--pretrain-size 30000 --epochs 4 --methods vae,cvae,mim,cmim,infonce --seeds 0,1,2 --split scaffold
--split-seeds 0,1,2`` writes into ``--out``:

* ``raw.csv``      one row per score (entry, dataset, seed, split_seed, embedding, metric, value);
* ``zscores.csv``  seed-and-split means and Z-scores per (dataset, probe, embedding);
* ``ranks.csv``    mean Z and rank per entry (all probes) and per (entry, embedding);
* ``summary.md``   the tables (RMSE mean ± std over model seeds and splits), the ECFP4
  baseline, generative metrics, training throughput, the exact command;
* ``benchmark.png`` / ``benchmark.html``  RMSE per entry with its spread.

Every model is a :class:`~cmim_lab.config.TrainConfig` with ``arch="gru"`` trained through
:func:`~cmim_lab.trainer.load_or_train` (cached), and every evaluation is cached next to its
checkpoint, so a rerun only does what is new.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import __version__
from ..benchmark import cached_evaluate, ranks_section, write_tables
from ..config import TrainConfig
from ..evaluation import REGRESSION_PROBES
from ..paths import cache_dir
from ..summary import markdown, pooled_ranks, ranks, score_table, zscores
from ..trainer import load_or_train
from .data import SPLITS, load_corpus, load_property
from .evaluate import FINGERPRINT, evaluate_property, fingerprint_scores, generative_metrics

GENERATIVE = ("recon_nll", "token_nll", "token_accuracy", "exact_match", "valid_recon", "valid_prior",
              "unique_prior", "active_units", "frac_logvar_at_floor")
DEFAULTS = dict(hidden_sizes=(128,), latent_dim=32, batch_size=128, lr=1e-3, epochs=4)
PRETRAIN_SIZE = 30_000  # SMILES; with 4 epochs, 5 methods x 3 seeds fit in about 40 minutes on a 2-core CPU


@dataclass
class MoleculeBenchmarkResult:
    """Tables of a molecule benchmark: ``raw`` (one row per score), ``z`` (Z-scores), ``ranks``
    and ``ranks_with_x``, ``training`` (time and throughput per model), the trained
    ``results`` by (method, reduction, seed), and the Markdown report."""
    raw: pd.DataFrame
    z: pd.DataFrame
    ranks: pd.DataFrame
    ranks_with_x: pd.DataFrame
    training: pd.DataFrame
    results: dict            # {(method, reduction, seed): TrainResult}
    out_dir: Path | None
    markdown: str


def molecule_config(method: str, *, pretrain: str = "moses", pretrain_size: int | None = PRETRAIN_SIZE, seed: int = 0,
                    reduction: str = "sum", **fields) -> TrainConfig:
    """The :class:`TrainConfig` of a molecule model (arch gru, categorical likelihood) with
    the benchmark's defaults (:data:`DEFAULTS`) unless ``fields`` override them."""
    values = {**DEFAULTS, **fields}
    return TrainConfig(method=method, dataset=pretrain, n_train=pretrain_size, arch="gru", likelihood="categorical",
                       reduction=reduction, seed=seed, **values)


def run_molecule_benchmark(datasets=("esol", "freesolv", "lipophilicity"), methods=("vae", "cvae", "mim", "cmim",
                           "infonce"), seeds=(0, 1, 2), *, reductions=("sum",), pretrain: str = "moses",
                           pretrain_size: int | None = PRETRAIN_SIZE, split: str = "scaffold", split_seeds=(0, 1, 2),
                           probes=REGRESSION_PROBES, embeddings=("mean", "informative"), fingerprint: bool = True,
                           n_generate: int = 1000, out_dir=None, device="auto", progress: bool = True,
                           command: str | None = None, **fields) -> MoleculeBenchmarkResult:
    """Train (or load) every (method, reduction, seed) on ``pretrain_size`` corpus SMILES,
    probe every property dataset on every split seed, summarise.

    ``split`` is ``scaffold`` or ``random`` (or a list of both: datasets are then labelled
    ``esol (scaffold)`` and ``esol (random)`` separately). ``fields`` are further
    :class:`TrainConfig` fields (``epochs``, ``hidden_sizes``, ``latent_dim``,
    ``batch_size``, ``lr``, ...; defaults in :data:`DEFAULTS`). Writes files when ``out_dir``
    is given.
    """
    kinds = [split] if isinstance(split, str) else list(split)
    for kind in kinds:
        if kind not in SPLITS:
            raise ValueError(f"unknown split {kind!r}; valid splits are: {', '.join(SPLITS)}")
    started = time.time()
    corpus = load_corpus(pretrain, n_train=pretrain_size, seed=0)
    props = {name: load_property(name) for name in datasets}
    tasks = [(f"{name} ({kind})", props[name].split(kind, s)) for name in datasets for kind in kinds
             for s in split_seeds]
    rows, training, results = [], [], {}
    for method in methods:
        for reduction in reductions:
            for seed in seeds:
                config = molecule_config(method, pretrain=pretrain, pretrain_size=pretrain_size, seed=seed,
                                         reduction=reduction, **fields)
                result = load_or_train(config, corpus, device=device, progress=progress)
                results[(method, reduction, seed)] = result
                base = {"kind": "model", "entry": config.label, "method": method, "reduction": reduction,
                        "seed": seed}
                hist = result.history
                training.append({"entry": config.label, "seed": seed, "trained_now": result.trained_now,
                                 "epochs": len(hist),
                                 "steps": int(hist["step"].iloc[-1]), "minutes": hist["seconds"].sum() / 60,
                                 "samples_per_s": float(hist["samples_per_s"].mean()),
                                 "final_loss": float(hist["loss"].iloc[-1])})
                gen = cached_evaluate(result, corpus, evaluator=generative_metrics, n_prior=n_generate,
                                      n_recon=n_generate, seed=seed)
                rows += [{**base, "dataset": pretrain, "split_seed": -1, **r} for r in gen.rows()]
                for label, task in tasks:
                    ev = cached_evaluate(result, task, evaluator=evaluate_property, embeddings=tuple(embeddings),
                                         probes=tuple(probes), seed=seed)
                    rows += [{**base, "dataset": label, "split_seed": task.seed, **r} for r in ev.rows()]
    if fingerprint:
        entry = f"ecfp{2 * FINGERPRINT['radius']}"
        for label, task in tasks:
            scores = cached_fingerprint_scores(task, probes=tuple(probes), seed=0)
            rows += [{"kind": "baseline", "entry": entry, "method": entry, "reduction": "", "seed": 0,
                      "dataset": label, "split_seed": task.seed, "embedding": "baseline", "metric": k, "value": v,
                      "higher_is_better": False} for k, v in scores.items()]
    raw = pd.DataFrame(rows)
    probe_rows = raw[(raw["kind"] == "model") & raw["metric"].isin(probes)]
    z = zscores(probe_rows)
    overall = ranks(z, by=("entry",))
    with_x = pooled_ranks(probe_rows)
    train_table = pd.DataFrame(training, columns=["entry", "seed", "trained_now", "epochs", "steps", "minutes",
                                                  "samples_per_s", "final_loss"])
    settings = dict(pretrain=pretrain, pretrain_size=pretrain_size, n_pretrain_used=corpus.info["n_train"],
                    datasets=list(datasets), methods=list(methods), seeds=list(seeds), reductions=list(reductions),
                    split=kinds, split_seeds=list(split_seeds), **{**DEFAULTS, **fields}, arch="gru",
                    vocab_size=len(corpus.vocab), kit_version=__version__,
                    models_trained_now=f"{int(train_table['trained_now'].sum())} of {len(train_table)}",
                    minutes_this_run=round((time.time() - started) / 60, 1),
                    minutes_training_all_models=round(float(train_table["minutes"].sum()), 1))
    text = _markdown_report(raw, z, overall, with_x, train_table, props, probes, settings, command)
    result = MoleculeBenchmarkResult(raw, z, overall, with_x, train_table, results,
                                     Path(out_dir) if out_dir else None, text)
    if out_dir:
        _write(result, probes)
    return result


def cached_fingerprint_scores(split, *, probes=REGRESSION_PROBES, seed: int = 0) -> dict[str, float]:
    """:func:`~cmim_lab.molecules.evaluate.fingerprint_scores`, cached as JSON under
    ``<cache>/evaluations/`` (keyed by the split, probes, seed and kit version)."""
    blob = json.dumps({"split": split.info, "probes": list(probes), "seed": seed, "fingerprint": FINGERPRINT,
                       "version": __version__}, sort_keys=True, default=str)
    path = cache_dir() / "evaluations" / f"fingerprint-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass  # unreadable: compute again
    scores = fingerprint_scores(split, probes=probes, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(scores))
    tmp.replace(path)
    return scores


def _markdown_report(raw, z, overall, with_x, training, props, probes, settings, command) -> str:
    parts = ["# cmim_lab molecule benchmark", ""]
    if command:
        parts += ["Reproduce with:", "", "```", command, "```", ""]
    parts += ["Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), "",
              "Data: " + "; ".join(p.describe() for p in props.values()), "",
              "Test RMSE of the regression probes (lower is better; mean ± std over model seeds and split seeds; "
              "`-X` rows are the informative embedding; ECFP4 = Morgan fingerprint baseline, radius 2, 2,048 bits):",
              ""]
    probe_rows = raw[raw["metric"].isin(probes)]
    parts += [markdown(score_table(probe_rows)), ""]
    gen = raw[raw["metric"].isin(GENERATIVE)]
    if len(gen):
        parts += ["Generative side on held-out corpus molecules (from mu; recon_nll in nats per molecule, "
                  "token_nll per token; exact_match and valid_recon of greedy decodings from mu; valid_prior and "
                  "unique_prior of greedy decodings of z ~ N(0, I)):", "",
                  markdown(score_table(gen).drop(columns=["embedding", "dataset"])), ""]
    if len(training):
        parts += ["Training (mean per model over seeds: minutes of optimisation as recorded when it was trained, "
                  "samples per second; the run's other minutes are evaluation):", "",
                  markdown(training.groupby("entry", sort=False)[["epochs", "steps", "minutes", "samples_per_s",
                                                                    "final_loss"]].mean().reset_index()), ""]
    parts += ranks_section(overall, with_x, sign_note="RMSE signs flipped: higher Z = better; ")
    return "\n".join(parts)


def _write(result: MoleculeBenchmarkResult, probes) -> None:
    out = write_tables(result)
    result.training.to_csv(out / "training.csv", index=False)
    from ..viz import benchmark_figure, save_figure

    fig = benchmark_figure(result.raw, probes, value_label="test RMSE (lower is better)",
                           title="Probe test RMSE (lower is better; mean ± std over seeds and splits)")
    fig.update_annotations(font_size=11)
    save_figure(fig, out / "benchmark", width=1300)
