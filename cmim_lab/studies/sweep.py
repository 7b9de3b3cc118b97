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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import data as data_module
from ..config import (
    BATCH,
    EPOCHS,
    MAX_SAMPLES,
    MAX_STEPS,
    REDUCTIONS,
    STEPS,
    Bounds,
    EvalConfig,
    TrainConfig,
    check_list,
    check_seeds,
    check_text,
    expand_entries,
)
from ..errors import check_choice
from ..infra.files import write_text
from .engine import Entry, EvalTask, run_study
from .summary import notes_section

PROTOCOLS = ("samples", "steps", "epochs")
LR_RULES = ("sqrt", "linear", "constant")
DEFAULT_BUDGET = {"samples": 100_000, "steps": 500, "epochs": 5}
# the valid budget of each protocol: samples seen, optimiser steps, epochs
BUDGET_BOUNDS = {"samples": Bounds(int, 1, MAX_SAMPLES), "steps": STEPS, "epochs": EPOCHS}
REFERENCE_BATCH = 128
SWEEP_PROBES = ("knn-cosine", "linear")
# a bare method name in a sweep stands for these variants
BARE = {"infonce": ("infonce[recon]", "infonce[pure]")}


def expand_variants(methods) -> dict[str, dict]:
    """Method names or variant labels -> {label: TrainConfig fields}: a bare method runs
    under both reductions (``infonce``: with reconstruction and as pure SimCLR)."""
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)) or not methods:
        raise ValueError(
            f"methods must be a non-empty list of methods or variants (e.g. ['cmim', 'infonce[pure]']), got {methods!r}"
        )
    for m in methods:
        check_text("each of methods", m)
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must be distinct, got {list(methods)}")
    labels = [v for m in methods for v in BARE.get(m, (m,))]
    return expand_entries(labels, REDUCTIONS)


def learning_rate(base_lr: float, batch_size: int, rule: str) -> float:
    """The learning rate at ``batch_size`` under ``rule`` (reference batch 128)."""
    check_choice("lr rule", rule, LR_RULES)
    ratio = batch_size / REFERENCE_BATCH
    return base_lr * {"sqrt": math.sqrt(ratio), "linear": ratio, "constant": 1.0}[rule]


def run_config(
    base: TrainConfig,
    fields: dict,
    *,
    batch_size: int,
    seed: int,
    protocol: str,
    budget: int,
    lr_rule: str,
    n_available: int,
) -> TrainConfig:
    """The :class:`TrainConfig` of one sweep run: ``base`` with the variant's ``fields``, the
    batch size, seed, and the steps and learning rate the protocol gives (``base.lr`` is the
    learning rate at batch 128)."""
    budget = check_budget(protocol, budget)
    batch_size = BATCH.check("batch_size", batch_size)
    if protocol == "epochs":
        epochs, max_steps, lr = budget, None, base.lr
    else:
        steps = _steps(protocol, budget, batch_size)
        epochs, max_steps, lr = 1, steps, learning_rate(base.lr, batch_size, lr_rule)
    if batch_size > n_available:
        raise ValueError(f"batch size {batch_size} exceeds the {n_available} training samples")
    return base.replace(**fields, batch_size=batch_size, seed=seed, epochs=epochs, max_steps=max_steps, lr=lr)


def check_budget(protocol: str, budget) -> int:
    """``budget`` if valid for ``protocol`` (:data:`BUDGET_BOUNDS`); ``ValueError`` naming
    the protocol, the value and the valid range otherwise."""
    check_choice("protocol", protocol, PROTOCOLS)
    unit = {"samples": "samples seen", "steps": "optimiser steps", "epochs": "epochs"}[protocol]
    return BUDGET_BOUNDS[protocol].check(f"budget ({unit} per run)", budget)


def _steps(protocol: str, budget: int, batch_size: int) -> int:
    """Optimiser steps of one run under the ``samples`` or ``steps`` protocol (>= 1, bounded)."""
    steps = budget // batch_size if protocol == "samples" else budget
    if steps < 1:
        raise ValueError(
            f"budget {budget} samples is less than one batch of {batch_size} (batch_sizes); "
            f"give a budget of at least {batch_size} samples or smaller batch sizes"
        )
    if steps > MAX_STEPS:
        raise ValueError(
            f"budget {budget} samples at batch size {batch_size} makes {steps} optimiser steps, more "
            f"than {MAX_STEPS}; give a smaller budget or larger batch sizes"
        )
    return steps


def check_sweep(methods, batch_sizes, seeds, *, protocol: str, budget, lr_rule: str) -> tuple[dict, tuple, tuple, int]:
    """Validate a sweep's arguments before any work: (variants {label: TrainConfig fields},
    batch sizes, seeds, budget) -- the budget is the protocol's default when None.
    ``ValueError`` naming the argument, the bad value and what is valid otherwise."""
    check_choice("protocol", protocol, PROTOCOLS)
    check_choice("lr rule", lr_rule, LR_RULES)
    budget = DEFAULT_BUDGET[protocol] if budget is None else check_budget(protocol, budget)
    batch_sizes = check_list("batch_sizes", batch_sizes, BATCH, distinct=True)
    seeds = check_seeds("seeds", seeds)
    variants = expand_variants(methods)
    if protocol != "epochs":
        for b in batch_sizes:
            _steps(protocol, budget, b)
    return variants, batch_sizes, seeds, budget


@dataclass
class SweepResult:
    table: pd.DataFrame
    summary: pd.DataFrame
    out_dir: Path | None
    markdown: str
    files: list[Path] = field(default_factory=list)  # what was written into out_dir (the figure: .png or .html)


def run_batch_sweep(
    methods,
    batch_sizes,
    seeds,
    *,
    base: TrainConfig | None = None,
    protocol: str = "samples",
    budget: int | None = None,
    lr_rule: str = "sqrt",
    eval_config: EvalConfig | None = None,
    out_dir=None,
    device="auto",
    progress: bool = True,
    log=None,
    command: str | None = None,
    callback=None,
) -> SweepResult:
    """Train every (variant, batch size, seed), probe it, and summarise the sensitivity.

    ``methods``: methods or variant labels; ``batch_sizes`` and ``seeds``: distinct
    integers; ``budget``: per run, in the protocol's unit (None: :data:`DEFAULT_BUDGET`).
    Every argument is checked (:func:`check_sweep`) before any data is loaded. ``base``: the
    :class:`TrainConfig` every run starts from (dataset, ``n_train``, model
    size; ``lr`` is the learning rate at batch 128). ``eval_config``: probe settings (the
    sweep probes :data:`SWEEP_PROBES` on the posterior mean). Models are cached like any
    other, so an interrupted sweep resumes. ``callback(row)`` is called after each run.
    A run whose training diverges (a large batch's learning rate, say) does not stop the
    sweep: its row has no scores (NaN) and a ``note`` (``loss is NaN at step N ...``), and
    ``summary.md`` lists it.
    """
    base = TrainConfig(n_train=20_000) if base is None else base
    if not isinstance(base, TrainConfig):
        raise ValueError(f"base must be a TrainConfig, got {type(base).__name__}")
    if eval_config is not None and not isinstance(eval_config, EvalConfig):
        raise ValueError(f"eval_config must be an EvalConfig or None, got {type(eval_config).__name__}")
    variants, batch_sizes, seeds, budget = check_sweep(
        methods, batch_sizes, seeds, protocol=protocol, budget=budget, lr_rule=lr_rule
    )
    data = data_module.load(base.dataset, n_train=base.n_train, seed=base.data_seed)
    entries = [
        Entry(
            label,
            run_config(
                base,
                fields,
                batch_size=b,
                seed=seed,
                protocol=protocol,
                budget=budget,
                lr_rule=lr_rule,
                n_available=len(data.x_train),
            ),
            {"variant": label, "batch_size": b},
        )
        for label, fields in variants.items()
        for b in batch_sizes
        for seed in seeds
    ]
    cfg = (eval_config or EvalConfig()).replace(embeddings=("mean",), probes=SWEEP_PROBES, clustering=False)
    rows = []

    def collect(entry, result, evaluations):
        rows.append(_row(entry, result, evaluations[data.name], protocol, budget))
        if callback:
            callback(rows[-1])

    study = run_study(
        entries, data, [EvalTask(data.name, data, cfg)], device=device, progress=progress, log=log, callback=collect
    )
    rows += [
        _diverged_row(entry, train, protocol, budget)
        for entry, train in zip(entries, study.training.to_dict("records"))
        if train["diverged"]
    ]
    table = pd.DataFrame(rows)
    summary = sensitivity(table)
    notes = notes_section(study.training)  # diverged runs (rows without scores) and constant codes
    text = _report(table, summary, protocol, budget, lr_rule, base.lr, base.dataset, base.n_train, command)
    text += "\n" + "\n".join(notes) if notes else ""
    result = SweepResult(table, summary, Path(out_dir) if out_dir else None, text)
    if out_dir:
        out = Path(out_dir)
        write_text(out / "sweep.csv", table.to_csv(index=False))
        write_text(out / "sensitivity.csv", summary.to_csv(index=False))
        write_text(out / "summary.md", text)
        from ..notebook.viz import save_figure, sweep_figure

        figure = save_figure(
            sweep_figure(
                table,
                title=f"{base.dataset}, protocol {protocol} (budget {budget}, lr "
                f"rule {lr_rule if protocol != 'epochs' else 'constant'})",
            ),
            out / "batch_sweep",
        )
        result.files = [out / "sweep.csv", out / "sensitivity.csv", out / "summary.md", *figure]
    return result


def _diverged_row(entry: Entry, train: dict, protocol: str, budget: int) -> dict:
    """The table row of a run whose training diverged: no scores (NaN), its ``note``."""
    cfg = entry.config
    return {
        "variant": entry.label,
        "method": cfg.method,
        "reduction": cfg.reduction,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "protocol": protocol,
        "budget": budget,
        "lr": cfg.lr,
        "steps": train["steps"],
        **{p: float("nan") for p in SWEEP_PROBES},
        "note": train["note"],
    }


def _row(entry: Entry, result, ev, protocol: str, budget: int) -> dict:
    cfg, last = entry.config, result.history.iloc[-1]
    b = cfg.batch_size
    row = {
        "variant": entry.label,
        "method": cfg.method,
        "reduction": cfg.reduction,
        "batch_size": b,
        "seed": cfg.seed,
        "protocol": protocol,
        "budget": budget,
        "lr": cfg.lr,
        "steps": int(last["step"]),
        "samples_seen": int(last["step"]) * b,
        **{p: ev.probes["mean"][p] for p in SWEEP_PROBES},
        "loss": float(last["loss"]),
        "seconds": float(result.history["seconds"].sum()),
    }
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
    for (variant, probe), block in table.melt(
        id_vars=["variant", "batch_size", "seed"], value_vars=list(SWEEP_PROBES), var_name="probe"
    ).groupby(["variant", "probe"]):
        stats = block.groupby("batch_size")["value"].agg(["mean", "std"])
        out.append(
            {
                "variant": variant,
                "probe": probe,
                "best": stats["mean"].max(),
                "best_batch": int(stats["mean"].idxmax()),
                "worst": stats["mean"].min(),
                "worst_batch": int(stats["mean"].idxmin()),
                "gap": stats["mean"].max() - stats["mean"].min(),
                "max_seed_std": float(stats["std"].fillna(0).max()),
            }
        )
    return pd.DataFrame(out).sort_values(["probe", "gap"]).reset_index(drop=True)


def seed_gaps(table: pd.DataFrame, probe: str = "knn-cosine") -> pd.DataFrame:
    """The batch-size sensitivity of every variant *per seed*: for each (variant, seed), the
    gap between its best and worst accuracy over the batch sizes (``probe``, in accuracy
    units). One row per (variant, seed) with ``gap``; the paired comparisons of claim 3
    (:func:`cmim_lab.studies.verdicts.compare`, lower is better) pair these gaps by seed."""
    if probe not in table.columns:
        raise ValueError(f"probe {probe!r} is not in the sweep table; probes: {list(SWEEP_PROBES)}")
    gaps = table.groupby(["variant", "seed"])[probe].agg(lambda s: s.max() - s.min()).rename("gap")
    return gaps.reset_index()


def _report(table, summary, protocol, budget, lr_rule, base_lr, dataset, n_train, command) -> str:
    lines = ["# Batch-size sweep", ""]
    if command:
        lines += ["```", command, "```", ""]
    rule = "constant lr" if protocol == "epochs" else f"lr rule {lr_rule} (base lr {base_lr} at B=128)"
    lines += [
        f"Dataset {dataset} (n_train={n_train}), protocol **{protocol}**, budget {budget}, {rule}; "
        f"probes on the posterior mean.",
        "",
    ]
    wide = table.groupby(["variant", "batch_size"])[list(SWEEP_PROBES)].agg(["mean", "std"])
    wide.columns = [f"{p} {s}" for p, s in wide.columns]
    lines += [
        "Accuracy per batch size (mean and std over seeds):",
        "",
        wide.reset_index().to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    lines += [
        "Sensitivity: gap between the best and worst batch size (seed means), beside the largest seed std:",
        "",
        summary.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    if "nt_xent" in table:
        nce = (
            table.dropna(subset=["nt_xent"]).groupby(["variant", "batch_size"])[["nt_xent", "nt_xent_collapsed"]].mean()
        )
        lines += [
            "Final NT-Xent beside its collapsed-codes value log(2B-1):",
            "",
            nce.reset_index().to_markdown(index=False, floatfmt=".3f"),
            "",
        ]
    return "\n".join(lines)
