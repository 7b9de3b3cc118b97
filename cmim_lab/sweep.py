"""Batch-size sensitivity under a stated protocol.

Protocols (``protocol=``):

* ``samples`` -- every run sees the same number of training samples (``budget``), so a
  larger batch makes fewer optimiser steps; the learning rate follows ``lr_rule``
  (``sqrt``: lr = base_lr * sqrt(B / 128), the usual rule for Adam; ``linear``;
  ``constant``). The default protocol.
* ``steps`` -- every run makes ``budget`` optimiser steps (compute grows with B).
* ``epochs`` -- ``budget`` epochs at the base learning rate: the classic sweep, which
  mostly measures the number of updates (1,250 per epoch at B=16 on 20k images, 19 at
  B=1024).

Variants: ``cmim``, ``mim``, ``vae``, ``cvae`` each run under both reduction conventions;
``infonce`` runs with reconstruction (``infonce[recon]``) and as pure SimCLR
(``infonce[pure]``: reconstruction weight 0, a 128-d projection head). A single variant
can be asked for by its label, e.g. ``cmim[normalised]``.

Scores: kNN (cosine) and linear probes on the posterior mean. The loss of every run is
stored beside its reference: log(2B - 1) for NT-Xent, log 2 for the contrastive term.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import data as data_module
from .config import REDUCTIONS, EvalConfig, TrainConfig, expand_entries
from .errors import check_choice, check_positive
from .files import write_text
from .study import Entry, EvalTask, run_study

PROTOCOLS = ("samples", "steps", "epochs")
LR_RULES = ("sqrt", "linear", "constant")
DEFAULT_BUDGET = {"samples": 100_000, "steps": 500, "epochs": 5}
REFERENCE_BATCH = 128
SWEEP_PROBES = ("knn-cosine", "linear")
# a bare method name in a sweep stands for these variants
BARE = {"infonce": ("infonce[recon]", "infonce[pure]")}


def expand_variants(methods) -> dict[str, dict]:
    """Method names or variant labels -> {label: TrainConfig fields}: a bare method runs
    under both reductions (``infonce``: with reconstruction and as pure SimCLR)."""
    labels = [v for m in methods for v in BARE.get(m, (m,))]
    return expand_entries(labels, REDUCTIONS)


def learning_rate(base_lr: float, batch_size: int, rule: str) -> float:
    """The learning rate at ``batch_size`` under ``rule`` (reference batch 128)."""
    check_choice("lr rule", rule, LR_RULES)
    ratio = batch_size / REFERENCE_BATCH
    return base_lr * {"sqrt": math.sqrt(ratio), "linear": ratio, "constant": 1.0}[rule]


def run_config(base: TrainConfig, fields: dict, *, batch_size: int, seed: int, protocol: str, budget: int,
               lr_rule: str, n_available: int) -> TrainConfig:
    """The :class:`TrainConfig` of one sweep run: ``base`` with the variant's ``fields``, the
    batch size, seed, and the steps and learning rate the protocol gives (``base.lr`` is the
    learning rate at batch 128)."""
    check_choice("protocol", protocol, PROTOCOLS)
    check_positive("budget", budget, integer=True)
    if protocol == "epochs":
        epochs, max_steps, lr = budget, None, base.lr
    else:
        steps = budget // batch_size if protocol == "samples" else budget
        if steps < 1:
            raise ValueError(f"a budget of {budget} samples is less than one batch of {batch_size}")
        epochs, max_steps, lr = 1, steps, learning_rate(base.lr, batch_size, lr_rule)
    if batch_size > n_available:
        raise ValueError(f"batch size {batch_size} exceeds the {n_available} training samples")
    return base.replace(**fields, batch_size=batch_size, seed=seed, epochs=epochs, max_steps=max_steps, lr=lr)


@dataclass
class SweepResult:
    table: pd.DataFrame
    summary: pd.DataFrame
    out_dir: Path | None
    markdown: str


def run_batch_sweep(methods, batch_sizes, seeds, *, base: TrainConfig | None = None, protocol: str = "samples",
                    budget: int | None = None, lr_rule: str = "sqrt", eval_config: EvalConfig | None = None,
                    out_dir=None, device="auto", progress: bool = True, log=None, command: str | None = None,
                    callback=None) -> SweepResult:
    """Train every (variant, batch size, seed), probe it, and summarise the sensitivity.

    ``base``: the :class:`TrainConfig` every run starts from (dataset, ``n_train``, model
    size; ``lr`` is the learning rate at batch 128). ``eval_config``: probe settings (the
    sweep probes :data:`SWEEP_PROBES` on the posterior mean). Models are cached like any
    other, so an interrupted sweep resumes. ``callback(row)`` is called after each run.
    """
    base = base or TrainConfig(n_train=20_000)
    check_choice("protocol", protocol, PROTOCOLS)
    budget = budget or DEFAULT_BUDGET[protocol]
    variants = expand_variants(methods)
    data = data_module.load(base.dataset, n_train=base.n_train, seed=base.data_seed)
    entries = [Entry(label, run_config(base, fields, batch_size=b, seed=seed, protocol=protocol, budget=budget,
                                       lr_rule=lr_rule, n_available=len(data.x_train)),
                     {"variant": label, "batch_size": b})
               for label, fields in variants.items() for b in batch_sizes for seed in seeds]
    cfg = (eval_config or EvalConfig()).replace(embeddings=("mean",), probes=SWEEP_PROBES, clustering=False)
    rows = []

    def collect(entry, result, evaluations):
        rows.append(_row(entry, result, evaluations[data.name], protocol, budget))
        if callback:
            callback(rows[-1])

    run_study(entries, data, [EvalTask(data.name, data, cfg)], device=device, progress=progress, log=log,
              callback=collect)
    table = pd.DataFrame(rows)
    summary = sensitivity(table)
    text = _report(table, summary, protocol, budget, lr_rule, base.lr, base.dataset, base.n_train, command)
    result = SweepResult(table, summary, Path(out_dir) if out_dir else None, text)
    if out_dir:
        out = Path(out_dir)
        write_text(out / "sweep.csv", table.to_csv(index=False))
        write_text(out / "sensitivity.csv", summary.to_csv(index=False))
        write_text(out / "summary.md", text)
        from .viz import save_figure, sweep_figure

        save_figure(sweep_figure(table, title=f"{base.dataset}, protocol {protocol} (budget {budget}, lr rule "
                                               f"{lr_rule if protocol != 'epochs' else 'constant'})"),
                    out / "batch_sweep")
    return result


def _row(entry: Entry, result, ev, protocol: str, budget: int) -> dict:
    cfg, last = entry.config, result.history.iloc[-1]
    b = cfg.batch_size
    row = {"variant": entry.label, "method": cfg.method, "reduction": cfg.reduction, "batch_size": b,
           "seed": cfg.seed, "protocol": protocol, "budget": budget, "lr": cfg.lr, "steps": int(last["step"]),
           "samples_seen": int(last["step"]) * b, **{p: ev.probes["mean"][p] for p in SWEEP_PROBES},
           "loss": float(last["loss"]), "seconds": float(result.history["seconds"].sum())}
    if "nt_xent" in last:
        row["nt_xent"] = float(last["nt_xent"])
        row["nt_xent_collapsed"] = math.log(2 * b - 1)
    if "contrastive" in last:
        row["contrastive"] = float(last["contrastive"])
    return row


def sensitivity(table: pd.DataFrame) -> pd.DataFrame:
    """Per variant and probe: best and worst seed-mean accuracy over batch sizes, their gap
    (the batch-size sensitivity), and the largest seed std (the noise floor to compare with)."""
    out = []
    for (variant, probe), block in table.melt(id_vars=["variant", "batch_size", "seed"], value_vars=list(SWEEP_PROBES),
                                              var_name="probe").groupby(["variant", "probe"]):
        stats = block.groupby("batch_size")["value"].agg(["mean", "std"])
        out.append({"variant": variant, "probe": probe, "best": stats["mean"].max(),
                    "best_batch": int(stats["mean"].idxmax()), "worst": stats["mean"].min(),
                    "worst_batch": int(stats["mean"].idxmin()), "gap": stats["mean"].max() - stats["mean"].min(),
                    "max_seed_std": float(stats["std"].fillna(0).max())})
    return pd.DataFrame(out).sort_values(["probe", "gap"]).reset_index(drop=True)


def _report(table, summary, protocol, budget, lr_rule, base_lr, dataset, n_train, command) -> str:
    lines = ["# Batch-size sweep", ""]
    if command:
        lines += ["```", command, "```", ""]
    rule = "constant lr" if protocol == "epochs" else f"lr rule {lr_rule} (base lr {base_lr} at B=128)"
    lines += [f"Dataset {dataset} (n_train={n_train}), protocol **{protocol}**, budget {budget}, {rule}; "
              f"probes on the posterior mean.", ""]
    wide = table.groupby(["variant", "batch_size"])[list(SWEEP_PROBES)].agg(["mean", "std"])
    wide.columns = [f"{p} {s}" for p, s in wide.columns]
    lines += ["Accuracy per batch size (mean and std over seeds):", "", wide.reset_index().to_markdown(
        index=False, floatfmt=".3f"), ""]
    lines += ["Sensitivity: gap between the best and worst batch size (seed means), beside the largest seed "
              "std:", "", summary.to_markdown(index=False, floatfmt=".3f"), ""]
    if "nt_xent" in table:
        nce = table.dropna(subset=["nt_xent"]).groupby(["variant", "batch_size"])[["nt_xent", "nt_xent_collapsed"]].mean()
        lines += ["Final NT-Xent beside its collapsed-codes value log(2B-1):", "",
                  nce.reset_index().to_markdown(index=False, floatfmt=".3f"), ""]
    return "\n".join(lines)
