"""The molecule benchmark: pre-train on a SMILES corpus, probe property regressions,
summarise as Z-scores and ranks (the image benchmark's format, lower RMSE = better).

``cmim-lab molecules --datasets esol,freesolv,lipophilicity --pretrain moses
--pretrain-size 30000 --epochs 4 --methods vae,cvae,mim,cmim,infonce --seeds 0,1,2 --split scaffold
--split-seeds 0,1,2`` writes into ``--out``:

* ``raw.csv``      one row per score (entry, dataset, seed, split_seed, embedding, metric, value);
* ``zscores.csv``  seed-and-split means and Z-scores per (dataset, probe, embedding);
* ``ranks.csv``    mean Z and rank per entry (all probes) and per (entry, embedding);
* ``training.csv`` one row per model: trained now or loaded, epochs, steps, minutes, throughput,
  final terms;
* ``summary.md``   the tables (RMSE mean ± std over model seeds and splits), the ECFP4
  baseline, generative metrics, training throughput, the exact command;
* ``benchmark.png`` / ``benchmark.html``  RMSE per entry with its spread.

A specification on top of the study engine (:func:`cmim_lab.studies.engine.run_study`): the entries
are the methods x reductions x seeds grid of a molecule :class:`~cmim_lab.config.TrainConfig`
(:func:`molecule_config`: the corpus's registered ``defaults``, arch ``gru``), the tasks are
the generation metrics on held-out corpus molecules plus one regression task per
(property dataset, split kind, split seed). Models and evaluations are cached, so a rerun
only does what is new.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import __version__, registry
from ..config import Bounds, EvalConfig, TrainConfig, check_bounds, check_names, check_seeds, expand_entries
from ..data import fingerprint as data_fingerprint
from ..infra.files import locked, read_json, write_json, write_text
from ..infra.paths import cache_dir
from ..objectives import METHODS
from ..studies.engine import EvalTask, grid, run_study
from ..studies.summary import markdown, pooled_ranks, ranks, ranks_section, score_table, write_tables, zscores
from ..trainer import library_versions
from . import CORPORA, PROPERTIES
from .data import SPLITS, load_property
from .evaluation import (
    FINGERPRINT,
    MAX_GENERATE,
    N_GENERATE,
    evaluate_property,
    fingerprint_scores,
    generation_metrics,
    property_eval_config,
)

GENERATIVE = (
    "recon_nll",
    "token_nll",
    "token_accuracy",
    "exact_match",
    "valid_recon",
    "valid_prior",
    "unique_prior",
    "active_units",
    "frac_logvar_at_floor",
)
TRAINING_COLUMNS = ("epochs", "steps", "minutes", "samples_per_s", "final_loss")
DEFAULT_CORPUS = next(iter(CORPORA))
SEEDS = (0, 1, 2)  # model seeds, and split seeds, of the benchmark
SPLIT = "scaffold"


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
    results: dict  # {(method, reduction, seed): TrainResult}
    out_dir: Path | None
    markdown: str


def molecule_config(method: str = "cmim", *, dataset: str = DEFAULT_CORPUS, **fields) -> TrainConfig:
    """The :class:`TrainConfig` of a molecule model pre-trained on the corpus ``dataset``:
    the corpus's registered ``defaults`` (arch gru, categorical likelihood, widths, latent
    size, epochs, ``n_train`` SMILES; see :data:`cmim_lab.molecules.plugin.MODEL_DEFAULTS`),
    then ``fields``."""
    defaults = registry.dataset(dataset, role="corpus").defaults
    return TrainConfig(**{**defaults, "method": method, "dataset": dataset, **fields})


def _check_arguments(datasets, methods, seeds, reductions, base, cfg, split_seeds, n_generate) -> None:
    """Every argument of :func:`run_molecule_benchmark` checked before any data is loaded or
    model trained; ``ValueError`` naming the argument, the value and what is valid."""
    check_names("datasets", datasets, PROPERTIES, what="property dataset")
    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods must be a non-empty list of methods or variants, got {methods!r}")
    expand_entries(methods, reductions)
    check_seeds("seeds", seeds)
    check_seeds("split_seeds", split_seeds)
    check_bounds("n_generate", n_generate, Bounds(int, 1, MAX_GENERATE))
    if not isinstance(base, TrainConfig):
        raise ValueError(f"base must be a TrainConfig, got {type(base).__name__}")
    if not isinstance(cfg, EvalConfig):
        raise ValueError(f"eval_config must be an EvalConfig, got {type(cfg).__name__}")
    registry.dataset(base.dataset, role="corpus")


def run_molecule_benchmark(
    datasets=tuple(PROPERTIES),
    methods=METHODS,
    seeds=SEEDS,
    reductions=("sum",),
    *,
    base: TrainConfig | None = None,
    eval_config: EvalConfig | None = None,
    split=SPLIT,
    split_seeds=SEEDS,
    fingerprint: bool = True,
    n_generate: int = N_GENERATE,
    out_dir=None,
    device="auto",
    progress: bool = True,
    log=None,
    command: str | None = None,
) -> MoleculeBenchmarkResult:
    """Train (or load) every (method, reduction, seed) on the corpus, probe every property
    dataset on every split seed, summarise.

    Args:
        datasets: property datasets (``esol``, ``freesolv``, ``lipophilicity``).
        methods: methods or variants (``cmim``, ``cmim[normalised]``, ``infonce[pure]``);
            a bare method is crossed with ``reductions``.
        base: the :class:`TrainConfig` every model starts from (default
            :func:`molecule_config`: corpus ``moses``, its ``n_train`` SMILES, epochs,
            widths, ...); the grid replaces its method, reduction and seed.
        eval_config: the probes and their settings (default :func:`property_eval_config`);
            the evaluation seed of each model is its training seed.
        split: ``scaffold`` or ``random`` (or a list of both: datasets are then labelled
            ``esol (scaffold)`` and ``esol (random)`` separately).
        fingerprint: add the ECFP4 baseline (kept out of the Z-scores).
        n_generate: held-out corpus molecules reconstructed, and prior samples decoded.
        log: receives one line per model and evaluation (trained / loaded from cache).

    Writes the files of the module docstring when ``out_dir`` is given.
    """
    base = base or molecule_config()
    cfg = eval_config or property_eval_config()
    kinds = [split] if isinstance(split, str) else list(split)
    for kind in kinds:
        if kind not in SPLITS:
            raise ValueError(f"unknown split {kind!r}; valid splits are: {', '.join(SPLITS)}")
    _check_arguments(datasets, methods, seeds, reductions, base, cfg, split_seeds, n_generate)
    started = time.time()
    corpus = registry.dataset(base.dataset, role="corpus").load(n_train=base.n_train, seed=base.data_seed)
    props = {name: load_property(name) for name in datasets}
    splits = [
        (f"{name} ({kind})", props[name].split(kind, s)) for name in datasets for kind in kinds for s in split_seeds
    ]
    tasks = [
        EvalTask(
            base.dataset,
            corpus,
            cfg,
            generation_metrics,
            params={"n_prior": n_generate, "n_recon": n_generate},
            columns={"split_seed": -1},
        )
    ]
    tasks += [
        EvalTask(label, task, cfg, evaluate_property, columns={"split_seed": task.seed}) for label, task in splits
    ]
    study = run_study(
        grid(base, methods, seeds=seeds, reductions=reductions),
        corpus,
        tasks,
        device=device,
        progress=progress,
        log=log,
    )
    frames = [study.rows]
    if fingerprint:
        frames.append(_fingerprint_rows(splits, cfg.replace(seed=0)))
    raw = pd.concat(frames, ignore_index=True)
    probe_rows = raw[(raw["kind"] == "model") & raw["metric"].isin(cfg.probes)]
    z = zscores(probe_rows)
    overall = ranks(z, by=("entry",))
    with_x = pooled_ranks(probe_rows)
    training = study.training
    settings = dict(
        pretrain=base.dataset,
        pretrain_size=base.n_train,
        n_pretrain_used=corpus.info["n_train"],
        datasets=list(datasets),
        methods=list(methods),
        seeds=list(seeds),
        reductions=list(reductions),
        split=kinds,
        split_seeds=list(split_seeds),
        **{k: v for k, v in base.to_dict().items() if k not in ("method", "dataset", "n_train", "reduction", "seed")},
        probe_backend=cfg.backend,
        vocab_size=len(corpus.vocab),
        kit_version=__version__,
        models_trained_now=f"{int(training['trained_now'].sum())} of {len(training)}",
        minutes_this_run=round((time.time() - started) / 60, 1),
        minutes_training_all_models=round(float(training["minutes"].sum()), 1),
    )
    text = _markdown_report(raw, z, overall, with_x, training, props, cfg.probes, settings, command)
    results = {(e.config.method, e.config.reduction, e.config.seed): r for e, r in zip(study.entries, study.results)}
    result = MoleculeBenchmarkResult(
        raw, z, overall, with_x, training, results, Path(out_dir) if out_dir else None, text
    )
    if out_dir:
        _write(result, cfg.probes)
    return result


def _fingerprint_rows(splits, cfg: EvalConfig) -> pd.DataFrame:
    """The ECFP4 baseline on every split, as raw rows (``kind`` baseline, one run, seed 0)."""
    entry = f"ecfp{2 * FINGERPRINT['radius']}"
    rows = []
    for label, task in splits:
        scores = cached_fingerprint_scores(task, cfg)
        rows += [
            {
                "kind": "baseline",
                "entry": entry,
                "method": entry,
                "reduction": "",
                "seed": 0,
                "dataset": label,
                "split_seed": task.seed,
                "embedding": "baseline",
                "metric": k,
                "value": v,
                "higher_is_better": False,
            }
            for k, v in scores.items()
        ]
    return pd.DataFrame(rows)


def cached_fingerprint_scores(split, eval_config: EvalConfig | None = None) -> dict[str, float]:
    """:func:`~cmim_lab.molecules.evaluation.fingerprint_scores` ({probe: test RMSE}), cached
    as JSON under ``<cache>/evaluations/`` (keyed by the split and its content, every
    evaluation setting, the fingerprint, and the versions of the kit, torch, scikit-learn and
    RDKit) and written through :mod:`cmim_lab.infra.files` under a lock."""
    from rdkit import rdBase

    cfg = eval_config or property_eval_config()
    blob = json.dumps(
        {
            "split": split.info,
            "data": data_fingerprint(split),
            "eval": cfg.to_dict(),
            "fingerprint": FINGERPRINT,
            "rdkit": rdBase.rdkitVersion,
            **library_versions(),
        },
        sort_keys=True,
        default=str,
    )
    path = cache_dir() / "evaluations" / f"fingerprint-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    scores = read_json(path)
    if isinstance(scores, dict):
        return scores
    with locked(path.with_name(path.name + ".lock"), what="an ECFP4 baseline evaluation"):
        scores = read_json(path)
        if not isinstance(scores, dict):
            scores = fingerprint_scores(split, cfg)
            write_json(path, scores)
    return scores


def _markdown_report(raw, z, overall, with_x, training, props, probes, settings, command) -> str:
    parts = ["# cmim_lab molecule benchmark", ""]
    if command:
        parts += ["Reproduce with:", "", "```", command, "```", ""]
    parts += [
        "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "",
        "Data: " + "; ".join(p.describe() for p in props.values()),
        "",
        "Test RMSE of the regression probes (lower is better; mean ± std over model seeds and split seeds; "
        "`-X` rows are the informative embedding; ECFP4 = Morgan fingerprint baseline, radius 2, 2,048 bits):",
        "",
    ]
    probe_rows = raw[raw["metric"].isin(probes)]
    parts += [markdown(score_table(probe_rows)), ""]
    gen = raw[raw["metric"].isin(GENERATIVE)]
    if len(gen):
        parts += [
            "Generative side on held-out corpus molecules (from mu; recon_nll in nats per molecule, "
            "token_nll per token; exact_match and valid_recon of greedy decodings from mu; valid_prior and "
            "unique_prior of greedy decodings of z ~ N(0, I)):",
            "",
            markdown(score_table(gen).drop(columns=["embedding", "dataset"])),
            "",
        ]
    if len(training):
        parts += [
            "Training (mean per model over seeds: minutes of optimisation as recorded when it was trained, "
            "samples per second; the run's other minutes are evaluation):",
            "",
            markdown(training.groupby("entry", sort=False)[list(TRAINING_COLUMNS)].mean().reset_index()),
            "",
        ]
    parts += ranks_section(overall, with_x, sign_note="RMSE signs flipped: higher Z = better; ")
    return "\n".join(parts)


def _write(result: MoleculeBenchmarkResult, probes) -> None:
    out = write_tables(result)
    write_text(out / "training.csv", result.training.to_csv(index=False))
    from ..notebook.viz import benchmark_figure, save_figure

    fig = benchmark_figure(
        result.raw,
        probes,
        value_label="test RMSE (lower is better)",
        title="Probe test RMSE, lower is better",
        spread_over="runs (model seeds × split seeds)",
        baseline_spread_over="split seeds",
    )
    fig.update_annotations(font_size=11)
    save_figure(fig, out / "benchmark", width=1300)
