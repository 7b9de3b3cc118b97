"""The report of :func:`cmim_lab.studies.your_data.run`: ``claims.md``, ``claims.json``, figures
and one self-contained ``report.html``.

* ``claims.json``: the schema of ``cmim-lab claims`` (``profile``, ``command``, ``seconds``,
  ``rows``) plus ``dataset`` (its description and provenance), ``plan``, ``baselines`` and
  ``recommendation``;
* ``claims.md``: :func:`cmim_lab.studies.claims.report`'s tables and readings, after the
  data, the plan, the recommendation and the baselines;
* ``curve.csv`` (the budget curve's long rows) and the figures, each a PNG where static export
  works (:func:`cmim_lab.notebook.static_figures.save_figure`), else an HTML file:
  ``budget_curve`` (:func:`~cmim_lab.notebook.viz.budget_curve_figure`), ``x_vs_mean``
  (:func:`~cmim_lab.notebook.viz.mean_vs_x_figure`) and ``zscores`` (the mean Z-score of
  every model, its -X and the baselines over the probes, :func:`cmim_lab.studies.summary.pooled_ranks`);
* ``report.html``: all of it in one file that opens from ``file://``: figures inline as
  base64 PNGs, or, without static export, as plotly JSON with plotly.js itself embedded
  once (from the installed plotly package, no CDN).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ..config import CLASSIFICATION_PROBES
from ..infra.files import write_json, write_text
from ..registry import resolve
from .summary import pooled_ranks

CLAIMS = "cmim_lab.studies.claims"  # resolved by name: a static import would pass the layer rules' depth limit

FIGURES = {
    "budget_curve": "Budget curve: cMIM - MIM along one training run",
    "x_vs_mean": "-X against the posterior mean, every model and probe",
    "zscores": "Z-score summary: every model, its -X and the baselines",
}


def write_report(result, out: Path, *, p, curve_rows, times: dict, command, profile: str, dataset) -> list[Path]:
    """Write the report of ``result`` (a :class:`~cmim_lab.studies.your_data.YourDataResult`)
    into ``out``; return the files written, ``report.html`` last."""
    out = Path(out)
    plan = result.plan
    head = _markdown_head(result, dataset)
    curve = result.curve if result.curve is not None else _empty_curve()
    text = resolve(f"{CLAIMS}:report")(
        result.rows,
        curve,
        None,
        profile,
        command,
        result.seconds,
        times,
        p,
        title=f"Your data, your verdict: {dataset.name}",
    )
    title, rest = text.split("\n", 1)
    files = [
        write_text(out / "claims.md", title + "\n\n" + head + rest),
        write_json(
            out / "claims.json",
            {
                "profile": profile,
                "command": command,
                "seconds": result.seconds,
                "dataset": {
                    "name": dataset.name,
                    "describe": dataset.describe(),
                    **{k: str(v) for k, v in dataset.info.items()},
                },
                "plan": _plan_dict(plan),
                "recommendation": result.recommendation,
                "baselines": result.baselines.to_dict(orient="records"),
                "rows": result.rows,
            },
        ),
    ]
    if curve_rows is not None:
        files.append(write_text(out / "curve.csv", curve_rows.to_csv(index=False)))
    figures = {}
    for name, fig in _figures(result).items():
        saved = _save(fig, out / name)
        files += saved
        figures[name] = (fig, saved[0] if saved else None)
    files.append(write_text(out / "report.html", _html(result, dataset, figures, command)))
    return files


def _empty_curve() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["step", "metric", "comparison", "a", "b", "mean_diff", "low", "high", "n_seeds", "verdict", "result"]
    )


def _plan_dict(plan) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(plan).items() if k != "todo"}


def _markdown_head(result, dataset) -> str:
    """The data, the plan, the recommendation and the baselines, as Markdown."""
    lines = [f"Data: {dataset.describe()}.", ""]
    if dataset.info.get("split"):
        lines += [f"Split: {dataset.info['split']}.", ""]
    lines += [
        "```",
        result.plan.describe(),
        "```",
        "",
        "## Recommendation",
        "",
        result.recommendation,
        "",
        "## Baselines (no learning; probe accuracy on the test split)",
        "",
        result.baselines.to_markdown(index=False, floatfmt=".4f"),
        "",
    ]
    return "\n".join(lines) + "\n"


def _figures(result) -> dict:
    """{file name: plotly figure} of the figures this run has data for."""
    from ..notebook.viz import budget_curve_figure, mean_vs_x_figure

    figures = {}
    if result.curve is not None and len(result.curve):
        figures["budget_curve"] = budget_curve_figure(result.curve.drop(columns=["result"]))
    study = result.study
    probes = [p for p in CLASSIFICATION_PROBES if p in set(study.rows["metric"])]
    wide = study.wide()
    if probes and all(f"informative/{p}" in wide.columns for p in probes):
        figures["x_vs_mean"] = mean_vs_x_figure(wide, probes)
    figures["zscores"] = zscore_figure(zscore_table(result))
    return figures


def zscore_table(result) -> pd.DataFrame:
    """Mean Z-score and rank (1 = best) of every model, its -X twin and every baseline over
    the classification probes (:func:`cmim_lab.studies.summary.pooled_ranks`: Z per probe
    over all of them; baselines repeated over the seeds so that every entry has one score
    per seed)."""
    rows = result.study.rows
    scores = rows[rows["metric"].isin(CLASSIFICATION_PROBES)][
        ["entry", "dataset", "embedding", "metric", "seed", "value", "higher_is_better"]
    ]
    seeds = sorted(scores["seed"].unique())
    base = [
        {
            "entry": b["baseline"],
            "dataset": result.plan.dataset,
            "embedding": "baseline",
            "metric": probe,
            "seed": s,
            "value": b[probe],
            "higher_is_better": True,
        }
        for b in result.baselines.to_dict(orient="records")
        for probe in CLASSIFICATION_PROBES
        if probe in b
        for s in seeds
    ]
    return pooled_ranks(pd.concat([scores, pd.DataFrame(base)], ignore_index=True))


def zscore_figure(ranks: pd.DataFrame):
    """Horizontal bars of the mean Z-score per entry (best on top), in each method's colour
    (baselines grey); ``ranks``: :func:`zscore_table`."""
    import plotly.graph_objects as go

    from ..notebook.figure_style import BASELINE_COLOR, parse_label, series_style

    ordered = ranks.sort_values("mean_z")
    colors = [series_style(e, i)["color"] if parse_label(e) else BASELINE_COLOR for i, e in enumerate(ordered["entry"])]
    fig = go.Figure(
        go.Bar(
            x=ordered["mean_z"],
            y=ordered["entry"],
            orientation="h",
            marker_color=colors,
            text=[f"rank {r}" for r in ordered["rank"]],
            textposition="auto",
        )
    )
    fig.update_layout(
        title="Mean Z-score over the probes (higher is better; Z per probe over every entry)",
        xaxis_title="mean Z-score",
        height=200 + 24 * len(ordered),
        margin=dict(l=160),
    )
    return fig


def _save(fig, path: Path) -> list[Path]:
    from ..notebook.static_figures import save_figure

    return save_figure(fig, path, width=1100)


def _html(result, dataset, figures: dict, command) -> str:
    """One self-contained page: the recommendation, the plan, the baselines, the figures
    and every verdict row."""
    parts = [f"<h1>Your data, your verdict: {html.escape(dataset.name)}</h1>"]
    if command:
        parts.append(f"<pre>{html.escape(command)}</pre>")
    parts += [
        f"<p>Data: {html.escape(dataset.describe())}</p>",
        f"<pre>{html.escape(result.plan.describe())}</pre>",
        f"<p>Run time: {result.seconds / 60:.1f} min</p>",
        "<h2>Recommendation</h2>",
        f"<p>{html.escape(result.recommendation)}</p>",
        "<h2>Reading</h2><ul>",
    ]
    readings = resolve(f"{CLAIMS}:claim_readings")(result.rows)
    parts += [f"<li><b>Claim {c}</b>: {html.escape(t)}</li>" for c, t in readings.items()]
    parts += ["</ul>", "<h2>Baselines</h2>", result.baselines.to_html(index=False, float_format="%.4f")]
    plotly_js = True  # the first interactive figure carries plotly.js, the others use it
    for name, (fig, saved) in figures.items():
        parts.append(f"<h2>{html.escape(FIGURES[name])}</h2>")
        if saved is not None and saved.suffix == ".png":
            data = base64.b64encode(saved.read_bytes()).decode()
            parts.append(f'<img style="max-width:100%" alt="{name}" src="data:image/png;base64,{data}">')
        else:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=plotly_js))
            plotly_js = False
    table = resolve(f"{CLAIMS}:rows_frame")(result.rows)
    parts += ["<h2>Every comparison</h2>", table.to_html(index=False, float_format="%.4f")]
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(dataset.name)}: verdicts'
        f"</title><style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
