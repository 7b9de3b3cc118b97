"""Every claim of the paper with a verdict from one repeatable run: ``cmim-lab claims``.

``cmim-lab claims --profile smoke|default|full [--search]`` trains what is missing (models,
evaluations and curves are cached), compares entries paired by seed
(:func:`cmim_lab.studies.verdicts.compare`) and writes into ``--out``:

* ``claims.json``  one row per claim and setting: ``claim`` (1-4), ``setting``, the
  ``statement`` checked, the entries compared (``a``, ``b``), ``dataset``, ``probe``,
  ``embedding``, ``budget``, the per-seed values of both sides and their differences,
  ``mean_diff``, the interval (``low``, ``high``), ``n_seeds``, ``margin`` and ``verdict``;
* ``claims.md``    the same as tables, one line reading each claim, the command, run time;
* ``budget_curve.png`` (or ``.html``)  claim 2 along one training run: the paired
  cMIM - MIM difference against optimiser steps, with its interval;
* ``curve.csv``, ``sweep-samples/`` and ``sweep-steps/`` (the batch-size sweeps' own reports),
  and with ``--search`` ``search.csv``.

The claims: 1. MIM vs VAE (clustering, active units, kNN, reconstruction) on
every dataset of the profile; 2. cMIM vs the matched MIM and vs the best MIM, at every
point of the budget curve (scores taken at several steps of one run per model, through the
trainer's step callbacks); 3. batch-size sensitivity (the gap between the best and worst
batch size, per seed) of cMIM against the matched MIM and against InfoNCE with and without
reconstruction, under the ``samples`` and ``steps`` protocols; 4. -X against the posterior
mean for every method and probe, and the decoder-layer finding (mu + the first decoder
layer against all layers). ``--search`` adds :mod:`cmim_lab.studies.search`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import data as data_module
from .. import methods
from ..config import CLASSIFICATION_PROBES, STEPS, EvalConfig, TrainConfig, check_list, check_seeds
from ..errors import check_choice
from ..infra.files import write_json, write_text
from ..infra.runtime import resolve_device
from ..profiles import PROFILE_NAMES
from .curves import run_curves
from .engine import EvalTask, grid, run_study
from .verdicts import BEST, claim_row, compare_entries, curve_reading, curve_verdicts

CLAIM4_METHODS = methods.names()  # claim 4 reads -X against mu for every method of the table of methods
SWEEP_VARIANTS = ("cmim[sum]", "cmim[normalised]", "mim[sum]", "mim[normalised]", "infonce[recon]", "infonce[pure]")
LAYER_METHODS = ("vae", "mim", "cmim")  # the methods whose decoder layers claim 4 ablates (a chosen subset)


@dataclass(frozen=True)
class ClaimsProfile:
    """The sizes of one claims run.

    ``dataset`` / ``n_train``: the data of claims 2-4 and claim 1's first dataset;
    ``more_datasets``: claim 1's other datasets, {name: (n_train, steps)}; the model
    (``hidden_sizes``, ``latent_dim``, ``batch_size``); ``curve_steps``: claim 2's budget
    curve, whose last step is the budget of every model of claims 1, 2 and 4; ``seeds``;
    ``probe_n_train`` (None: all training codes); claim 3's sweep (``sweep_n_train``,
    ``batch_sizes``, ``samples_budget`` samples seen per run, ``steps_budget`` steps per
    run); ``--search``'s grid (``search_temperatures``, ``search_weights``,
    ``search_latent_sizes``), its two budgets in steps (``search_budgets``) and the share of
    training images held out for validation (``validation_fraction``); ``margin``: the
    practical-significance margin of every verdict, in accuracy units."""

    dataset: str
    n_train: int | None
    more_datasets: dict
    hidden_sizes: tuple
    latent_dim: int
    batch_size: int
    curve_steps: tuple
    seeds: tuple
    probe_n_train: int | None
    sweep_n_train: int | None
    batch_sizes: tuple
    samples_budget: int
    steps_budget: int
    search_temperatures: tuple
    search_weights: tuple
    search_latent_sizes: tuple
    search_budgets: tuple
    validation_fraction: float = 0.1
    margin: float = 0.0
    train_fields: dict = field(default_factory=dict)  # more TrainConfig fields of every model (arch, likelihood)

    @property
    def budget(self) -> int:
        """Optimiser steps of every model of claims 1, 2 and 4 (the curve's last step)."""
        return max(self.curve_steps)

    def check(self) -> None:
        """Every setting checked before any work starts (``ValueError`` naming it): the
        curve's steps and the seeds, every model config, both sweeps against their batch
        sizes, the search grid and the validation fraction."""
        from .search import search_grid
        from .sweep import check_sweep

        check_seeds("seeds", self.seeds)
        check_list("curve_steps", self.curve_steps, STEPS, distinct=True)
        check_list("search_budgets", self.search_budgets, STEPS, min_len=2, max_len=2, distinct=True)
        base = self.base()
        for name, (n_train, steps) in self.more_datasets.items():
            self.base(name, n_train, steps)
        for fields in search_grid(self).values():
            base.replace(**fields)
        for protocol, budget in (("samples", self.samples_budget), ("steps", self.steps_budget)):
            check_sweep(
                list(SWEEP_VARIANTS),
                list(self.batch_sizes),
                list(self.seeds),
                protocol=protocol,
                budget=budget,
                lr_rule="sqrt",
            )
        if not isinstance(self.validation_fraction, float) or not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be a float in (0, 1), got {self.validation_fraction!r}")

    def base(self, dataset: str | None = None, n_train: int | None = None, steps: int | None = None) -> TrainConfig:
        """The :class:`TrainConfig` every model starts from (``cmim[sum]``, seed 0)."""
        return TrainConfig(
            dataset=dataset or self.dataset,
            n_train=self.n_train if dataset is None else n_train,
            hidden_sizes=self.hidden_sizes,
            latent_dim=self.latent_dim,
            batch_size=self.batch_size,
            max_steps=steps or self.budget,
            **self.train_fields,
        )


PROFILES = {
    # CI: the 8x8 digits, a 32-unit MLP, a few dozen steps; every claim row in about a minute
    "smoke": ClaimsProfile(
        dataset="digits",
        n_train=None,
        more_datasets={},
        hidden_sizes=(32,),
        latent_dim=4,
        batch_size=64,
        curve_steps=(10, 20, 40),
        seeds=(0, 1),
        probe_n_train=None,
        sweep_n_train=None,
        batch_sizes=(32, 64),
        samples_budget=1280,
        steps_budget=20,
        search_temperatures=(0.1, 0.5),
        search_weights=(1.0,),
        search_latent_sizes=(4,),
        search_budgets=(20, 40),
    ),
    # the setting: 20,000 Fashion-MNIST images, batch 128, the curve to 5,000 steps, 3 seeds
    "default": ClaimsProfile(
        dataset="fashion-mnist",
        n_train=20_000,
        more_datasets={"mnist-5k": (None, 1550)},
        hidden_sizes=(512, 512),
        latent_dim=16,
        batch_size=128,
        curve_steps=(200, 500, 1000, 2000, 5000),
        seeds=(0, 1, 2),
        probe_n_train=None,
        sweep_n_train=20_000,
        batch_sizes=(32, 128, 512),
        samples_budget=100_000,
        steps_budget=500,
        search_temperatures=(0.05, 0.1, 0.5),
        search_weights=(1.0, 10.0),
        search_latent_sizes=(16, 64),
        search_budgets=(500, 2000),
    ),
    # all 60,000 images and a longer curve (meant for a GPU)
    "full": ClaimsProfile(
        dataset="fashion-mnist",
        n_train=None,
        more_datasets={"mnist-5k": (None, 1550)},
        hidden_sizes=(512, 512),
        latent_dim=16,
        batch_size=128,
        curve_steps=(200, 500, 1000, 2000, 5000, 10000),
        seeds=(0, 1, 2),
        probe_n_train=None,
        sweep_n_train=20_000,
        batch_sizes=(16, 32, 64, 128, 256, 512, 1024),
        samples_budget=100_000,
        steps_budget=500,
        search_temperatures=(0.05, 0.1, 0.5, 1.0),
        search_weights=(1.0, 10.0, 100.0),
        search_latent_sizes=(16, 64),
        search_budgets=(1000, 5000),
    ),
}

STATEMENTS = {
    (1, "knn-cosine"): "MIM's codes classify better than the VAE's (kNN, cosine, on mu)",
    (1, "kmeans_nmi"): "MIM's codes cluster by class better than the VAE's (k-means NMI on mu)",
    (1, "active_units"): "MIM keeps more latent units active than the VAE (no posterior collapse)",
    (1, "recon_nll"): "MIM reconstructs at least as well as the VAE (test NLL, nats per image; lower is better)",
    (2, "knn-cosine"): "the contrastive term improves kNN (cosine) accuracy on mu",
    (2, "linear"): "the contrastive term improves the linear probe on mu",
    (2, "recon_nll"): "cMIM keeps reconstruction competitive (test NLL, nats per image; lower is better)",
    (3, None): "cMIM is less sensitive to the batch size (a smaller gap between its best and worst batch size, per "
    "seed; lower is better)",
    (4, None): "the informative embedding (-X) beats the posterior mean",
    (4, "layers"): "mu plus the first decoder layer beats mu plus all decoder layers (-X)",
}


@dataclass
class ClaimsResult:
    """``rows``: one dict per claim and setting (the rows of ``claims.json``); ``curve``: the
    budget curve's verdicts (:func:`cmim_lab.studies.verdicts.curve_verdicts`); ``search``: the search
    table (None without ``--search``); ``markdown``: ``claims.md``; ``files`` written."""

    rows: list[dict]
    curve: pd.DataFrame
    search: pd.DataFrame | None
    markdown: str
    seconds: float
    files: list[Path] = field(default_factory=list)


def run_claims(
    profile: str = "default",
    *,
    search: bool = False,
    out_dir=None,
    device="auto",
    progress: bool = True,
    log=None,
    command: str | None = None,
) -> ClaimsResult:
    """Run every claim of the profile (see the module docstring); write the reports into
    ``out_dir`` when given. ``log`` gets a line per model, evaluation and claim."""
    check_choice("profile", profile, PROFILE_NAMES)
    if not isinstance(search, bool):
        raise ValueError(f"search must be True or False, got {search!r}")
    resolve_device(device)
    p = PROFILES[profile]
    p.check()
    say = log or (lambda line: None)
    start = time.perf_counter()
    ds = data_module.load(p.dataset, n_train=p.n_train)  # every dataset loaded before any model trains
    others = {name: data_module.load(name, n_train=n_train) for name, (n_train, _) in p.more_datasets.items()}
    run = dict(device=device, progress=progress, log=log)
    times = {}

    t0 = time.perf_counter()
    say(f"claim 2: budget curve of mim and cmim under both conventions, steps {list(p.curve_steps)}")
    curve_rows, curve_table, rows = claim2_curve(p, ds, **run)
    times["claim 2 (budget curve)"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"claims 1 and 4: {', '.join(CLAIM4_METHODS)} at {p.budget} steps")
    study = run_study(
        grid(p.base(), CLAIM4_METHODS, seeds=p.seeds, reductions=["sum"]),
        ds,
        [EvalTask(ds.name, ds, EvalConfig(probe_n_train=p.probe_n_train))],
        **run,
    )
    rows = claim1_rows(study.rows, p, ds.name, f"{p.budget} steps") + rows
    rows += claim4_rows(study, ds, p, log=log)
    for name, (n_train, steps) in p.more_datasets.items():
        say(f"claim 1 on {name}: vae and mim at {steps} steps")
        other = others[name]
        st = run_study(
            grid(p.base(name, n_train, steps), ["vae", "mim"], seeds=p.seeds, reductions=["sum"]),
            other,
            [
                EvalTask(
                    other.name,
                    other,
                    EvalConfig(probe_n_train=p.probe_n_train, embeddings=("mean",), probes=("knn-cosine", "linear")),
                )
            ],
            **run,
        )
        rows = claim1_rows(st.rows, p, other.name, f"{steps} steps") + rows
    times["claims 1 and 4"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows += claim3_rows(p, out_dir, **run)
    times["claim 3 (batch sweeps)"] = time.perf_counter() - t0

    search_table = None
    if search:
        from .search import run_search

        t0 = time.perf_counter()
        search_table, search_rows = run_search(p, ds, **run)
        rows += search_rows
        times["search"] = time.perf_counter() - t0
    rows.sort(key=lambda r: r["claim"])
    seconds = time.perf_counter() - start
    text = report(rows, curve_table, search_table, profile, command, seconds, times, p)
    result = ClaimsResult(rows, curve_table, search_table, text, seconds)
    if out_dir:
        result.files = _write(result, curve_rows, Path(out_dir), profile, command)
    return result


def claim1_rows(rows: pd.DataFrame, p: ClaimsProfile, dataset: str, budget: str) -> list[dict]:
    """Claim 1 on one dataset: mim[sum] against vae[sum] on kNN (cosine), k-means NMI,
    active units and test reconstruction NLL, paired by seed."""
    out = []
    for metric, embedding in (("knn-cosine", "mean"), ("kmeans_nmi", ""), ("active_units", ""), ("recon_nll", "")):
        part = rows[(rows["metric"] == metric) & (rows["embedding"] == embedding)]
        if part.empty:
            continue
        v = compare_entries(part, "mim[sum]", "vae[sum]", margin=_margin(p, metric))
        out.append(
            claim_row(
                1,
                f"{dataset}, {metric}",
                v,
                statement=STATEMENTS[(1, metric)],
                dataset=dataset,
                probe=metric,
                embedding=embedding or "mean",
                budget=budget,
            )
        )
    return out


def claim2_curve(p: ClaimsProfile, ds, *, device="auto", progress=True, log=None):
    """Train mim and cmim under both conventions once per seed, scored at every curve step:
    (the curve's long rows, its verdicts, the claim-2 rows of ``claims.json``)."""
    entries = grid(p.base(), ["mim", "cmim"], seeds=p.seeds, reductions=["sum", "normalised"])
    cfg = EvalConfig(
        embeddings=("mean",), probes=("knn-cosine", "linear"), clustering=False, probe_n_train=p.probe_n_train
    )
    rows, _ = run_curves(entries, ds, p.curve_steps, eval_config=cfg, device=device, progress=progress, log=log)
    pairs = [
        ("cmim[normalised]", "mim[normalised]"),
        ("cmim[sum]", "mim[sum]"),
        ("cmim[normalised]", BEST),
        ("cmim[sum]", BEST),
    ]
    table = curve_verdicts(
        rows, pairs, metrics=("knn-cosine", "linear"), best_of=("mim[sum]", "mim[normalised]"), margin=p.margin
    )
    recon = curve_verdicts(rows[rows["step"] == p.budget], pairs[:2], metrics=("recon_nll",), embedding="", margin=0.0)
    out = []
    for r in pd.concat([table, recon], ignore_index=True).itertuples():
        out.append(
            claim_row(
                2,
                f"{ds.name}, {r.comparison}, {r.metric}, step {r.step}",
                r.result,
                statement=STATEMENTS[(2, r.metric)],
                dataset=ds.name,
                probe=r.metric,
                embedding="mean",
                budget=f"{r.step} steps",
            )
        )
    return rows, table, out


def claim3_rows(p: ClaimsProfile, out_dir=None, *, device="auto", progress=True, log=None) -> list[dict]:
    """Batch-size sensitivity under both protocols: each variant's gap between its best and
    worst batch size per seed (:func:`cmim_lab.studies.sweep.seed_gaps`), cMIM against the matched
    MIM and against InfoNCE with and without reconstruction (lower is better)."""
    from .sweep import run_batch_sweep, seed_gaps

    base = TrainConfig(dataset=p.dataset, n_train=p.sweep_n_train, hidden_sizes=p.hidden_sizes, latent_dim=p.latent_dim)
    pairs = [
        ("cmim[sum]", "mim[sum]"),
        ("cmim[normalised]", "mim[normalised]"),
        ("cmim[normalised]", "infonce[recon]"),
        ("cmim[normalised]", "infonce[pure]"),
        ("cmim[sum]", "infonce[recon]"),
        ("cmim[sum]", "infonce[pure]"),
    ]
    out = []
    for protocol, budget, unit in (("samples", p.samples_budget, "samples seen"), ("steps", p.steps_budget, "steps")):
        if log:
            log(
                f"claim 3: batch-size sweep, protocol {protocol}, budget {budget} {unit}, batch sizes "
                f"{list(p.batch_sizes)}"
            )
        sweep = run_batch_sweep(
            list(SWEEP_VARIANTS),
            list(p.batch_sizes),
            list(p.seeds),
            base=base,
            protocol=protocol,
            budget=budget,
            eval_config=EvalConfig(probe_n_train=p.probe_n_train),
            out_dir=Path(out_dir) / f"sweep-{protocol}" if out_dir else None,
            device=device,
            progress=progress,
            log=log,
        )
        for probe in ("knn-cosine", "linear"):
            gaps = seed_gaps(sweep.table, probe)
            for a, b in pairs:
                v = compare_entries(gaps, a, b, "gap", by="variant", higher_is_better=False, margin=p.margin)
                sizes = f"B = {min(p.batch_sizes)} to {max(p.batch_sizes)}"
                out.append(
                    claim_row(
                        3,
                        f"{p.dataset}, protocol {protocol}, {a} vs {b}, {probe}",
                        v,
                        statement=STATEMENTS[(3, None)],
                        dataset=p.dataset,
                        probe=f"{probe} gap",
                        embedding="mean",
                        budget=f"{budget} {unit} per run, {sizes}",
                    )
                )
    return out


def claim4_rows(study, ds, p: ClaimsProfile, *, log=None) -> list[dict]:
    """-X against mu for every model of the study and every probe (paired by seed, same model), and the layer
    finding: mu + the first decoder layer against -X (mu + all layers), for
    :data:`LAYER_METHODS` on the kNN (cosine) and linear probes."""
    from .experiments import embedding_ablation

    out, rows = [], study.rows
    for label in dict.fromkeys(e.label for e in study.entries):  # every model of the study, in entry order
        for probe in CLASSIFICATION_PROBES:
            part = rows[(rows["entry"] == label) & (rows["metric"] == probe)]
            if part.empty:
                continue
            v = compare_entries(
                part, "informative", "mean", by="embedding", margin=p.margin, names=(f"{label}-X", f"{label} mu")
            )
            out.append(
                claim_row(
                    4,
                    f"{ds.name}, {label}, {probe}",
                    v,
                    statement=STATEMENTS[(4, None)],
                    dataset=ds.name,
                    probe=probe,
                    embedding="informative vs mean",
                    budget=f"{p.budget} steps",
                )
            )
    variants = {"mu + layer 0": dict(kind="informative", layers=[0]), "-X (all layers)": dict(kind="informative")}
    for method in LAYER_METHODS:
        label = f"{method}[sum]"
        if not any(e.label == label for e in study.entries):  # a study without this method
            continue
        scores = []
        for seed in p.seeds:
            model = study.result(label, seed).model
            cfg = EvalConfig(probes=("knn-cosine", "linear"), probe_n_train=p.probe_n_train, seed=seed)
            scores.append(embedding_ablation(model, ds, variants, cfg).assign(seed=seed))
        table = pd.concat(scores, ignore_index=True)
        for probe in ("knn-cosine", "linear"):
            v = compare_entries(
                table,
                "mu + layer 0",
                "-X (all layers)",
                probe,
                by="embedding",
                margin=p.margin,
                names=(f"{label} mu + layer 0", f"{label}-X (all layers)"),
            )
            out.append(
                claim_row(
                    4,
                    f"{ds.name}, {label}, layers, {probe}",
                    v,
                    statement=STATEMENTS[(4, "layers")],
                    dataset=ds.name,
                    probe=probe,
                    embedding="informative (layer ablation)",
                    budget=f"{p.budget} steps",
                )
            )
        if log:
            log(f"claim 4: layer ablation of {label} done")
    return out


def _margin(p: ClaimsProfile, metric: str) -> float:
    """The profile's margin for accuracies; 0 for counts and nats (other units)."""
    return p.margin if metric in CLASSIFICATION_PROBES or metric.endswith("gap") else 0.0


def claim_readings(rows: list[dict]) -> dict[int, str]:
    """One line per claim: how many of its comparisons hold, reverse or stay within noise."""
    out = {}
    for claim in sorted({r["claim"] for r in rows}):
        mine = [r for r in rows if r["claim"] == claim]
        counts = {w: sum(r["verdict"] == w for r in mine) for w in ("holds", "reverses", "within noise")}
        none = sum(r["verdict"] is None for r in mine)
        parts = [f"{n} {w}" for w, n in counts.items() if n] + ([f"{none} from one seed"] if none else [])
        out[claim] = f"{len(mine)} comparisons: " + ", ".join(parts)
    return out


def report(
    rows,
    curve_table,
    search_table,
    profile,
    command,
    seconds,
    times,
    p: ClaimsProfile,
    *,
    title: str = "The paper's claims, checked",
) -> str:
    """``claims.md``: the command and run time, one line per claim, the table of every row,
    the budget curve's reading and (with ``--search``) the search table."""
    lines = [f"# {title}", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += [
        f"Profile **{profile}**: {p.dataset} ({p.n_train or 'all'} training images), MLP "
        f"{'-'.join(map(str, p.hidden_sizes))}, latent {p.latent_dim}, batch {p.batch_size}, budget "
        f"{p.budget} steps, seeds {list(p.seeds)}; probes fitted on {p.probe_n_train or 'all'} training codes, "
        f"scored on the test split. Verdicts: paired by seed, 95% t interval, margin {p.margin:g}; holds = "
        f"A better, reverses = B better, within noise = the interval straddles the margin. "
        f'"A better by" is A - B, or B - A where lower is better (gaps, reconstruction NLL).',
        "",
        f"Run time: {seconds / 60:.1f} min (" + ", ".join(f"{k} {v / 60:.1f}" for k, v in times.items()) + ")",
        "",
    ]
    readings = claim_readings(rows)
    lines += ["## Reading", ""] + [f"* **Claim {c}**: {text}" for c, text in readings.items()] + [""]
    for what in ("cmim[normalised] - mim[normalised]", "cmim[sum] - mim[sum]", "cmim[normalised] - best MIM"):
        part = curve_table[(curve_table["comparison"] == what) & (curve_table["metric"] == "knn-cosine")]
        if len(part):
            lines.append("* Budget curve, kNN-cos: " + curve_reading(dict(zip(part["step"], part["result"])), what))
    lines += ["", "## Every comparison", "", _table(rows), ""]
    if search_table is not None:
        lines += [
            "## Search: the best cMIM against the best MIM at equal budget",
            "",
            "Both sides tuned on the same grid, each side's best chosen on a validation split carved from the "
            "training images (kNN-cos, mean over seeds), then scored on the test split:",
            "",
            search_table.to_markdown(index=False, floatfmt=".4f"),
            "",
        ]
    return "\n".join(lines)


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows of ``claims.json`` as the table of ``claims.md``: claim, setting, the entries
    A and B, budget, both seed means, "A better by" (A - B; B - A where lower is better),
    the 95% interval, the number of seeds and the verdict word."""
    return pd.DataFrame(
        [
            {
                "claim": r["claim"],
                "setting": r["setting"],
                "A": r["a"],
                "B": r["b"],
                "budget": r["budget"],
                "A mean": _mean(r["a_per_seed"]),
                "B mean": _mean(r["b_per_seed"]),
                "A better by": r["mean_diff"],
                "interval": _interval(r),
                "n": r["n_seeds"],
                "verdict": r["verdict"] or "one seed: no verdict",
            }
            for r in rows
        ]
    )


def _table(rows: list[dict]) -> str:
    return rows_frame(rows).to_markdown(index=False, floatfmt=".4f")


def search_profile(
    dataset: str,
    *,
    seeds,
    temperatures,
    weights,
    latent_sizes,
    budgets,
    latent_dim: int = 16,
    probe_n_train: int | None = None,
    margin: float = 0.0,
) -> ClaimsProfile:
    """A profile for :func:`cmim_lab.studies.search.run_search` with a notebook's own sizes:
    its data set, seeds, grid (``temperatures`` x ``weights`` x ``latent_sizes``, both
    conventions) and two ``budgets`` in steps; the model and batch size of the ``default``
    profile. Checked (``ValueError`` naming the bad setting) before anything trains."""
    p = dataclasses.replace(
        PROFILES["default"],
        dataset=dataset,
        n_train=None,
        more_datasets={},
        latent_dim=latent_dim,
        seeds=tuple(seeds),
        probe_n_train=probe_n_train,
        search_temperatures=tuple(temperatures),
        search_weights=tuple(weights),
        search_latent_sizes=tuple(latent_sizes),
        search_budgets=tuple(budgets),
        curve_steps=(max(budgets) if len(budgets) else 1,),
        margin=margin,
    )
    p.check()
    return p


def _mean(values: dict) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


def _interval(r: dict) -> str:
    return "-" if r["low"] is None else f"[{r['low']:+.4f}, {r['high']:+.4f}]"


def _write(result: ClaimsResult, curve_rows: pd.DataFrame, out: Path, profile: str, command) -> list[Path]:
    from ..notebook.viz import budget_curve_figure, save_figure

    files = [
        write_json(
            out / "claims.json",
            {"profile": profile, "command": command, "seconds": result.seconds, "rows": result.rows},
        ),
        write_text(out / "claims.md", result.markdown),
        write_text(out / "curve.csv", curve_rows.to_csv(index=False)),
    ]
    if result.search is not None:
        files.append(write_text(out / "search.csv", result.search.to_csv(index=False)))
    files += save_figure(budget_curve_figure(result.curve.drop(columns=["result"])), out / "budget_curve", width=1100)
    return files


def load_rows(path) -> list[dict]:
    """The rows of a ``claims.json`` written by :func:`run_claims`."""
    return json.loads(Path(path).read_text())["rows"]
