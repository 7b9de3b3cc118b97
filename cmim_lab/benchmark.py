"""The benchmark table: train what is missing, evaluate, summarise as Z-scores and ranks.

``cmim-lab benchmark --datasets fashion-mnist,mnist-5k --methods vae,cvae,mim,cmim,infonce
--seeds 0,1,2 --reductions sum,normalised`` writes into ``--out``:

* ``raw.csv``      one row per score (entry, dataset, seed, embedding, metric, value);
* ``zscores.csv``  seed means and Z-scores per (dataset, probe, embedding);
* ``ranks.csv``    mean Z and rank per entry (all probes) and per (entry, embedding);
* ``summary.md``   the tables with mean ± std over seeds, baselines, the exact command;
* ``benchmark.png`` / ``benchmark.html``  probe accuracies with their spread over seeds.

An *entry* is a method under a reduction convention, e.g. ``cmim[normalised]``; its
informative embedding is the same entry under embedding ``informative`` (the paper's -X).
Raw-pixel and PCA baselines are scored with the same probes but kept out of the Z-scores.
Evaluations are cached next to each checkpoint, so a rerun only evaluates what is new.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import __version__
from .config import TrainConfig
from .evaluation import PROBES, EvalResult, baseline_scores, evaluate
from .summary import markdown, pooled_ranks, ranks, score_table, zscores
from .trainer import load_or_train

GENERATIVE = ("recon_nll", "mse", "active_units", "frac_logvar_at_floor", "kmeans_nmi", "silhouette")


@dataclass
class BenchmarkResult:
    raw: pd.DataFrame
    z: pd.DataFrame
    ranks: pd.DataFrame
    ranks_with_x: pd.DataFrame
    out_dir: Path | None
    markdown: str


def cached_evaluate(result, data, *, evaluator=None, **kwargs) -> EvalResult:
    """:func:`~cmim_lab.evaluation.evaluate` (or ``evaluator(model, data, **kwargs)``, which
    returns an :class:`EvalResult`), cached as JSON in the model's checkpoint folder and keyed
    by the arguments and ``data.info``."""
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(kwargs.items()) if k != "device"}
    params["data"] = data.info
    if evaluator is not None:
        params["evaluator"] = f"{evaluator.__module__}.{evaluator.__qualname__}"
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = Path(result.directory) / f"eval-{digest}.json" if result.directory else None
    if path is not None and path.exists():
        try:
            blob = json.loads(path.read_text())
            return EvalResult(blob["probes"], blob["metrics"], blob["info"])
        except (ValueError, KeyError):
            pass  # unreadable cache: evaluate again and overwrite it
    if evaluator is None:
        ev = evaluate(result.model, data, likelihood=result.config.likelihood, **kwargs)
    else:
        ev = evaluator(result.model, data, **kwargs)
    if path is not None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"probes": ev.probes, "metrics": ev.metrics, "info": ev.info}))
        tmp.replace(path)
    return ev


def run_benchmark(datasets, methods, seeds, reductions=("sum",), *, epochs: int = 10, n_train=None,
                  batch_size: int = 128, arch: str = "mlp", latent_dim: int = 16, lr: float = 1e-3,
                  probes=PROBES, embeddings=("mean", "informative"), probe_n_train=10_000,
                  baselines: bool = True, out_dir=None, device="auto", progress: bool = True,
                  command: str | None = None, extra_config: dict | None = None) -> BenchmarkResult:
    """Train (or load) every (dataset, method, reduction, seed), evaluate, summarise.

    ``n_train`` subsets every dataset's training split (None: all); ``extra_config`` holds
    further :class:`TrainConfig` fields. Returns a :class:`BenchmarkResult`; writes files
    when ``out_dir`` is given.
    """
    from . import data as data_module

    rows, started = [], time.time()
    for dataset in datasets:
        data = data_module.load(dataset, n_train=n_train, seed=0)
        for method in methods:
            for reduction in reductions:
                for seed in seeds:
                    config = TrainConfig(method=method, dataset=dataset, n_train=n_train, arch=arch,
                                         latent_dim=latent_dim, reduction=reduction, epochs=epochs,
                                         batch_size=batch_size, lr=lr, seed=seed, **(extra_config or {}))
                    result = load_or_train(config, data, device=device, progress=progress)
                    ev = cached_evaluate(result, data, embeddings=tuple(embeddings), probes=tuple(probes),
                                         probe_n_train=probe_n_train, seed=seed, device=None)
                    for row in ev.rows():
                        rows.append({"kind": "model", "entry": config.label, "method": method,
                                     "reduction": reduction, "dataset": dataset, "seed": seed, **row})
        if baselines:
            for base in ("pixels", "pca"):
                scores = baseline_scores(data, base, n_components=latent_dim, probes=probes,
                                         probe_n_train=probe_n_train, seed=0)
                rows += [{"kind": "baseline", "entry": base if base == "pixels" else f"pca{latent_dim}",
                          "method": base, "reduction": "", "dataset": dataset, "seed": 0,
                          "embedding": "baseline", "metric": k, "value": v, "higher_is_better": True}
                         for k, v in scores.items()]
    raw = pd.DataFrame(rows)
    probe_rows = raw[(raw["kind"] == "model") & raw["metric"].isin(probes)]
    z = zscores(probe_rows)
    overall = ranks(z, by=("entry",))
    with_x = pooled_ranks(probe_rows)
    settings = dict(datasets=list(datasets), methods=list(methods), seeds=list(seeds),
                    reductions=list(reductions), epochs=epochs, n_train=n_train, batch_size=batch_size,
                    arch=arch, latent_dim=latent_dim, lr=lr, probe_n_train=probe_n_train,
                    extra_config=extra_config or {}, kit_version=__version__,
                    minutes_this_run=round((time.time() - started) / 60, 1))
    text = _markdown_report(raw, z, overall, with_x, probes, settings, command)
    result = BenchmarkResult(raw, z, overall, with_x, Path(out_dir) if out_dir else None, text)
    if out_dir:
        _write(result, probes)
    return result


def _markdown_report(raw, z, overall, with_x, probes, settings, command) -> str:
    parts = ["# cmim_lab benchmark", ""]
    if command:
        parts += ["Reproduce with:", "", "```", command, "```", ""]
    parts += ["Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), "",
              "Probe accuracies on the test split (mean ± std over seeds; baselines: one run):", ""]
    probe_rows = raw[raw["metric"].isin(probes)]
    parts += [markdown(score_table(probe_rows)), ""]
    gen = raw[raw["metric"].isin(GENERATIVE)]
    if len(gen):
        parts += ["Generative and clustering metrics (test split, from mu; recon_nll in nats per image):", "",
                  markdown(score_table(gen).drop(columns=["embedding"])), ""]
    parts += ranks_section(overall, with_x)
    return "\n".join(parts)


def ranks_section(overall: pd.DataFrame, with_x: pd.DataFrame, sign_note: str = "") -> list[str]:
    """The report's two rank tables (per kind, and the pooled method-X view) as Markdown lines;
    ``sign_note`` (e.g. "RMSE signs flipped: higher Z = better; ") goes before "rank 1 = best"."""
    return ["Mean Z-score per entry (Z per dataset, probe and embedding kind, averaged over both kinds; "
            f"{sign_note}rank 1 = best):", "", markdown(overall), "",
            "The paper's 'method-X' view: each informative embedding is an entry of its own (`-X`), Z per "
            "dataset and probe over all entries:", "", markdown(with_x), ""]


def write_tables(result) -> Path:
    """Write a benchmark result's ``raw.csv``, ``zscores.csv``, ``ranks.csv`` (column ``view``:
    "per kind" / "with -X") and ``summary.md`` into ``result.out_dir``; return that folder."""
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result.raw.to_csv(out / "raw.csv", index=False)
    result.z.to_csv(out / "zscores.csv", index=False)
    pd.concat([result.ranks.assign(view="per kind"), result.ranks_with_x.assign(view="with -X")]).to_csv(
        out / "ranks.csv", index=False)
    (out / "summary.md").write_text(result.markdown)
    return out


def _write(result: BenchmarkResult, probes) -> None:
    out = write_tables(result)
    from .viz import benchmark_figure, save_figure

    save_figure(benchmark_figure(result.raw, probes), out / "benchmark")
