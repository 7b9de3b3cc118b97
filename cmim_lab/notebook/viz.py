"""Figures: plotly for the notebooks (interactive), PNG copies for ``figures/``.

Every figure here colours a method the same way and labels its axes in words with units
(:mod:`cmim_lab.notebook.figure_style`); points that average several seeds carry ± std error bars
and say over how many seeds. Static images (PNG files, and a PNG beside every figure a
notebook shows) come from :mod:`cmim_lab.notebook.static_figures`; :func:`save_figure` is its, and
``viz.method_color`` is :func:`cmim_lab.notebook.figure_style.method_color`, both here for notebooks.

plotly and umap are imported inside the functions, so ``import cmim_lab`` stays light.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import torch

from .figure_style import (
    BASELINE_COLOR,
    EMBEDDING_NAME,
    EMBEDDING_SYMBOL,
    OTHER_COLORS,
    axis_label,
    method_color,  # noqa: F401  (viz.method_color, for notebooks)
    parse_label,
    probe_label,
    series_style,
    spread_note,
    term_label,
)
from .static_figures import save_figure  # noqa: F401  (for notebooks)

# classes (not methods) of a class-coloured scatter: matplotlib's tab10
CLASS_COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


_UMAP_NOTED = False  # the compile note of umap_2d is printed once per process


def umap_2d(z, *, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "euclidean"):
    """2-D UMAP coordinates [N, 2] of codes ``z`` [N, d].

    numba's compiled-function cache stays where numba puts it by default (never in the
    kit's cache folder: numba reads its cache index with ``pickle``, so a file planted
    there would run code). UMAP coordinates differ across machines even with a seed: use
    them for pictures, never for assertions. The first call in a process says once that
    numba compiles UMAP's code first (once per session). numba's thread pool is
    sized to torch's thread count (:func:`match_numba_threads`).
    """
    global _UMAP_NOTED
    match_numba_threads()
    if not _UMAP_NOTED:
        print(
            "UMAP: numba compiles UMAP's code on the first map of a session (once); "
            "later maps reuse it and are quicker.",
            flush=True,
        )
        _UMAP_NOTED = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap warns that a seed disables parallelism
        import umap

        reducer = umap.UMAP(
            n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric, random_state=seed
        )
        return reducer.fit_transform(_np(z))


def match_numba_threads() -> None:
    """Size numba's thread pool like torch's, before numba is first imported (unless
    ``$NUMBA_NUM_THREADS`` is set).

    Why: numba's default threading layer runs on the OpenMP runtime torch has loaded, with
    one thread per core. Where torch has fewer threads (``OMP_NUM_THREADS=1``, the usual way
    to run two jobs side by side), UMAP leaves an extra OpenMP worker spinning at a barrier
    after every torch operation, which slows every later torch operation of the process; with
    the pools matched it does not.
    """
    if "numba" in sys.modules or os.environ.get("NUMBA_NUM_THREADS"):
        return
    os.environ["NUMBA_NUM_THREADS"] = str(torch.get_num_threads())


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def scatter_classes(coords, labels, class_names, *, title: str = "", hover=None, marker_size: int = 4):
    """Scatter plot of 2-D ``coords`` [N, 2] coloured by class (:data:`CLASS_COLORS`);
    ``hover``: extra text per point."""
    import plotly.graph_objects as go

    coords, labels = _np(coords), _np(labels)
    fig = go.Figure()
    for c, name in enumerate(class_names):
        mask = labels == c
        if not mask.any():
            continue
        text = [hover[i] for i in np.flatnonzero(mask)] if hover is not None else None
        fig.add_trace(
            go.Scattergl(
                x=coords[mask, 0],
                y=coords[mask, 1],
                mode="markers",
                name=str(name),
                text=text,
                marker=dict(size=marker_size, color=CLASS_COLORS[c % 10], opacity=0.7),
            )
        )
    fig.update_layout(
        title=title,
        height=500,
        legend=dict(itemsizing="constant", title="class"),
        xaxis=dict(showticklabels=False, title="UMAP 1"),
        yaxis=dict(showticklabels=False, title="UMAP 2"),
    )
    return fig


def tile(images, ncols: int) -> np.ndarray:
    """Tile images [N, C, H, W] (or [N, D] with square D) into one array: grey
    [rows*H, ncols*W] (the first channel), or colour [rows*H, ncols*W, 3] when C is 3."""
    images = _np(images)
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        images = images.reshape(-1, 1, side, side)
    n, channels, h, w = images.shape
    rows = int(np.ceil(n / ncols))
    colour = channels == 3
    canvas = np.ones((rows * h, ncols * w, 3) if colour else (rows * h, ncols * w), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = images[i].transpose(1, 2, 0) if colour else images[i, 0]
    return canvas


def image_rows(rows: dict, *, title: str = ""):
    """One figure with a row of images per entry of ``rows`` ({row title: [N, C, H, W]}, values
    in [0, 1]; C = 3 is drawn in colour, else the first channel in grey)."""
    import plotly.express as px

    names = list(rows)
    n = max(len(v) for v in rows.values())
    canvas = np.concatenate([tile(rows[k], n) for k in names], axis=0)
    if canvas.ndim == 3:  # colour: plotly takes RGB values 0..255
        fig = px.imshow((np.clip(canvas, 0, 1) * 255).astype(np.uint8), aspect="equal")
    else:
        fig = px.imshow(canvas, color_continuous_scale="gray_r", zmin=0, zmax=1, aspect="equal")
    h = canvas.shape[0] // len(names)
    fig.update_layout(
        title=title, coloraxis_showscale=False, height=120 + 90 * len(names), margin=dict(l=110, r=10, t=50, b=10)
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(tickvals=[h * (i + 0.5) for i in range(len(names))], ticktext=names)
    return fig


def off_scale_mask(values, tolerance: float | None = 0.2) -> np.ndarray:
    """Which of a panel's ``values`` [N] to draw off-scale: those farther from the panel's
    median than ``tolerance`` times the median's magnitude (0.2: a collapsed model at 0.3
    accuracy among models at 0.9). None: nothing is off-scale. Returns a bool array [N]."""
    values = np.asarray(values, dtype=float)
    if tolerance is None or not len(values):
        return np.zeros(len(values), dtype=bool)
    centre = float(np.median(values))
    return np.abs(values - centre) > tolerance * abs(centre)


_TITLE_CHARS = 110  # a benchmark figure's title and note together on one line up to this length


def benchmark_figure(
    raw,
    probes,
    *,
    value_label: str = "test accuracy",
    title: str = "Probe accuracy on the test split",
    spread_over: str = "seeds",
    baseline_spread_over: str | None = None,
    off_scale: float | None = 0.2,
):
    """Probe scores of a benchmark: one panel per (dataset, probe), one row per entry.

    ``raw``: the benchmark's long table (``dataset``, ``metric``, ``embedding``, ``entry``,
    ``value``, one row per seed). Each point is the mean over seeds with ± std error bars;
    the title says over how many (``spread_over`` names what was repeated;
    ``baseline_spread_over`` what was for the baselines, when it differs: the molecule
    benchmark's fingerprints repeat over split seeds only). A point's colour
    is its method's (:mod:`cmim_lab.notebook.figure_style`; baselines grey), its marker the embedding:
    round for the posterior mean, diamond for -X, square for a baseline. Points farther from
    their panel's median than ``off_scale`` times it (:func:`off_scale_mask`: collapsed
    models) are drawn as one triangle per entry on the panel's edge with their values
    written beside it, so they no longer stretch the axis; ``off_scale=None`` keeps every
    point on scale.
    Rows are ordered as the entries first appear in ``raw``.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    df = raw[raw["metric"].isin(probes)]
    stats = df.groupby(["dataset", "metric", "embedding", "entry"])["value"].agg(["mean", "std", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0)
    datasets = list(dict.fromkeys(df["dataset"]))
    probes = [p for p in probes if p in set(df["metric"])]
    entries = list(dict.fromkeys(df["entry"]))
    # one dataset: panels titled by probe, the dataset in the figure title; several: two-line titles
    # (a "dataset · probe" line is wider than a panel and ran into its neighbour)
    panel_titles = (
        [probe_label(p) for p in probes]
        if len(datasets) == 1
        else [f"{d}<br>{probe_label(p)}" for d in datasets for p in probes]
    )
    note = spread_note(stats.loc[stats["embedding"] != "baseline", "count"], spread_over)
    baseline_counts = set(stats.loc[stats["embedding"] == "baseline", "count"])
    if baseline_counts and baseline_counts != set(stats.loc[stats["embedding"] != "baseline", "count"]):
        note += "; baselines: " + spread_note(baseline_counts, baseline_spread_over or spread_over).replace(
            "one run each", "one run"
        )
    title = f"{datasets[0]}: {title[0].lower()}{title[1:]}" if len(datasets) == 1 else title
    fig = make_subplots(
        rows=len(datasets),
        cols=len(probes),
        shared_yaxes=True,
        horizontal_spacing=0.03,
        vertical_spacing=0.1,
        subplot_titles=panel_titles,
    )
    any_off = False
    for i, d in enumerate(datasets):
        for j, p in enumerate(probes):
            panel = stats[(stats["dataset"] == d) & (stats["metric"] == p)].reset_index(drop=True)
            off = off_scale_mask(panel["mean"], off_scale)
            on = panel[~off]
            lo, hi = float((on["mean"] - on["std"]).min()), float((on["mean"] + on["std"]).max())
            pad = 0.08 * (hi - lo) or 0.01 * max(abs(hi), 1e-3)
            # per side, each off-scale entry's points and the label written beside its marker
            labels = {
                side: [
                    (entry, block, _off_scale_text(block))
                    for entry, block in panel[off & beyond].groupby("entry", sort=False)
                ]
                for side, beyond in (("below", panel["mean"] < lo), ("above", panel["mean"] > hi))
            }
            # room on an edge for the markers and their labels, which sit inside the axis: wide
            # enough for the longest label, so it never covers an on-scale point
            room = {
                side: pad * (2 + 0.55 * max(len(text) for *_, text in items)) if items else pad
                for side, items in labels.items()
            }
            span = (lo - room["below"], hi + room["above"])
            for _, row in on.iterrows():
                _benchmark_point(fig, row, i + 1, j + 1)
            for side, items in labels.items():
                for entry, block, text in items:
                    x = span[0] + pad if side == "below" else span[1] - pad
                    _off_scale_marker(fig, entry, block, text, x, side, i + 1, j + 1)
            any_off |= bool(off.any())
            fig.update_xaxes(range=list(span), row=i + 1, col=j + 1)
    for kind in ("mean", "informative", "baseline"):  # the legend: marker shapes, in neutral grey
        if kind in set(stats["embedding"]):
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=EMBEDDING_NAME[kind],
                    marker=dict(symbol=EMBEDDING_SYMBOL[kind], color="#555555", size=9),
                )
            )
    if any_off:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name="off scale (its values written beside it)",
                marker=dict(symbol="triangle-left", color="#555555", size=10),
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=entries[::-1], dtick=1)
    fig.update_xaxes(title_text=value_label, row=len(datasets))
    # a long note goes on a second, smaller line: one line ran past the figure's right edge
    wrap = len(title) + len(note) >= _TITLE_CHARS
    fig.update_layout(
        height=200 + (60 + 22 * len(entries)) * len(datasets),
        title=f"{title}<br><sup>{note}</sup>" if wrap else f"{title} ({note})",
        margin=dict(t=110 if wrap else 90, b=100),
        legend=dict(orientation="h", yref="container", y=0.01, yanchor="bottom", xanchor="center", x=0.5),
    )
    return fig


def _benchmark_point(fig, row, r: int, c: int) -> None:
    """One entry's point in a benchmark panel, with its ± std error bar."""
    import plotly.graph_objects as go

    kind = row["embedding"]
    color = BASELINE_COLOR if kind == "baseline" else series_style(row["entry"])["color"]
    hover = f"{row['entry']} ({EMBEDDING_NAME.get(kind, kind)}): {row['mean']:.3f} ± {row['std']:.3f}<extra></extra>"
    fig.add_trace(
        go.Scatter(
            x=[row["mean"]],
            y=[row["entry"]],
            error_x=dict(array=[row["std"]], color=color, visible=bool(row["count"] > 1)),
            mode="markers",
            hovertemplate=hover,
            showlegend=False,
            marker=dict(color=color, size=9, opacity=0.9, symbol=EMBEDDING_SYMBOL.get(kind, "circle")),
        ),
        row=r,
        col=c,
    )


def _off_scale_text(block) -> str:
    """The label of an entry's off-scale points (rows of ``block``): ``μ 0.29 · -X 0.30``."""
    kinds = {"mean": "μ", "informative": "-X", "baseline": ""}
    block = block.sort_values("embedding", key=lambda k: k.map(lambda e: list(kinds).index(e) if e in kinds else 9))
    return " · ".join(f"{kinds.get(k, k)} {m:.2f}".strip() for k, m in zip(block["embedding"], block["mean"]))


def _off_scale_marker(fig, entry: str, block, text: str, x: float, side: str, r: int, c: int) -> None:
    """One triangle on a panel's edge for an entry's off-scale points (``block``), their
    values written beside it (``text``, :func:`_off_scale_text`)."""
    import plotly.graph_objects as go

    color = BASELINE_COLOR if set(block["embedding"]) == {"baseline"} else series_style(entry)["color"]
    fig.add_trace(
        go.Scatter(
            x=[x],
            y=[entry],
            mode="markers+text",
            text=[text],
            textposition="middle right" if side == "below" else "middle left",
            textfont=dict(color=color, size=11),
            showlegend=False,
            cliponaxis=False,
            hovertemplate=f"{entry}: {text} (off scale)<extra></extra>",
            marker=dict(color=color, size=11, symbol="triangle-left" if side == "below" else "triangle-right"),
        ),
        row=r,
        col=c,
    )


def history_figure(history, terms=None, *, title: str = "Training terms per epoch"):
    """Line plot of the per-epoch terms of a training ``history`` table (one panel per term,
    titled in words; terms in nats in the model's own reduction convention)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    skip = {"epoch", "step", "seconds", "samples_per_s"}
    terms = terms or [c for c in history.columns if c not in skip]
    fig = make_subplots(
        rows=1, cols=len(terms), subplot_titles=[term_label(t) for t in terms], horizontal_spacing=0.07
    )  # room for each panel's own y tick labels
    for j, t in enumerate(terms):
        fig.add_trace(
            go.Scatter(
                x=history["epoch"],
                y=history[t],
                mode="lines+markers",
                showlegend=False,
                name=t,
                line=dict(color="#333333"),
            ),
            row=1,
            col=j + 1,
        )
    fig.update_xaxes(title="epoch", tick0=1, dtick=max(1, int(history["epoch"].max()) // 5))
    fig.update_yaxes(title="nats", col=1)
    fig.update_annotations(font_size=11)
    fig.update_layout(title=title, height=320, margin=dict(l=60, r=20))
    return fig


def sweep_figure(table, probes=("knn-cosine", "linear"), *, title: str = ""):
    """Accuracy against batch size (log axis, ticks at the batch sizes), mean ± std over
    seeds (the title says how many), one line per variant in its method's style."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(probes), subplot_titles=[probe_label(p) for p in probes])
    counts = []
    for v_i, (variant, block) in enumerate(table.groupby("variant", sort=False)):
        stats = block.groupby("batch_size")[list(probes)].agg(["mean", "std", "count"])
        counts += list(stats[(probes[0], "count")])
        style = series_style(variant, v_i)
        for j, p in enumerate(probes):
            spread = dict(array=stats[(p, "std")].fillna(0), visible=bool(stats[(p, "count")].max() > 1))
            fig.add_trace(
                go.Scatter(
                    x=stats.index,
                    y=stats[(p, "mean")],
                    error_y=spread,
                    mode="lines+markers",
                    name=variant,
                    legendgroup=variant,
                    line=dict(color=style["color"], dash=style["dash"]),
                    marker=dict(symbol=style["symbol"]),
                    showlegend=j == 0,
                ),
                row=1,
                col=j + 1,
            )
    sizes = sorted(table["batch_size"].unique())
    fig.update_xaxes(type="log", title=axis_label("batch_size"), tickvals=sizes, ticktext=[str(b) for b in sizes])
    fig.update_yaxes(title="test accuracy", col=1)
    fig.update_layout(title=f"{title or 'Batch-size sensitivity'} ({spread_note(counts)})", height=420)
    return fig


def cosine_histograms(pairs: dict, *, title: str = "Cosine similarity of codes"):
    """Overlaid histograms of within-class and between-class cosine similarities per model.

    ``pairs``: {model name: (within [n], between [n])} as from
    :func:`cmim_lab.evaluation.pair_cosines`.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(pairs)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True)
    for j, name in enumerate(names):
        within, between = pairs[name]
        for label, values, color in [("same class", within, "#E69F00"), ("different class", between, "#4d4d4d")]:
            fig.add_trace(
                go.Histogram(
                    x=_np(values),
                    name=label,
                    legendgroup=label,
                    showlegend=j == 0,
                    marker_color=color,
                    opacity=0.6,
                    xbins=dict(start=-1, end=1, size=0.04),
                    histnorm="probability density",
                ),
                row=1,
                col=j + 1,
            )
    fig.update_layout(barmode="overlay", title=title, height=350)
    fig.update_xaxes(range=[-1, 1], title="cosine similarity")
    fig.update_yaxes(title="density", col=1)
    return fig


def line_figure(
    table,
    x: str,
    y: str,
    color: str,
    *,
    title: str = "",
    log_x: bool = False,
    references: dict | None = None,
    category_order=None,
    height: int = 420,
):
    """Column ``y`` against column ``x`` of a tidy ``table``, one line per value of ``color``.

    Each line is styled by its label (a method's colour, its variant's dash:
    :func:`cmim_lab.notebook.figure_style.series_style`); axes are titled in words
    (:func:`~cmim_lab.notebook.figure_style.axis_label`). Rows that repeat a (``color``, ``x``) pair --
    several seeds -- are averaged, with ± std error bars and the title saying over how many.
    ``log_x``: a log axis with a tick at every ``x`` value (e.g. 2, 4, ... 64).
    ``references``: {label: value} horizontal lines across the plot, each in its label's
    style with a legend entry ``"<label> (reference)"``. ``category_order``: the order of a
    categorical ``x``.
    """
    import plotly.graph_objects as go

    missing = [c for c in (x, y, color) if c not in table.columns]
    if missing:
        raise ValueError(f"line_figure: no column {missing} in the table; columns are {list(table.columns)}")
    stats = table.groupby([color, x], sort=False)[y].agg(["mean", "std", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0)
    repeated = bool((stats["count"] > 1).any())
    fig = go.Figure()
    others = 0
    for name in dict.fromkeys(table[color]):
        s = stats[stats[color] == name]
        s = s if category_order is not None else s.sort_values(x)
        style = series_style(name, others)
        others += parse_label(name) is None  # non-method series take the neutral colours in turn
        fig.add_trace(
            go.Scatter(
                x=s[x],
                y=s["mean"],
                mode="lines+markers",
                name=str(name),
                error_y=dict(array=s["std"], visible=repeated),
                line=dict(color=style["color"], dash=style["dash"]),
                marker=dict(symbol=style["symbol"], size=8),
            )
        )
    xs = sorted(stats[x].unique()) if category_order is None else list(category_order)
    for label, value in (references or {}).items():
        style = series_style(label, others)
        others += parse_label(label) is None
        fig.add_trace(
            go.Scatter(
                x=[xs[0], xs[-1]],
                y=[value, value],
                mode="lines",
                name=f"{label} (reference)",
                line=dict(color=style["color"], dash=style["dash"], width=1.5),
                opacity=0.75,
                hovertemplate=f"{label}: {value:.4g}<extra></extra>",
            )
        )
    if log_x:
        fig.update_xaxes(type="log", tickvals=xs, ticktext=[f"{v:g}" for v in xs])
    if category_order is not None:
        fig.update_xaxes(categoryorder="array", categoryarray=list(category_order))
    fig.update_xaxes(title=axis_label(x))
    fig.update_yaxes(title=axis_label(y))
    note = f" ({spread_note(stats['count'])})" if repeated else ""
    fig.update_layout(title=f"{title}{note}", height=height, legend=dict(title=axis_label(color)))
    return fig


def active_units_figure(table, *, title: str = "Active units vs latent size"):
    """Active units (Var_x[μ_j] > 0.01) against the latent size, one line per method, with
    the all-units-active diagonal. ``table``: columns ``method``, ``latent_dim`` and
    ``active_units`` (one row per model; repeated seeds are averaged, see :func:`line_figure`)."""
    import plotly.graph_objects as go

    fig = line_figure(table, "latent_dim", "active_units", "method", title=title, log_x=True)
    sizes = sorted(table["latent_dim"].unique())
    fig.add_trace(
        go.Scatter(x=sizes, y=sizes, mode="lines", name="all units active", line=dict(dash="dot", color=BASELINE_COLOR))
    )
    return fig


def mean_vs_x_figure(table, probes, *, title: str = "Probe accuracy: posterior mean vs informative embedding (-X)"):
    """Grouped bars per probe panel: each model's accuracy on its posterior mean (solid) and
    on its informative embedding (-X, hatched), in its method's colour.

    ``table``: one row per model (as from :func:`cmim_lab.studies.experiments.compare`) with a
    ``label`` column and ``mean/<probe>`` and ``informative/<probe>`` columns; repeated
    labels (seeds) are averaged, with ± std error bars and the title saying over how many.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cols = [f"{e}/{p}" for p in probes for e in ("mean", "informative")]
    missing = [c for c in cols + ["label"] if c not in table.columns]
    if missing:
        raise ValueError(f"mean_vs_x_figure: no column {missing}; give compare()'s table with both embeddings")
    stats = table.groupby("label", sort=False)[cols].agg(["mean", "std", "count"])
    labels = list(stats.index)
    repeated = bool((stats[(cols[0], "count")] > 1).any())
    colors = [series_style(label, i)["color"] for i, label in enumerate(labels)]
    fig = make_subplots(
        rows=1,
        cols=len(probes),
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=[probe_label(p) for p in probes],
    )
    for j, p in enumerate(probes):
        for kind, pattern in (("mean", ""), ("informative", "/")):
            col = f"{kind}/{p}"
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=stats[(col, "mean")],
                    error_y=dict(array=stats[(col, "std")].fillna(0), visible=repeated),
                    name=EMBEDDING_NAME[kind],
                    legendgroup=kind,
                    showlegend=False,
                    marker=dict(color=colors, pattern=dict(shape=pattern, fillmode="overlay", fgcolor="white")),
                ),
                row=1,
                col=j + 1,
            )
    for kind, pattern in (("mean", ""), ("informative", "/")):  # legend: the two fills, in neutral grey
        fig.add_trace(
            go.Bar(
                x=[None],
                y=[None],
                name=EMBEDDING_NAME[kind],
                legendgroup=kind,
                marker=dict(color="#777777", pattern=dict(shape=pattern, fgcolor="white")),
            )
        )
    values = stats[[(c, "mean") for c in cols]].to_numpy()
    fig.update_yaxes(
        range=[max(0.0, float(np.nanmin(values)) - 0.05), min(1.0, float(np.nanmax(values)) + 0.03)],
        title="test accuracy",
        col=1,
    )
    fig.update_xaxes(title="method")
    note = spread_note(stats[(cols[0], "count")])
    fig.update_layout(
        barmode="group",
        title=title + ("" if note == "one run each" else f" ({note})"),
        height=420,
        legend=dict(orientation="h", yanchor="bottom", y=1.08, xanchor="right", x=1),
    )
    return fig


def budget_curve_figure(curve, *, title: str = ""):
    """Claim 2 along one training run: the paired difference A - B (accuracy points) against
    optimiser steps (log axis), one line per comparison with its confidence interval as a
    band, one panel per probe. ``curve``: rows of :func:`cmim_lab.studies.verdicts.curve_verdicts`
    (``step``, ``metric``, ``comparison``, ``mean_diff``, ``low``, ``high``)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = list(dict.fromkeys(curve["metric"]))
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[f"{m} probe" for m in metrics], shared_yaxes=True)
    for c_i, (name, block) in enumerate(curve.groupby("comparison", sort=False)):
        color = OTHER_COLORS[c_i % len(OTHER_COLORS)]  # comparisons, not methods: no method colour
        for j, metric in enumerate(metrics):
            part = block[block["metric"] == metric].sort_values("step")
            if part.empty:
                continue
            steps = part["step"].tolist()
            band = part[["low", "high"]].astype(float).to_numpy() * 100
            if np.isfinite(band).all():
                fig.add_trace(
                    go.Scatter(
                        x=steps + steps[::-1],
                        y=list(band[:, 1]) + list(band[::-1, 0]),
                        fill="toself",
                        mode="lines",
                        fillcolor=color,
                        opacity=0.15,
                        line=dict(width=0, color=color),
                        hoverinfo="skip",
                        legendgroup=name,
                        showlegend=False,
                    ),
                    row=1,
                    col=j + 1,
                )
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=part["mean_diff"] * 100,
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    line=dict(color=color),
                    showlegend=j == 0,
                    text=part["verdict"].fillna("one seed"),
                    hovertemplate="step %{x}: %{y:+.2f} points (%{text})",
                ),
                row=1,
                col=j + 1,
            )
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    steps = sorted(curve["step"].unique())
    fig.update_xaxes(type="log", title="optimiser steps", tickvals=steps, ticktext=[f"{s:,}" for s in steps])
    fig.update_yaxes(title="A - B, accuracy points", col=1)
    fig.update_layout(
        title=title or "cMIM - MIM along one training run (mean over seeds, band: 95% interval)", height=420
    )
    return fig
