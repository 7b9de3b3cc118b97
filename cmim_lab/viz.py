"""Figures: plotly for the notebooks (interactive), PNG copies for ``figures/``.

plotly and umap are imported inside the functions, so ``import cmim_lab`` stays light.
Static export uses kaleido, which drives a Chrome/Chromium browser; where none is found
:func:`save_figure` writes a standalone HTML file instead and says so.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def save_figure(fig, path, *, width: int = 900, height: int | None = None, scale: float = 1.5,
                html: bool = False) -> list[Path]:
    """Write ``fig`` to ``path``.png (and ``path``.html if ``html``); returns the files written.

    PNG export needs kaleido and a Chromium/Chrome; without them an HTML file is written
    instead, with a warning naming what is missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        fig.write_image(str(path.with_suffix(".png")), width=width, height=height or fig.layout.height or 500,
                        scale=scale)
        written.append(path.with_suffix(".png"))
    except Exception as exc:  # kaleido missing, or no browser for it to drive
        warnings.warn(f"static PNG export failed ({type(exc).__name__}: {exc}); install kaleido and "
                      f"Chromium/Chrome for PNG files. Writing {path.with_suffix('.html')} instead.")
        html = True
    if html:
        fig.write_html(str(path.with_suffix(".html")), include_plotlyjs="cdn")
        written.append(path.with_suffix(".html"))
    return written


def umap_2d(z, *, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "euclidean"):
    """2-D UMAP coordinates [N, 2] of codes ``z`` [N, d].

    numba's compiled-function cache stays where numba puts it by default (never in the
    kit's cache folder: numba reads its cache index with ``pickle``, so a file planted
    there would run code). UMAP coordinates differ across machines even with a seed: use
    them for pictures, never for assertions.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap warns that a seed disables parallelism
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric,
                            random_state=seed)
        return reducer.fit_transform(_np(z))


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def scatter_classes(coords, labels, class_names, *, title: str = "", hover=None, marker_size: int = 4):
    """Scatter plot of 2-D ``coords`` [N, 2] coloured by class; ``hover``: extra text per point."""
    import plotly.graph_objects as go

    coords, labels = _np(coords), _np(labels)
    fig = go.Figure()
    for c, name in enumerate(class_names):
        mask = labels == c
        if not mask.any():
            continue
        text = [hover[i] for i in np.flatnonzero(mask)] if hover is not None else None
        fig.add_trace(go.Scattergl(x=coords[mask, 0], y=coords[mask, 1], mode="markers", name=str(name),
                                   text=text, marker=dict(size=marker_size, color=PALETTE[c % 10], opacity=0.7)))
    fig.update_layout(title=title, height=500, legend=dict(itemsizing="constant"),
                      xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
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
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i].transpose(1, 2, 0) if colour else images[i, 0]
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
    fig.update_layout(title=title, coloraxis_showscale=False, height=120 + 90 * len(names),
                      margin=dict(l=110, r=10, t=50, b=10))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(tickvals=[h * (i + 0.5) for i in range(len(names))], ticktext=names)
    return fig


def benchmark_figure(raw, probes, *, value_label: str = "test accuracy",
                     title: str = "Probe accuracy on the test split (mean ± std over seeds)"):
    """Probe scores (mean ± std over seeds): one panel per (dataset, probe), one row per entry.

    Each entry's posterior mean (blue) and informative embedding (-X, orange) share its row;
    baselines are grey. Rows are ordered as the entries first appear in ``raw``.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    df = raw[raw["metric"].isin(probes)]
    stats = df.groupby(["dataset", "metric", "embedding", "entry"])["value"].agg(["mean", "std"]).reset_index()
    stats["std"] = stats["std"].fillna(0)
    datasets = list(dict.fromkeys(df["dataset"]))
    probes = [p for p in probes if p in set(df["metric"])]
    entries = list(dict.fromkeys(df["entry"]))
    # one dataset: panels titled by probe, the dataset in the figure title; several: two-line titles
    # (a "dataset · probe" line is wider than a panel and ran into its neighbour)
    panel_titles = (list(probes) if len(datasets) == 1 else
                    [f"{d}<br>{p}" for d in datasets for p in probes])
    if len(datasets) == 1:
        title = f"{datasets[0]}: {title[0].lower()}{title[1:]}"
    fig = make_subplots(rows=len(datasets), cols=len(probes), shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=0.1, subplot_titles=panel_titles)
    styles = {"mean": (PALETTE[0], "mean (mu)"), "informative": (PALETTE[1], "-X (informative)"),
              "baseline": (PALETTE[7], "baseline")}
    for i, d in enumerate(datasets):
        for j, p in enumerate(probes):
            for kind, (color, name) in styles.items():
                s = stats[(stats["dataset"] == d) & (stats["metric"] == p) & (stats["embedding"] == kind)]
                if not len(s):
                    continue
                fig.add_trace(go.Scatter(x=s["mean"], y=s["entry"], error_x=dict(array=s["std"]), mode="markers",
                                         marker=dict(color=color, size=8, opacity=0.85), name=name, legendgroup=kind,
                                         showlegend=(i == 0 and j == 0)), row=i + 1, col=j + 1)
    fig.update_yaxes(categoryorder="array", categoryarray=entries[::-1], dtick=1)
    fig.update_xaxes(title_text=value_label, row=len(datasets))
    fig.update_layout(height=160 + (60 + 22 * len(entries)) * len(datasets), title=title, margin=dict(t=110),
                      legend=dict(orientation="h", yanchor="bottom", y=1.06, xanchor="right", x=1))
    return fig


def history_figure(history, terms=None, *, title: str = "Training terms per epoch"):
    """Line plot of the per-epoch terms of a training ``history`` table (one panel per term)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    skip = {"epoch", "step", "seconds", "samples_per_s"}
    terms = terms or [c for c in history.columns if c not in skip]
    fig = make_subplots(rows=1, cols=len(terms), subplot_titles=terms)
    for j, t in enumerate(terms):
        fig.add_trace(go.Scatter(x=history["epoch"], y=history[t], mode="lines+markers", showlegend=False),
                      row=1, col=j + 1)
    fig.update_layout(title=title, height=300)
    return fig


def sweep_figure(table, probes=("knn-cosine", "linear"), *, title: str = ""):
    """Accuracy against batch size (log axis), mean ± std over seeds, one line per variant."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(probes), subplot_titles=[f"{p} probe" for p in probes])
    for v_i, (variant, block) in enumerate(table.groupby("variant", sort=False)):
        stats = block.groupby("batch_size")[list(probes)].agg(["mean", "std"]).fillna(0)
        for j, p in enumerate(probes):
            fig.add_trace(go.Scatter(x=stats.index, y=stats[(p, "mean")], error_y=dict(array=stats[(p, "std")]),
                                     mode="lines+markers", name=variant, legendgroup=variant,
                                     line=dict(color=PALETTE[v_i % 10]), showlegend=j == 0), row=1, col=j + 1)
    sizes = sorted(table["batch_size"].unique())
    fig.update_xaxes(type="log", title="batch size", tickvals=sizes, ticktext=[str(b) for b in sizes])
    fig.update_yaxes(title="test accuracy", col=1)
    fig.update_layout(title=title or "Batch-size sensitivity (mean ± std over seeds)", height=420)
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
        for label, values, color in [("same class", within, PALETTE[2]), ("different class", between, PALETTE[3])]:
            fig.add_trace(go.Histogram(x=_np(values), name=label, legendgroup=label, showlegend=j == 0,
                                       marker_color=color, opacity=0.6, xbins=dict(start=-1, end=1, size=0.04),
                                       histnorm="probability density"), row=1, col=j + 1)
    fig.update_layout(barmode="overlay", title=title, height=350)
    fig.update_xaxes(range=[-1, 1], title="cosine similarity")
    return fig
