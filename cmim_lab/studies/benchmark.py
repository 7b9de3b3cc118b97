"""The benchmark table: train what is missing, evaluate, summarise as Z-scores and ranks.

``cmim-lab benchmark --datasets fashion-mnist,mnist-5k --methods vae,cvae,mim,cmim,infonce
--seeds 0,1,2 --reductions sum,normalised`` writes into ``--out``:

* ``raw.csv``      one row per score (entry, dataset, seed, embedding, metric, value);
* ``zscores.csv``  seed means and Z-scores per (dataset, probe, embedding);
* ``ranks.csv``    mean Z and rank per entry (all probes) and per (entry, embedding);
* ``summary.md``   the tables with mean ± std over seeds, baselines, the exact command;
* ``benchmark.png`` / ``benchmark.html``  probe accuracies with their spread over seeds.

A model whose training diverges (NaN/inf loss) or whose codes come out constant is a
result, not a crash: ``summary.md`` lists it under "Models to read with care" with its
line (``loss is NaN at step 12 ...`` / ``codes are constant: probes at chance``); a diverged
model has no score rows, a collapsed one is scored (at chance) like the others, and every
other entry is trained, evaluated and written as usual (:func:`cmim_lab.studies.engine.run_study`).

An *entry* is a method under a reduction convention, e.g. ``cmim[normalised]``; its
informative embedding is the same entry under embedding ``informative`` (the paper's -X).
Raw-pixel and PCA baselines are scored with the same probes but kept out of the Z-scores.
Models and evaluations are cached (:mod:`cmim_lab.studies.engine`), so a rerun only does what is new.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import __version__, registry
from .. import data as data_module
from ..config import (
    CLASSIFICATION_PROBES,
    REDUCTIONS,
    EvalConfig,
    TrainConfig,
    check_names,
    check_seeds,
    expand_entries,
)
from ..evaluation import baseline_scores
from .engine import EvalTask, grid, run_study
from .summary import markdown, notes_section, pooled_ranks, ranks, ranks_section, score_table, write_tables, zscores

GENERATIVE = ("recon_nll", "mse", "active_units", "frac_logvar_at_floor", "kmeans_nmi", "silhouette")


@dataclass
class BenchmarkResult:
    raw: pd.DataFrame
    z: pd.DataFrame
    ranks: pd.DataFrame
    ranks_with_x: pd.DataFrame
    out_dir: Path | None
    markdown: str
    files: list[Path] = field(default_factory=list)  # what was written into out_dir (the figure: .png or .html)
    training: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per model, see StudyResult.training


def check_benchmark(datasets, methods, seeds, reductions, base, eval_config) -> None:
    """Validate a benchmark's arguments before any data is loaded or model trained:
    ``ValueError`` naming the argument, the bad value and what is valid."""
    valid = list(registry.datasets(role="classification"))
    if isinstance(datasets, str) or not isinstance(datasets, (list, tuple)) or not datasets:
        raise ValueError(
            f"datasets must be a non-empty list of names (e.g. ['mnist-5k']), got {datasets!r}; "
            f"valid: {', '.join(valid)}"
        )
    for name in datasets:
        registry.dataset(name, role="classification")
    if len(set(datasets)) != len(datasets):
        raise ValueError(f"datasets must be distinct, got {list(datasets)}")
    reductions = check_names("reductions", reductions, REDUCTIONS, what="reduction")
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)) or not methods:
        raise ValueError(
            f"methods must be a non-empty list of methods or variants (e.g. ['cmim', "
            f"'cmim[normalised]']), got {methods!r}"
        )
    if len(set(map(str, methods))) != len(methods):
        raise ValueError(f"methods must be distinct, got {list(methods)}")
    expand_entries(methods, reductions)
    check_seeds("seeds", seeds)
    if not isinstance(base, TrainConfig):
        raise ValueError(f"base must be a TrainConfig, got {type(base).__name__}")
    if not isinstance(eval_config, EvalConfig):
        raise ValueError(f"eval_config must be an EvalConfig, got {type(eval_config).__name__}")
    eval_config.require_probes(CLASSIFICATION_PROBES, "an image benchmark (classification)")


def run_benchmark(
    datasets,
    methods,
    seeds,
    reductions=("sum",),
    *,
    base: TrainConfig | None = None,
    eval_config: EvalConfig | None = None,
    baselines: bool = True,
    out_dir=None,
    device="auto",
    progress: bool = True,
    log=None,
    command: str | None = None,
) -> BenchmarkResult:
    """Train (or load) every (dataset, method, reduction, seed), evaluate, summarise.

    ``base``: the :class:`TrainConfig` every model starts from (epochs, batch size,
    ``n_train`` ...; its dataset, method, reduction and seed are replaced by the grid);
    ``eval_config``: the probes and their settings. ``methods`` may hold variants
    (``cmim[normalised]``). Every argument is checked (:func:`check_benchmark`) before any
    data is loaded. Returns a :class:`BenchmarkResult`; writes files when ``out_dir`` is
    given (``result.files`` lists them, the figure as it was really written).
    """
    base = TrainConfig() if base is None else base
    cfg = EvalConfig() if eval_config is None else eval_config
    check_benchmark(datasets, methods, seeds, reductions, base, cfg)
    frames, trained, started = [], [], time.time()
    for dataset in datasets:
        data = data_module.load(dataset, n_train=base.n_train, seed=base.data_seed)
        entries = grid(base.replace(dataset=dataset), methods, seeds=seeds, reductions=reductions)
        study = run_study(entries, data, [EvalTask(dataset, data, cfg)], device=device, progress=progress, log=log)
        frames.append(study.rows)
        trained.append(study.training.assign(dataset=dataset))
        if baselines:
            frames.append(_baseline_rows(data, cfg.replace(seed=0), base.latent_dim))
    raw = pd.concat(frames, ignore_index=True)
    probe_rows = raw[(raw["kind"] == "model") & raw["metric"].isin(cfg.probes)]
    z = zscores(probe_rows)
    overall = ranks(z, by=("entry",))
    with_x = pooled_ranks(probe_rows)
    settings = dict(
        datasets=list(datasets),
        methods=list(methods),
        seeds=list(seeds),
        reductions=list(reductions),
        **{k: v for k, v in base.to_dict().items() if k not in ("method", "dataset", "reduction", "seed")},
        probe_n_train=cfg.probe_n_train,
        probe_backend=cfg.backend,
        kit_version=__version__,
        minutes_this_run=round((time.time() - started) / 60, 1),
    )
    training = pd.concat(trained, ignore_index=True)
    text = _markdown_report(raw, z, overall, with_x, cfg.probes, settings, command, training)
    result = BenchmarkResult(raw, z, overall, with_x, Path(out_dir) if out_dir else None, text, training=training)
    if out_dir:
        result.files = _write(result, cfg.probes)
    return result


def _baseline_rows(data, cfg: EvalConfig, n_components: int) -> pd.DataFrame:
    """Raw-pixel and PCA baselines, scored with the same probes (kept out of the Z-scores)."""
    rows = []
    for kind in ("pixels", "pca"):
        scores = baseline_scores(data, kind, cfg, n_components=n_components)
        rows += [
            {
                "kind": "baseline",
                "entry": kind if kind == "pixels" else f"pca{n_components}",
                "method": kind,
                "reduction": "",
                "dataset": data.name,
                "seed": 0,
                "embedding": "baseline",
                "metric": k,
                "value": v,
                "higher_is_better": True,
            }
            for k, v in scores.items()
        ]
    return pd.DataFrame(rows)


def _markdown_report(raw, z, overall, with_x, probes, settings, command, training=None) -> str:
    parts = ["# cmim_lab benchmark", ""]
    if command:
        parts += ["Reproduce with:", "", "```", command, "```", ""]
    parts += notes_section(training if training is not None else pd.DataFrame())
    parts += [
        "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "",
        "Probe accuracies on the test split (mean ± std over seeds; baselines: one run):",
        "",
    ]
    probe_rows = raw[raw["metric"].isin(probes)]
    parts += [markdown(score_table(probe_rows)), ""]
    gen = raw[raw["metric"].isin(GENERATIVE)]
    if len(gen):
        parts += [
            "Generative and clustering metrics (test split, from mu; recon_nll in nats per image):",
            "",
            markdown(score_table(gen).drop(columns=["embedding"])),
            "",
        ]
    parts += ranks_section(overall, with_x)
    return "\n".join(parts)


def _write(result: BenchmarkResult, probes) -> list[Path]:
    """Write the tables and the figure; return the paths written."""
    out = write_tables(result)
    from ..notebook.viz import benchmark_figure, save_figure

    tables = [out / name for name in ("raw.csv", "zscores.csv", "ranks.csv", "summary.md")]
    return tables + save_figure(benchmark_figure(result.raw, probes), out / "benchmark")
