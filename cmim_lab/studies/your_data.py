"""Your data, your verdict: the paper's claims, with verdicts, on a researcher's own dataset.

:func:`run` takes a registered dataset's name, a bundled table (``wine``) or a path
(:func:`cmim_lab.data.files.resolve_dataset`: ``.npz``, ``.csv`` / ``.parquet`` with a
``label`` column, a folder of images in one sub-folder per class), chooses the model by the
kind of data (real-valued tables: an MLP with a Gaussian likelihood; images: the registered
defaults, Bernoulli), prints the plan -- models to train, how many are cached, and a time
estimate from a short warm-up measured on this machine -- and then (unless ``dry_run``)
computes the same verdicts as ``cmim-lab claims`` (:mod:`cmim_lab.studies.claims`, whose
helpers it reuses), paired by seed with 95% intervals:

* claim 1: MIM vs VAE (kNN, k-means NMI, active units, reconstruction NLL);
* claim 2: cMIM vs MIM under both conventions along a budget curve (and vs the best MIM),
  and cMIM vs InfoNCE with and without reconstruction (does the contrastive term of cMIM
  beat classic contrastive learning?) on every probe;
* claim 4: -X vs the posterior mean for every model and probe, and the decoder-layer finding;

with the raw-feature and PCA baselines beside them (:func:`cmim_lab.evaluation.baseline_scores`)
and a recommendation computed from the verdict rows only (:func:`recommendation`). The report
(``claims.md``, ``claims.json``, figures, ``report.html``) goes to ``out_dir``
(:mod:`cmim_lab.studies.report`). Models, evaluations and curve points are cached by the
engine, so a run that was interrupted continues where it stopped on the next call.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import trainer
from ..checkpoint import MODEL_FILE, read_checkpoint
from ..config import CLASSIFICATION_PROBES, EvalConfig, TrainConfig, check_names, check_seeds
from ..data.files import resolve_dataset
from ..errors import CheckpointError, check_choice
from ..evaluation import baseline_scores, evaluate
from ..infra.files import read_json
from ..infra.runtime import resolve_device
from ..registry import resolve
from .curves import curve_key
from .engine import EvalTask, grid, run_study
from .verdicts import claim_row, compare_entries

PROFILE_NAMES = ("smoke", "default", "full")
METHODS = ("vae", "cvae", "mim", "cmim", "infonce", "infonce[pure]")
CURVE_METHODS = ("mim", "cmim")
INFONCE = ("infonce[sum]", "infonce[pure]")
WARMUP_STEPS = 30  # timed optimiser steps per method of the plan
REPORT_SECONDS = 10.0  # figures and report.html (a PNG export starts a browser once)
# cmim_lab.studies.claims's helpers, resolved by name as the CLI does: claims already sits 9 modules deep, and a
# static import would put this module past the layer rules' limit (tests/test_layers.py)
CLAIMS = "cmim_lab.studies.claims"
STATEMENT_INFONCE = (
    "cMIM's codes classify better than classic contrastive learning (InfoNCE, with or without reconstruction)"
)


@dataclass(frozen=True)
class Sizes:
    """The model and budget of one profile for one kind of data: MLP ``hidden_sizes``,
    ``latent_dim``, ``batch_size`` (capped at half the training samples), ``budget``
    (optimiser steps of every model, the budget curve's last point), ``curve`` (the curve's
    points as fractions of the budget) and the ``probes`` of the full evaluations."""

    hidden_sizes: tuple
    latent_dim: int
    batch_size: int
    budget: int
    curve: tuple = (0.1, 0.25, 0.5, 1.0)
    probes: tuple = CLASSIFICATION_PROBES


SIZES = {
    ("smoke", "table"): Sizes((32,), 4, 32, 40, curve=(0.5, 1.0), probes=("knn-cosine", "linear")),
    ("smoke", "images"): Sizes((32,), 4, 64, 40, curve=(0.5, 1.0), probes=("knn-cosine", "linear")),
    ("default", "table"): Sizes((64, 64), 8, 32, 1000),
    ("default", "images"): Sizes((256, 256), 16, 128, 1000),
    ("full", "table"): Sizes((64, 64), 8, 32, 3000),
    ("full", "images"): Sizes((512, 512), 16, 128, 5000),
}


@dataclass
class Plan:
    """What a run will do, known before any model trains: the data (``kind``: table or
    images), the model (``arch``, ``likelihood``, ``hidden_sizes``, ``latent_dim``,
    ``batch_size``), ``budget`` and ``curve_steps``, ``seeds``, ``methods``; ``models``
    (distinct models), ``cached`` (complete checkpoints found), ``to_train`` (runs still to
    do, a cached curve model without its scores counted), ``steps_to_train``; the warm-up's
    measured ``seconds_per_step`` per method and seconds per evaluation, and ``estimate_s``
    (seconds for the whole run, warm-up included); ``curve_runs`` and ``evaluations`` still
    to run; ``todo``: the entries still to train."""

    dataset: str
    kind: str
    arch: str
    likelihood: str
    hidden_sizes: tuple
    latent_dim: int
    batch_size: int
    budget: int
    curve_steps: tuple
    seeds: tuple
    methods: tuple
    models: int = 0
    cached: int = 0
    to_train: int = 0
    steps_to_train: int = 0
    seconds_per_step: dict = field(default_factory=dict)
    seconds_per_eval: dict = field(default_factory=dict)
    estimate_s: float | None = None
    curve_runs: int = 0
    evaluations: int = 0
    todo: list = field(default_factory=list, repr=False)

    def describe(self) -> str:
        """The plan in a few lines (printed before training)."""
        model = f"{self.arch} {'-'.join(map(str, self.hidden_sizes))}" if self.arch == "mlp" else self.arch
        lines = [
            f"data kind: {self.kind}; architecture {model}, latent {self.latent_dim}, likelihood "
            f"{self.likelihood}, batch {self.batch_size}",
            f"budget {self.budget} steps (curve at {list(self.curve_steps)}), seeds {list(self.seeds)}, "
            f"methods {', '.join(self.methods)}",
            f"{self.models} models: {self.cached} cached, {self.to_train} to train ({self.steps_to_train:,} "
            f"optimiser steps)",
        ]
        if self.estimate_s is not None:
            rates = ", ".join(f"{m} {s * 1000:.1f} ms" for m, s in self.seconds_per_step.items())
            lines.append(
                f"estimated time: {_minutes(self.estimate_s)} (warm-up on this machine: per step {rates}; "
                + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds_per_eval.items())
                + ")"
            )
        return "\n".join(lines)


@dataclass
class YourDataResult:
    """``rows``: the verdict rows (the schema of ``claims.json``); ``recommendation``: the
    paragraph :func:`recommendation` computes from them; ``baselines``: probe scores of the
    raw features and PCA; ``plan``; ``seconds`` of the run; ``report_path``: ``report.html``
    (None without ``out_dir`` or for a dry run); ``files`` written."""

    rows: list[dict]
    recommendation: str
    plan: Plan
    baselines: pd.DataFrame | None = None
    curve: pd.DataFrame | None = None
    study: object = None
    seconds: float = 0.0
    report_path: Path | None = None
    files: list[Path] = field(default_factory=list)


def run(
    dataset,
    *,
    label: str | None = None,
    budget: int | None = None,
    seeds=(0, 1, 2),
    methods=None,
    profile: str = "default",
    dry_run: bool = False,
    out_dir=None,
    device="auto",
    progress: bool = True,
    log=print,
    n_train: int | None = None,
    overrides: dict | None = None,
    estimate: bool = True,
    command: str | None = None,
) -> YourDataResult:
    """The claims of the paper on ``dataset`` (see the module docstring).

    ``dataset``: a :class:`~cmim_lab.data.Dataset`, a registered name, a bundled table or a
    path; ``label``: a table file's class column; ``budget``: optimiser steps per model
    (default: the profile's for the kind of data); ``seeds``: at least two for verdicts;
    ``methods``: a subset of :data:`METHODS` (default all; claim 1 needs vae and mim, the
    budget curve mim and cmim); ``n_train``: a stratified subset of the training samples;
    ``overrides``: TrainConfig fields that replace the choice by kind (``arch``,
    ``likelihood``, ``hidden_sizes``, ``latent_dim``, ``batch_size``). ``dry_run``: stop
    after the plan and the estimate (nothing trained or cached); ``estimate=False`` skips the
    warm-up (no time estimate). ``command``: the command line quoted in the report. ``log``:
    one line per step (None: silent). Raises ``ValueError`` (``FileNotFoundError``) naming a bad argument or
    input before anything trains."""
    start = time.perf_counter()
    say = log or (lambda line: None)
    check_choice("profile", profile, PROFILE_NAMES)
    seeds = check_seeds("seeds", seeds)
    methods = check_names("methods", list(methods) if methods is not None else list(METHODS), METHODS, what="method")
    if not isinstance(dry_run, bool):
        raise ValueError(f"dry_run must be True or False, got {dry_run!r}")
    dev = resolve_device(device)
    ds = dataset if hasattr(dataset, "x_train") else resolve_dataset(dataset, label=label, n_train=n_train)
    kind = "table" if ds.real_valued or len(ds.input_shape) == 1 else "images"
    say(f"data: {ds.describe()}")
    if ds.info.get("split"):
        say(f"split: {ds.info['split']}")
    p, plan = _profile(ds, kind, profile, budget, seeds, methods, overrides or {}, n_train)
    run_args = dict(device=device, progress=progress, log=log)
    eval_cfg = EvalConfig(probes=SIZES[(profile, kind)].probes)
    _count(plan, p, ds, eval_cfg)
    if plan.to_train and estimate:
        _warm_up(plan, p, ds, eval_cfg, dev, elapsed=time.perf_counter() - start)
    elif not plan.to_train:
        plan.estimate_s = time.perf_counter() - start + _evaluation_guess(plan)
    say(plan.describe())
    if dry_run:
        say("dry run: stopping before training")
        return YourDataResult([], "", plan, seconds=time.perf_counter() - start)

    times, rows, curve_rows, curve_table = {}, [], None, None
    t0 = time.perf_counter()
    say("baselines: raw features and PCA")
    baselines = baseline_table(ds, eval_cfg, plan.latent_dim)
    times["baselines"] = time.perf_counter() - t0
    if set(CURVE_METHODS) <= set(methods):
        t0 = time.perf_counter()
        say(f"claim 2: budget curve of mim and cmim under both conventions, steps {list(p.curve_steps)}")
        curve_rows, curve_table, rows = resolve(f"{CLAIMS}:claim2_curve")(p, ds, **run_args)
        times["claim 2 (budget curve)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = [m for m in methods if m != "infonce[pure]"]
    say(f"claims 1, 2 and 4: {', '.join(methods)} at {p.budget} steps")
    entries = grid(p.base(), labels, seeds=p.seeds, reductions=["sum"])
    if "infonce[pure]" in methods:
        entries += grid(p.base(), ["infonce[pure]"], seeds=p.seeds)
    study = run_study(entries, ds, [EvalTask(ds.name, ds, eval_cfg)], **run_args)
    if {"mim", "vae"} <= set(methods):
        rows = resolve(f"{CLAIMS}:claim1_rows")(study.rows, p, ds.name, f"{p.budget} steps") + rows
    rows += infonce_rows(study, ds.name, p)
    rows += resolve(f"{CLAIMS}:claim4_rows")(study, ds, p, log=log)
    times["claims 1, 2 and 4"] = time.perf_counter() - t0
    rows.sort(key=lambda r: r["claim"])
    text = recommendation(rows, baselines=_best_baseline(baselines, study.rows))
    seconds = time.perf_counter() - start
    say(f"recommendation: {text}")
    result = YourDataResult(rows, text, plan, baselines, curve_table, study, seconds)
    if out_dir is not None:
        from .report import write_report

        t0 = time.perf_counter()
        result.files = write_report(
            result, Path(out_dir), p=p, curve_rows=curve_rows, times=times, command=command, profile=profile, dataset=ds
        )
        result.report_path = Path(out_dir) / "report.html"
        say(f"report: {result.report_path} ({time.perf_counter() - t0:.1f} s)")
    say(f"run time {_minutes(time.perf_counter() - start)} (estimated {_minutes(plan.estimate_s)})")
    return result


def _profile(ds, kind: str, profile: str, budget, seeds, methods, overrides: dict, n_train):
    """The :class:`~cmim_lab.studies.claims.ClaimsProfile` of this run and its :class:`Plan`."""
    sizes = SIZES[(profile, kind)]
    budget = sizes.budget if budget is None else budget
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be a positive number of optimiser steps, got {budget!r}")
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown or {"dataset", "method", "seed", "max_steps"} & set(overrides):
        raise ValueError(
            f"overrides must be TrainConfig fields other than dataset, method, seed and max_steps; "
            f"got {sorted(overrides)}"
        )
    defaults = TrainConfig.dataset_defaults(ds.name)
    fields = {
        "arch": defaults.get("arch", "mlp"),
        "likelihood": "gaussian-fixed" if ds.real_valued else defaults.get("likelihood", "bernoulli"),
    }
    n = len(ds.x_train)
    model = {
        "hidden_sizes": tuple(sizes.hidden_sizes),
        "latent_dim": sizes.latent_dim,
        "batch_size": min(sizes.batch_size, max(2, n // 2)),
    }
    fields.update({k: v for k, v in overrides.items() if k not in model})
    model.update({k: v for k, v in overrides.items() if k in model})
    curve = tuple(sorted({max(1, round(budget * f)) for f in sizes.curve}))
    p = dataclasses.replace(
        resolve(f"{CLAIMS}:PROFILES")["smoke"],
        dataset=ds.name,
        n_train=n_train,
        more_datasets={},
        curve_steps=curve,
        seeds=tuple(seeds),
        probe_n_train=None,
        train_fields=fields,
        hidden_sizes=tuple(model["hidden_sizes"]),
        latent_dim=model["latent_dim"],
        batch_size=model["batch_size"],
    )
    p.check()
    base = p.base()  # every field checked (ValueError naming it) before anything trains
    trainer.planned_steps(base, ds)
    plan = Plan(
        ds.name,
        kind,
        base.arch,
        base.likelihood,
        tuple(base.hidden_sizes),
        base.latent_dim,
        base.batch_size,
        budget,
        curve,
        tuple(seeds),
        tuple(methods),
    )
    return p, plan


def _curve_cfg(p) -> EvalConfig:
    """The evaluation of every curve point (as :func:`~cmim_lab.studies.claims.claim2_curve`)."""
    return EvalConfig(
        embeddings=("mean",), probes=("knn-cosine", "linear"), clustering=False, probe_n_train=p.probe_n_train
    )


def _entries(p, methods) -> tuple[list, list]:
    """(the budget curve's entries, the study's entries) of a run."""
    curve = (
        grid(p.base(), list(CURVE_METHODS), seeds=p.seeds, reductions=["sum", "normalised"])
        if set(CURVE_METHODS) <= set(methods)
        else []
    )
    study = grid(p.base(), [m for m in methods if m != "infonce[pure]"], seeds=p.seeds, reductions=["sum"])
    if "infonce[pure]" in methods:
        study += grid(p.base(), ["infonce[pure]"], seeds=p.seeds)
    return curve, study


def _count(plan: Plan, p, ds, eval_cfg: EvalConfig) -> None:
    """Fill the plan's counts: distinct models, complete checkpoints in the cache, runs to do
    (a model missing from the cache, or a curve model whose curve scores are missing), curve
    runs to score and full evaluations to run (those of the models still to train)."""
    curve, study = _entries(p, plan.methods)
    seen = {}
    for entry in curve + study:
        seen.setdefault(trainer.model_dir(entry.config, data=ds), entry)
    curve_dirs = {trainer.model_dir(e.config, data=ds): e for e in curve}
    study_dirs = {trainer.model_dir(e.config, data=ds) for e in study}
    plan.models = len(seen)
    for directory, entry in seen.items():
        complete = _complete(directory)
        plan.cached += complete
        curve_todo = directory in curve_dirs and not _curve_cached(directory, entry, p, ds)
        if not complete or curve_todo:
            plan.todo.append(entry)
        plan.curve_runs += curve_todo
        plan.evaluations += directory in study_dirs and not complete
    plan.to_train = len(plan.todo)
    plan.steps_to_train = p.budget * len(plan.todo)


def _complete(directory: Path) -> bool:
    try:
        return bool((directory / MODEL_FILE).exists() and read_checkpoint(directory)[1]["complete"])
    except CheckpointError:
        return False


def _curve_cached(directory: Path, entry, p, ds) -> bool:
    """Whether the curve file of ``entry`` (as :func:`~cmim_lab.studies.curves.train_with_curve`
    names it) holds every point."""
    cfg = _curve_cfg(p).replace(seed=entry.config.seed)
    path = directory / f"curve-{curve_key(entry.config, p.curve_steps, [EvalTask(ds.name, ds)], cfg)}.json"
    blob = read_json(path) if path.exists() else None
    points = blob.get("points", {}) if isinstance(blob, dict) else {}
    return all(str(s) in points for s in p.curve_steps)


def _warm_up(plan: Plan, p, ds, eval_cfg: EvalConfig, device, *, elapsed: float) -> None:
    """Time :data:`WARMUP_STEPS` optimiser steps of one model per method still to train, with
    its epoch checkpoints (in a temporary folder) and, for the curve's methods, a step callback
    (the difference of a 5-step and a (5 + WARMUP_STEPS)-step run, the faster of two tries each,
    so the model's set-up is not counted; at least half the longer run's time per step),
    one full evaluation, one curve point and one layer ablation of the last model; nothing
    is cached. Sets ``plan.estimate_s``."""
    from .experiments import embedding_ablation

    t_start = time.perf_counter()
    todo, model = plan.todo, None
    trainer.train(todo[0].config.replace(max_steps=5), ds, device=device, progress=False)  # one-off costs, untimed
    for method in dict.fromkeys(e.config.method for e in todo):  # the reduction does not change a step's cost
        config = next(e.config for e in todo if e.config.method == method)
        best, callbacks = {}, [_no_op] if method in CURVE_METHODS else []  # a curve run calls back every step
        for _ in range(2):  # the faster of two tries: a busy machine slows single runs at random
            for steps in (5, 5 + WARMUP_STEPS):
                with tempfile.TemporaryDirectory() as folder:  # epoch checkpoints as the real run writes, not cached
                    t0 = time.perf_counter()
                    model = trainer.train(
                        config.replace(max_steps=steps),
                        ds,
                        device=device,
                        progress=False,
                        checkpoint_dir=folder,
                        resume=False,
                        step_callbacks=callbacks,
                    )
                    best[steps] = min(best.get(steps, float("inf")), time.perf_counter() - t0)
        per_step = (best[5 + WARMUP_STEPS] - best[5]) / WARMUP_STEPS
        plan.seconds_per_step[method] = max(per_step, best[5 + WARMUP_STEPS] / (5 + WARMUP_STEPS) / 2)
    likelihood = model.config.likelihood
    t0 = time.perf_counter()
    evaluate(model.model, ds, eval_cfg, likelihood=likelihood, device=device)
    plan.seconds_per_eval["evaluation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate(model.model, ds, _curve_cfg(p), likelihood=likelihood, device=device)
    plan.seconds_per_eval["curve point"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedding_ablation(
        model.model,
        ds,
        {"mu + layer 0": dict(kind="informative", layers=[0]), "-X": dict(kind="informative")},
        EvalConfig(probes=("knn-cosine", "linear")),
    )
    plan.seconds_per_eval["layer ablation"] = time.perf_counter() - t0
    train_s = sum(p.budget * plan.seconds_per_step[e.config.method] for e in todo)
    plan.estimate_s = elapsed + (time.perf_counter() - t_start) + train_s + _evaluation_guess(plan)


def _no_op(step, model) -> None:
    """A step callback that does nothing: the warm-up of a curve model pays what its run pays."""


def _evaluation_guess(plan: Plan) -> float:
    """Seconds of what follows training, from the warm-up's rates: the curve points and
    full evaluations still to run, the layer ablations (never cached), the baselines (about
    one evaluation) and the report (:data:`REPORT_SECONDS`)."""
    rate = plan.seconds_per_eval
    ablations = len(plan.seeds) * len({"vae", "mim", "cmim"} & set(plan.methods))
    return (
        plan.curve_runs * len(plan.curve_steps) * rate.get("curve point", 0.0)
        + (plan.evaluations + 1) * rate.get("evaluation", 0.0)
        + ablations * rate.get("layer ablation", 0.0)
        + REPORT_SECONDS
    )


def baseline_table(ds, eval_cfg: EvalConfig, n_components: int) -> pd.DataFrame:
    """Probe scores of the no-learning baselines, one row each: the raw inputs
    (``raw features``; for real-valued features also ``raw, standardised``) and
    ``PCA (<n>)`` (``n_components`` principal components of the standardised features)."""
    cfg = eval_cfg.replace(seed=0)
    rows = [{"baseline": "raw features", **baseline_scores(ds, "pixels", cfg, n_components=0)}]
    scaled = ds
    if ds.real_valued:
        scaled = dataclasses.replace(ds, x_train=ds.standardised(ds.x_train), x_test=ds.standardised(ds.x_test))
        rows.append({"baseline": "raw, standardised", **baseline_scores(scaled, "pixels", cfg, n_components=0)})
    rows.append({"baseline": f"PCA ({n_components})", **baseline_scores(scaled, "pca", cfg, n_components=n_components)})
    return pd.DataFrame(rows)


def infonce_rows(study, dataset: str, p) -> list[dict]:
    """cMIM (sum) against InfoNCE with reconstruction (``infonce[sum]``) and without
    (``infonce[pure]``) on every probe, on the posterior mean, paired by seed (claim 2's
    question: does cMIM's contrastive term beat classic contrastive learning?)."""
    rows, out = study.rows, []
    labels = set(rows["entry"]) if len(rows) else set()
    for other in (o for o in INFONCE if o in labels and "cmim[sum]" in labels):
        for probe in CLASSIFICATION_PROBES:
            part = rows[(rows["metric"] == probe) & (rows["embedding"] == "mean")]
            if part.empty:
                continue
            v = compare_entries(part, "cmim[sum]", other, margin=p.margin)
            out.append(
                claim_row(
                    2,
                    f"{dataset}, cmim[sum] vs {other}, {probe}",
                    v,
                    statement=STATEMENT_INFONCE,
                    dataset=dataset,
                    probe=probe,
                    embedding="mean",
                    budget=f"{p.budget} steps",
                )
            )
    return out


def _best_baseline(baselines: pd.DataFrame, study_rows: pd.DataFrame) -> dict:
    """{probe: (best baseline name, its score, best model score)} for the recommendation."""
    out = {}
    for probe in (c for c in baselines.columns if c in CLASSIFICATION_PROBES):
        part = study_rows[study_rows["metric"] == probe]
        if part.empty:
            continue
        best_model = float(part.groupby(["entry", "embedding"])["value"].mean().max())
        i = baselines[probe].idxmax()
        out[probe] = (str(baselines.loc[i, "baseline"]), float(baselines.loc[i, probe]), best_model)
    return out


# --- the recommendation, from the verdict rows only --------------------------------------


def recommendation(rows: list[dict], *, baselines: dict | None = None) -> str:
    """One paragraph computed from verdict rows (the schema of ``claims.json``):

    * the method: cMIM where cMIM - MIM holds at the budget (the curve's last step) on some
      probe and reverses on none, else MIM; where the gap holds only at earlier steps, the
      step by which it closes ("cMIM helps only before N steps");
    * the embedding and read-out: -X where -X - mu holds for that method's ``[sum]`` model
      on some probe (naming those probes), else the posterior mean (saying whether -X hurts
      or is within noise);
    * MIM vs VAE (kNN-cosine), and cMIM vs InfoNCE (with and without reconstruction);
    * with ``baselines`` ({probe: (name, score, best model score)}): a note where a
      no-learning baseline scores at least as well as every model.

    Without any verdict (one seed) it says so."""
    if not rows:
        return "No verdicts: no comparison was run."
    if all(r["verdict"] is None for r in rows):
        return "No verdicts: a single seed gives no interval; run at least two seeds."
    parts = []
    method, curve_note = _method_choice(rows)
    embedding, readout = _embedding_choice(rows, method)
    parts.append(f"On this data, use {'cMIM' if method == 'cmim' else 'MIM'} with {embedding}{readout}.")
    if curve_note:
        parts.append(curve_note)
    for sentence in (_vae_sentence(rows), _infonce_sentence(rows)):
        if sentence:
            parts.append(sentence)
    for probe, (name, score, best) in (baselines or {}).items():
        if score >= best:
            parts.append(
                f"Note: the {name} baseline ({_probe_name(probe)} {score:.3f}) scores at least as well as "
                f"every learned code ({best:.3f}); a representation model may not pay off here."
            )
            break
    return " ".join(parts)


def _steps(row: dict) -> int | None:
    text = str(row.get("budget", ""))
    return int(text.split()[0]) if text.split() and text.split()[0].isdigit() else None


def _probe_name(probe: str) -> str:
    return {"knn-cosine": "kNN-cosine", "knn-euclidean": "kNN-euclidean", "linear": "linear", "mlp": "MLP"}.get(
        probe, probe
    )


def _join(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _method_choice(rows: list[dict]) -> tuple[str, str]:
    """("cmim" or "mim", a sentence on the budget curve or "")."""
    curve = [
        r
        for r in rows
        if r["claim"] == 2
        and r["a"].startswith("cmim")
        and r["b"].startswith("mim")
        and r["probe"] in CLASSIFICATION_PROBES
    ]
    if not curve:
        return "mim", ""
    budget = max(s for s in map(_steps, curve) if s is not None)
    final = [r for r in curve if _steps(r) == budget]
    holds = [r for r in final if r["verdict"] == "holds"]
    reverses = [r for r in final if r["verdict"] == "reverses"]
    if holds and not reverses:
        which = _join([f"{r['a']} on {_probe_name(r['probe'])}" for r in holds])
        return "cmim", f"cMIM beats MIM at {budget:,} steps ({which})."
    early = sorted({_steps(r) for r in curve if r["verdict"] == "holds" and _steps(r) < budget})
    if early:
        closed = min(s for s in map(_steps, curve) if s > early[-1])
        return "mim", (
            f"cMIM helps only before {closed:,} steps (its lead over MIM holds at step"
            f"{'s' if len(early) > 1 else ''} {_join([f'{s:,}' for s in early])} and is gone by "
            f"{budget:,})."
        )
    if reverses:
        which = _join([_probe_name(r["probe"]) for r in reverses])
        return "mim", f"MIM beats cMIM at {budget:,} steps ({which}): the contrastive term does not pay off here."
    return "mim", f"cMIM and MIM are within noise at every step up to {budget:,} (MIM is the simpler objective)."


def _embedding_choice(rows: list[dict], method: str) -> tuple[str, str]:
    """("-X" or "the posterior mean (mu)", " under a ... read-out" or a clause on -X)."""
    label = f"{method}[sum]"
    mine = [r for r in rows if r["claim"] == 4 and r["a"] == f"{label}-X" and r["b"] == f"{label} mu"]
    holds = [_probe_name(r["probe"]) for r in mine if r["verdict"] == "holds"]
    reverses = [_probe_name(r["probe"]) for r in mine if r["verdict"] == "reverses"]
    if holds:
        tail = f" (-X is worse under {_join(reverses)})" if reverses else ""
        return "-X", f" under a {_join(holds)} read-out{tail}"
    if reverses:
        return "the posterior mean (mu)", f"; -X hurts under {_join(reverses)}"
    if mine:
        return "the posterior mean (mu)", "; -X is within noise of mu on every probe"
    return "the posterior mean (mu)", ""


def _vae_sentence(rows: list[dict]) -> str:
    row = next((r for r in rows if r["claim"] == 1 and r["probe"] == "knn-cosine"), None)
    if row is None or row["verdict"] is None:
        return ""
    return {
        "holds": "MIM's codes classify better than the VAE's (kNN-cosine).",
        "reverses": "The VAE's codes classify better than MIM's (kNN-cosine).",
        "within noise": "MIM and the VAE are within noise on kNN-cosine.",
    }[row["verdict"]]


def _infonce_sentence(rows: list[dict]) -> str:
    mine = [r for r in rows if r["claim"] == 2 and r["a"].startswith("cmim") and r["b"].startswith("infonce")]
    if not mine or all(r["verdict"] is None for r in mine):
        return ""
    holds = [f"{r['b']} on {_probe_name(r['probe'])}" for r in mine if r["verdict"] == "holds"]
    reverses = [f"{r['b']} on {_probe_name(r['probe'])}" for r in mine if r["verdict"] == "reverses"]
    if reverses and not holds:
        return (
            f"InfoNCE beats cMIM ({_join(reverses)}): where reconstructions are not needed, classic contrastive "
            f"learning is the stronger choice."
        )
    if holds and not reverses:
        return f"cMIM beats classic contrastive learning ({_join(holds)})."
    if holds:
        return f"cMIM against InfoNCE is mixed: cMIM better on {_join(holds)}, InfoNCE better on {_join(reverses)}."
    return "cMIM and InfoNCE are within noise on every probe."


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
