"""``cmim-lab claims --search``: does any setting favour cMIM, when both sides are tuned fairly?

Both sides are tuned on the same grid -- for cMIM: convention x temperature x weight x
latent size; for MIM: convention x latent size -- at two training budgets (two points of
one run per model, :func:`cmim_lab.studies.curves.run_curves`). Each side's best setting is chosen
on a **validation split carved from the training images** (never the test split): the
models train on the rest, probes are fitted on those training codes and scored on the
held-out images; the chosen settings are then scored on the test split and compared paired
by seed (:func:`cmim_lab.studies.verdicts.compare`). The answer is a table and one row per budget and
probe in ``claims.json`` (claim 2, setting ``search, ...``), whichever way it falls.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd

from ..config import EvalConfig
from .curves import run_curves
from .engine import Entry, EvalTask
from .verdicts import claim_row, compare_entries

SELECTION_PROBE = "knn-cosine"


def validation_split(data, fraction: float, seed: int = 0):
    """Carve a stratified validation split out of ``data``'s training split.

    Returns (``validation``, ``test``): two datasets with the same training part (the
    remaining ``1 - fraction`` of the training samples); ``validation``'s test split is the
    held-out part, ``test``'s is ``data``'s own test split. Both keep ``data``'s name (the
    models' cache keys cover the data's content, so they never mix with models trained on
    the whole split)."""
    if isinstance(fraction, bool) or not isinstance(fraction, float) or not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be a float in (0, 1), e.g. 0.1, got {fraction!r}")
    from sklearn.model_selection import train_test_split

    y = data.y_train.cpu().numpy()
    n_classes = len(np.unique(y))
    n_val = int(round(fraction * len(y)))
    if n_val < n_classes or len(y) - n_val < n_classes:
        raise ValueError(
            f"validation fraction {fraction} of {len(y)} training samples leaves {n_val} for validation; "
            f"both parts need at least one sample of each of the {n_classes} classes"
        )
    fit, val = train_test_split(np.arange(len(y)), test_size=n_val, stratify=y, random_state=seed)
    fit, val = np.sort(fit), np.sort(val)
    note = f"training split minus a stratified {fraction:.0%} validation split (seed {seed})"
    info = {**data.info, "n_train": len(fit), "validation": note}
    validation = dataclasses.replace(
        data,
        x_train=data.x_train[fit],
        y_train=data.y_train[fit],
        x_test=data.x_train[val],
        y_test=data.y_train[val],
        info={**info, "n_test": len(val), "test": "the validation split"},
    )
    test = dataclasses.replace(data, x_train=data.x_train[fit], y_train=data.y_train[fit], info=info)
    return validation, test


def search_grid(p) -> dict[str, dict]:
    """{label: TrainConfig fields} of both sides: every cMIM setting (convention x
    temperature x weight x latent size) and every MIM setting (convention x latent size)."""
    grid = {}
    for r, t, w, d in itertools.product(
        ("sum", "normalised"), p.search_temperatures, p.search_weights, p.search_latent_sizes
    ):
        grid[f"cmim[{r}] tau={t:g} w={w:g} d={d}"] = dict(
            method="cmim", reduction=r, temperature=t, contrastive_weight=w, latent_dim=d
        )
    for r, d in itertools.product(("sum", "normalised"), p.search_latent_sizes):
        grid[f"mim[{r}] d={d}"] = dict(method="mim", reduction=r, latent_dim=d)
    return grid


def run_search(p, data, *, device="auto", progress: bool = True, log=None) -> tuple[pd.DataFrame, list[dict]]:
    """Tune both sides (:func:`search_grid`) at ``p.search_budgets`` steps and compare the best
    of each at equal budget: (the table of every setting's validation and test scores with
    the chosen ones marked, the claim-2 rows of ``claims.json``)."""
    validation, test = validation_split(data, p.validation_fraction)
    base = p.base().replace(
        n_train=len(validation.x_train),
        max_steps=max(p.search_budgets),
        extra={"train_split": validation.info["validation"]},
    )
    entries = [
        Entry(label, base.replace(**fields, seed=seed), {"side": fields["method"]})
        for label, fields in search_grid(p).items()
        for seed in p.seeds
    ]
    cfg = EvalConfig(
        embeddings=("mean",), probes=(SELECTION_PROBE, "linear"), clustering=False, probe_n_train=p.probe_n_train
    )
    tasks = [EvalTask("validation", validation), EvalTask("test", test)]
    if log:
        log(
            f"search: {len(entries) // len(p.seeds)} settings x {len(p.seeds)} seeds, budgets {list(p.search_budgets)} "
            f"steps, validation on {len(validation.y_test)} held-out training images"
        )
    rows, _ = run_curves(entries, validation, p.search_budgets, tasks, cfg, device=device, progress=progress, log=log)
    rows = rows[rows["embedding"] == "mean"]
    means = rows.pivot_table(
        index=["step", "side", "entry"], columns=["dataset", "metric"], values="value", aggfunc="mean"
    )
    means.columns = [f"{task} {metric}" for task, metric in means.columns]
    table = means.reset_index()
    key = f"validation {SELECTION_PROBE}"
    table["chosen"] = False  # one setting per side and budget (the first of any tie)
    table.loc[table.groupby(["step", "side"])[key].idxmax(), "chosen"] = True
    out = []
    for step in sorted(p.search_budgets):
        chosen = table[(table["step"] == step) & table["chosen"]].set_index("side")["entry"]
        scored = rows[(rows["step"] == step) & (rows["dataset"] == "test")]
        for probe in (SELECTION_PROBE, "linear"):
            v = compare_entries(
                scored[scored["metric"] == probe],
                chosen["cmim"],
                chosen["mim"],
                margin=p.margin,
                names=(f"best cMIM: {chosen['cmim']}", f"best MIM: {chosen['mim']}"),
            )
            out.append(
                claim_row(
                    2,
                    f"{data.name}, search, best cMIM vs best MIM, {probe}, step {step}",
                    v,
                    statement="tuned fairly (same grid, chosen on validation), the best cMIM beats the best MIM",
                    dataset=data.name,
                    probe=probe,
                    embedding="mean",
                    budget=f"{step} steps",
                )
            )
    return table.sort_values(["step", "side", key], ascending=[True, True, False]), out


def search_reading(rows: list[dict], probe: str = SELECTION_PROBE) -> str:
    """One sentence on the search's ``claims.json`` rows (:func:`run_search`) for ``probe``:
    per budget, the best cMIM against the best MIM on the test split, in points, with the
    95% interval over seeds and the verdict word (one seed: no interval and no verdict)."""
    mine = sorted(
        (r for r in rows if r["probe"] == probe and "search" in r["setting"]), key=lambda r: int(r["budget"].split()[0])
    )
    if not mine:
        raise ValueError(
            f"no search rows for probe {probe!r}; the rows hold {sorted({r['probe'] for r in rows}) or 'nothing'}"
        )
    parts = []
    for r in mine:
        a, b = (name.split(": ", 1)[-1] for name in (r["a"], r["b"]))
        diff = f"{100 * r['mean_diff']:+.1f} points"
        spread = f" [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}]" if r["low"] is not None else ""
        parts.append(
            f"at {r['budget']} the best cMIM ({a}) against the best MIM ({b}): {diff}{spread}, "
            f"{r['verdict'] or 'one seed, no verdict'}"
        )
    return f"Tuned fairly ({probe}, test split): " + "; ".join(parts) + "."
