"""Figures: static export, its fallback, the figure builders on small inputs, and the kit's
figure style (one colour per method, human labels, seeds in error bars, off-scale points)."""

import base64

import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab.notebook import viz


@pytest.fixture
def fresh_static(monkeypatch):
    """Static export as in a new process: untried, no server."""
    from cmim_lab.notebook import static_figures

    monkeypatch.setattr(static_figures, "_state", {"problem": None, "server": True})  # server: never start one
    return static_figures


def _no_browser(monkeypatch):
    import plotly.io as pio

    def broken(*a, **k):
        raise RuntimeError(
            "\n\nKaleido requires Google Chrome to be installed.\n\nEither download ...\n\n    $ plotly_get_chrome\n\n"
        )

    monkeypatch.setattr(pio, "to_image", broken)


def test_without_a_browser_one_line_once_and_no_stray_html(tmp_path, monkeypatch, capsys, fresh_static):
    import plotly.graph_objects as go

    _no_browser(monkeypatch)
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    assert viz.save_figure(fig, tmp_path / "figures" / "a", html_fallback=False) == []  # figures/: nothing
    assert viz.save_figure(fig, tmp_path / "run" / "b") == [tmp_path / "run" / "b.html"]  # a run folder: HTML
    assert (tmp_path / "run" / "b.html").stat().st_size > 0 and not (tmp_path / "figures").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Chrome/Chromium found" in err and "apt install chromium" in err
    assert fresh_static.static_export_problem() == "no Chrome/Chromium found for kaleido"


def test_save_figure_writes_the_png_kaleido_renders(tmp_path, monkeypatch, fresh_static):
    import plotly.graph_objects as go
    import plotly.io as pio

    seen = {}
    monkeypatch.setattr(pio, "to_image", lambda fig, **kw: seen.update(kw) or b"\x89PNG fake")
    assert viz.save_figure(go.Figure(), tmp_path / "f", width=700, height=300, scale=2) == [tmp_path / "f.png"]
    assert (tmp_path / "f.png").read_bytes() == b"\x89PNG fake"
    assert seen == {"format": "png", "width": 700, "height": 300, "scale": 2}


def test_notebook_figures_carry_a_png_beside_the_interactive_json(monkeypatch, capsys, fresh_static):
    import plotly.graph_objects as go
    import plotly.io as pio

    from cmim_lab.notebook.static_figures import NOTEBOOK_RENDERERS, RENDERER, _png_renderer

    monkeypatch.setitem(pio.renderers._renderers, RENDERER, _png_renderer())
    monkeypatch.setattr(pio, "to_image", lambda fig, **kw: b"\x89PNG fake")
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    bundle = pio.renderers._build_mime_bundle(fig.to_dict(), NOTEBOOK_RENDERERS)
    assert set(bundle) == {"application/vnd.plotly.v1+json", "image/png"}
    assert base64.b64decode(bundle["image/png"]) == b"\x89PNG fake"
    _no_browser(monkeypatch)
    fresh_static._state["problem"] = None
    for _ in range(3):  # without a browser: the interactive figure alone, and one line for all three
        assert set(pio.renderers._build_mime_bundle(fig.to_dict(), NOTEBOOK_RENDERERS)) == {
            "application/vnd.plotly.v1+json"
        }
    assert capsys.readouterr().err.count("static figure images are off") == 1


def test_the_static_renderer_is_set_only_in_a_kernel():
    from cmim_lab.notebook.static_figures import use_static_renderer

    assert use_static_renderer() is False  # plain Python: plotly's defaults are left alone


def test_tile_and_image_rows():
    imgs = torch.rand(5, 1, 4, 4)
    canvas = viz.tile(imgs, ncols=3)
    assert canvas.shape == (8, 12)
    np.testing.assert_allclose(canvas[:4, 4:8], imgs[1, 0].numpy())
    fig = viz.image_rows({"a": imgs, "b": imgs})
    assert fig.layout.yaxis.ticktext == ("a", "b")


def test_umap_gives_two_coordinates_per_code():
    z = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
    assert viz.umap_2d(z, n_neighbors=5).shape == (60, 2)  # never assert on the coordinates themselves


def _points(fig, symbol=None):
    """(entry, x, colour) of every plotted point of a benchmark figure (legend stand-ins left out)."""
    return [
        (t.y[0], t.x[0], t.marker.color)
        for t in fig.data
        if t.x and t.x[0] is not None and (symbol is None or t.marker.symbol == symbol)
    ]


def test_figure_builders_accept_kit_tables():
    raw = pd.DataFrame(
        [
            dict(dataset="d", metric="knn-cosine", embedding=e, entry=m, value=v, seed=s)
            for e in ("mean", "informative")
            for m in ("a", "b")
            for s, v in enumerate([0.5, 0.6])
        ]
    )
    fig = viz.benchmark_figure(raw, ["knn-cosine"])
    assert {t.name for t in fig.data if t.showlegend is not False} == {
        "posterior mean (μ)",
        "informative embedding (-X)",
    }
    assert sorted(e for e, _, _ in _points(fig, "diamond")) == ["a", "b"]  # -X shares its entry's row
    assert all(x == pytest.approx(0.55) for _, x, _ in _points(fig))
    table = pd.DataFrame(
        [
            dict(variant=v, batch_size=b, seed=s, **{"knn-cosine": 0.5, "linear": 0.6})
            for v in ("x", "y")
            for b in (32, 64)
            for s in (0, 1)
        ]
    )
    assert len(viz.sweep_figure(table).data) == 4
    w, b = np.array([0.9, 0.8]), np.array([0.1, -0.2])
    assert len(viz.cosine_histograms({"m": (w, b)}).data) == 2


def _fits(fig, width=900, char=0.55):
    """Every subplot title's longest line fits its panel when the figure is saved ``width``
    pixels wide (about ``char`` em per character): neighbouring titles cannot collide."""
    panels = {
        (a, b)
        for a, b in ((fig.layout[k].domain[0], fig.layout[k].domain[1]) for k in fig.layout if k.startswith("xaxis"))
    }
    margins = (fig.layout.margin.l or 80) + (fig.layout.margin.r or 80)  # plotly's defaults: 80 px each
    panel_px = min(b - a for a, b in panels) * (width - margins)
    longest = max(len(line) for a in fig.layout.annotations for line in a.text.split("<br>"))
    size = fig.layout.annotations[0].font.size or 16  # plotly's subplot-title size
    return longest * char * size <= panel_px, (longest, panel_px)


def test_subplot_titles_fit_their_panels():
    rows = [
        dict(dataset=d, metric=p, embedding="mean", entry="a", value=0.5, seed=0)
        for d in ("fashion-mnist", "mnist-5k")
        for p in ("knn-euclidean", "knn-cosine", "linear", "mlp")
    ]
    one = viz.benchmark_figure(pd.DataFrame(rows[:4]), ["knn-euclidean", "knn-cosine", "linear", "mlp"])
    assert [a.text for a in one.layout.annotations] == ["kNN (Euclidean)", "kNN (cosine)", "linear probe", "MLP probe"]
    assert one.layout.title.text.startswith("fashion-mnist: probe accuracy")
    two = viz.benchmark_figure(pd.DataFrame(rows), ["knn-euclidean", "knn-cosine", "linear", "mlp"])
    assert [a.text for a in two.layout.annotations][:2] == [
        "fashion-mnist<br>kNN (Euclidean)",
        "fashion-mnist<br>kNN (cosine)",
    ]
    history = pd.DataFrame(
        {
            "epoch": [1, 2],
            "loss": [3.0, 2.0],
            "recon_nll": [2.0, 1.5],
            "log_q": [1.0, 2.0],
            "log_p": [-3.0, -2.0],
            "contrastive": [0.1, 0.05],
        }
    )
    sweep = pd.DataFrame(
        [dict(variant="cmim[sum]", batch_size=b, seed=0, **{"knn-cosine": 0.5, "linear": 0.6}) for b in (32, 64)]
    )
    for fig in (
        one,
        two,
        viz.history_figure(history),
        viz.sweep_figure(sweep),
        viz.mean_vs_x_figure(_compare_table(), ["knn-euclidean", "knn-cosine", "linear", "mlp"]),
    ):
        ok, detail = _fits(fig)
        assert ok, f"{fig.layout.title.text}: longest title line {detail[0]} characters for {detail[1]:.0f} px"


def _compare_table(seeds=(0,)):
    """A table shaped like compare()'s: one row per (method, seed), both embeddings, four probes."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        [
            {
                "label": m,
                "seed": s,
                **{
                    f"{e}/{p}": 0.8 + 0.05 * rng.random()
                    for e in ("mean", "informative")
                    for p in ("knn-euclidean", "knn-cosine", "linear", "mlp")
                },
            }
            for m in ("vae", "mim", "cmim")
            for s in seeds
        ]
    )


def _trace_colors(fig) -> dict:
    """{trace name: line or marker colour} of a figure's named traces."""
    out = {}
    for t in fig.data:
        color = (t.line.color if getattr(t, "line", None) is not None and t.line.color else None) or t.marker.color
        if t.name and isinstance(color, str):
            out[t.name] = color
    return out


def test_one_colour_per_method_across_figures():
    from cmim_lab.notebook.figure_style import METHOD_COLORS, method_color, series_style

    sweep = pd.DataFrame(
        [
            dict(variant=v, batch_size=b, seed=s, **{"knn-cosine": 0.5, "linear": 0.6})
            for v in ("cmim[sum]", "cmim[normalised]", "mim[normalised]", "infonce[pure]")
            for b in (32, 64)
            for s in (0, 1)
        ]
    )
    in_sweep = _trace_colors(viz.sweep_figure(sweep))
    units = pd.DataFrame([dict(method=m, latent_dim=d, active_units=d) for m in ("VAE", "MIM") for d in (2, 8)])
    in_units = _trace_colors(viz.active_units_figure(units))
    raw = pd.DataFrame(
        [
            dict(dataset="d", metric="linear", embedding=e, entry=m, value=0.9, seed=0)
            for e in ("mean", "informative")
            for m in ("mim[sum]", "cmim[normalised]")
        ]
    )
    in_benchmark = {e: c for e, _, c in _points(viz.benchmark_figure(raw, ["linear"]))}
    # the same method has the same colour in every figure and every variant ...
    assert in_sweep["mim[normalised]"] == in_units["MIM"] == in_benchmark["mim[sum]"] == METHOD_COLORS["mim"]
    assert in_sweep["cmim[sum]"] == in_sweep["cmim[normalised]"] == in_benchmark["cmim[normalised]"]
    assert in_sweep["cmim[sum]"] == in_benchmark["cmim[normalised]"] == method_color("cmim[sum]-X")
    # ... different methods differ, and the variant shows in the dash instead
    assert len(set(METHOD_COLORS.values())) == len(METHOD_COLORS)
    assert in_sweep["infonce[pure]"] != in_sweep["cmim[sum]"] != in_units["MIM"]
    assert series_style("cmim[sum]")["dash"] != series_style("cmim[normalised]")["dash"]
    assert (
        series_style("cmim[sum]-X")["symbol"] == "diamond"
        and series_style("pixels", 0)["color"] not in METHOD_COLORS.values()
    )
    with pytest.raises(ValueError, match="names no method; methods with a colour: vae, cvae, mim, cmim, infonce"):
        method_color("pixels")


RAW_NAMES = (
    "mean/knn-cosine",
    "active_units",
    "latent_dim",
    "label",
    "recon_nll",
    "final_contrastive",
    "contrastive_weight",
    "batch_size",
    "knn-cosine",
    "log_q",
)


def _texts(fig) -> list[str]:
    """Every axis title, subplot title and legend title of a figure."""
    out = [a.text for a in fig.layout.annotations or ()]
    for key in fig.layout:
        if key.startswith(("xaxis", "yaxis")) and fig.layout[key].title.text:
            out.append(fig.layout[key].title.text)
    if fig.layout.legend.title.text:
        out.append(fig.layout.legend.title.text)
    return out


def test_axes_are_labelled_in_words_with_units():
    from cmim_lab.notebook.figure_style import axis_label

    assert axis_label("mean/knn-cosine") == "test accuracy, kNN (cosine) on μ"
    assert axis_label("active_units") == "active units (Var_x[μ_j] > 0.01)"
    assert axis_label("recon_nll") == "test reconstruction NLL (nats/image)"
    assert axis_label("final_contrastive") == "final contrastive term (nats)"
    assert axis_label("label") == "model" and axis_label("some_new_column") == "some new column"
    ablation = pd.DataFrame(
        [
            dict(
                label=f"cmim[{r}] tau={t}",
                variant=f"cmim[{r}]",
                temperature=t,
                contrastive_weight=w,
                final_contrastive=0.1,
                **{"mean/knn-cosine": 0.8},
            )
            for r in ("sum", "normalised")
            for t in (0.1, 0.5)
            for w in (1.0, 10.0)
        ]
    )
    history = pd.DataFrame({"epoch": [1, 2], "recon_nll": [2.0, 1.5], "log_q": [1.0, 2.0]})
    units = pd.DataFrame([dict(method="VAE", latent_dim=d, active_units=d) for d in (2, 8)])
    sweep = pd.DataFrame(
        [dict(variant="mim[sum]", batch_size=b, seed=0, **{"knn-cosine": 0.5, "linear": 0.6}) for b in (32, 64)]
    )
    figures = [
        viz.line_figure(ablation, "temperature", "mean/knn-cosine", "variant", log_x=True),
        viz.line_figure(ablation, "contrastive_weight", "final_contrastive", "variant"),
        viz.history_figure(history),
        viz.active_units_figure(units),
        viz.sweep_figure(sweep),
        viz.mean_vs_x_figure(_compare_table(), ["knn-cosine", "linear"]),
    ]
    for fig in figures:
        texts = _texts(fig)
        assert texts, fig.layout.title.text
        raw = [t for t in texts if t in RAW_NAMES or "_" in t.replace("Var_x[μ_j]", "")]
        assert not raw, f"raw column names on {fig.layout.title.text!r}: {raw}"
    assert "test accuracy, kNN (cosine) on μ" in _texts(figures[0])
    assert "latent size (dimensions)" in _texts(figures[3])


def test_error_bars_say_over_how_many_seeds():
    sweep = pd.DataFrame(
        [
            dict(variant="cmim[sum]", batch_size=b, seed=s, **{"knn-cosine": 0.5 + s / 100, "linear": 0.6})
            for b in (32, 64)
            for s in (0, 1, 2)
        ]
    )
    fig = viz.sweep_figure(sweep, title="a sweep")
    assert fig.layout.title.text == "a sweep (mean ± std over 3 seeds)"
    assert fig.data[0].error_y.array[0] == pytest.approx(np.std([0.5, 0.51, 0.52], ddof=1))
    raw = pd.DataFrame(
        [
            dict(dataset="d", metric="linear", embedding="mean", entry="mim[sum]", value=v, seed=s)
            for s, v in enumerate([0.8, 0.9])
        ]
        + [dict(dataset="d", metric="linear", embedding="baseline", entry="pixels", value=0.7, seed=0)]
    )
    assert viz.benchmark_figure(raw, ["linear"]).layout.title.text.endswith(
        "(mean ± std over 2 seeds; baselines: one run)"
    )
    # the molecule benchmark: models over model seeds × split seeds, fingerprints over split seeds
    runs = pd.DataFrame(
        [
            dict(dataset="d", metric="ridge", embedding="mean", entry="cmim", value=v, seed=s)
            for s, v in enumerate(np.linspace(1.0, 1.2, 9))
        ]
        + [
            dict(dataset="d", metric="ridge", embedding="baseline", entry="ecfp4", value=v, seed=s)
            for s, v in enumerate([1.1, 1.15, 1.2])
        ]
    )
    title = viz.benchmark_figure(
        runs, ["ridge"], spread_over="runs (model seeds × split seeds)", baseline_spread_over="split seeds"
    ).layout.title.text
    assert title.endswith(
        "mean ± std over 9 runs (model seeds × split seeds); baselines: mean ± std over 3 split seeds</sup>"
    )
    table = _compare_table(seeds=(0, 1, 2, 3))
    assert "(mean ± std over 4 seeds)" in viz.mean_vs_x_figure(table, ["linear"]).layout.title.text
    units = pd.DataFrame(
        [
            dict(method=m, latent_dim=d, seed=s, active_units=d - s)
            for m in ("vae", "mim")
            for d in (2, 8)
            for s in range(4)
        ]
    )
    one = viz.line_figure(units[units["seed"] == 0], "latent_dim", "active_units", "method", title="one seed")
    assert one.layout.title.text == "one seed" and not any(t.error_y.visible for t in one.data)
    four = viz.line_figure(units, "latent_dim", "active_units", "method", title="four")
    assert four.layout.title.text == "four (mean ± std over 4 seeds)" and all(t.error_y.visible for t in four.data)
    assert list(four.data[0].y) == [0.5, 6.5]


def test_off_scale_labels_leave_the_on_scale_points_uncovered_and_long_titles_wrap():
    """An entry with its mean off scale but its -X on scale (the molecule benchmark's VAE):
    the label written beside the edge marker ends before the panel's on-scale points, at the
    width the molecule figure is saved (1,300 px, four panels); a long note wraps."""
    rows = [
        dict(dataset="esol", metric="ridge", embedding=e, entry=m, value=v + 0.01 * s, seed=s)
        for m, e, v in (
            ("vae[sum]", "mean", 1.86),
            ("vae[sum]", "informative", 1.56),
            ("mim[sum]", "mean", 1.52),
            ("mim[sum]", "informative", 1.43),
            ("cmim[sum]", "mean", 1.51),
            ("infonce[sum]", "informative", 1.41),
        )
        for s in range(9)
    ] + [
        dict(dataset="esol", metric="ridge", embedding="baseline", entry="ecfp4", value=1.46 + 0.01 * s, seed=s)
        for s in range(3)
    ]
    probes = ["knn-euclidean", "knn-cosine", "ridge", "mlp"]
    raw = pd.DataFrame([{**r, "metric": p, "dataset": d} for r in rows for p in probes for d in ("esol", "freesolv")])
    fig = viz.benchmark_figure(
        raw,
        probes,
        value_label="test RMSE",
        spread_over="runs (model seeds × split seeds)",
        title="Probe test RMSE, lower is better",
    )  # as cmim_lab.molecules.benchmark
    lo, hi = fig.layout.xaxis.range
    label = next(t for t in fig.data if t.mode == "markers+text" and t.xaxis in (None, "x"))
    on_scale = max(
        t.x[0] + t.error_x.array[0]
        for t in fig.data  # each on-scale point's right error bar
        if t.mode == "markers" and t.x and t.x[0] is not None and t.xaxis in (None, "x")
    )
    panel_px = (fig.layout.xaxis.domain[1] - fig.layout.xaxis.domain[0]) * (1300 - 160)  # saved 1,300 wide
    text_px = len(label.text[0]) * 0.6 * 11 + 12  # characters at font size 11, and the triangle
    assert label.x[0] - text_px * (hi - lo) / panel_px > on_scale, (label.text, lo, hi)
    assert "<br><sup>mean ± std over 9 runs" in fig.layout.title.text  # the long note on its own line
    short = viz.benchmark_figure(raw[raw["metric"] == "ridge"], ["ridge"])
    assert "<br>" not in short.layout.title.text


def test_off_scale_mask_closed_cases():
    assert viz.off_scale_mask([0.9, 0.92, 0.3, 0.91]).tolist() == [False, False, True, False]
    assert viz.off_scale_mask([0.9, 0.92, 0.3, 0.91], None).tolist() == [False] * 4
    assert viz.off_scale_mask([2.0, 2.1, 9.0], 0.5).tolist() == [False, False, True]  # RMSE: off above too
    assert viz.off_scale_mask([0.8, 0.85, 0.9]).tolist() == [False] * 3


def test_collapsed_models_do_not_stretch_the_benchmark_axes():
    rows = [
        dict(dataset="d", metric="linear", embedding="mean", entry=e, value=v + s / 100, seed=s)
        for e, v in (("mim[sum]", 0.93), ("cmim[sum]", 0.94), ("vae[normalised]", 0.30))
        for s in (0, 1)
    ]
    fig = viz.benchmark_figure(pd.DataFrame(rows), ["linear"])
    lo, hi = fig.layout.xaxis.range
    assert 0.85 < lo < 0.93 and 0.95 < hi < 1.0, (lo, hi)  # the axis spans the working models only
    off = [t for t in fig.data if t.text and t.y[0] == "vae[normalised]"]
    assert len(off) == 1 and off[0].text[0] == "μ 0.30" and off[0].marker.symbol == "triangle-left"
    assert off[0].x[0] >= lo and off[0].cliponaxis is False  # drawn inside the panel, on its edge
    assert "off scale (its values written beside it)" in {t.name for t in fig.data}
    every = viz.benchmark_figure(pd.DataFrame(rows), ["linear"], off_scale=None)
    assert every.layout.xaxis.range[0] < 0.3 and not any(t.text for t in every.data)


def test_log_axes_tick_at_the_values_shown():
    units = pd.DataFrame(
        [dict(method=m, latent_dim=d, active_units=min(d, 10)) for m in ("VAE", "MIM") for d in (2, 4, 8, 16, 32, 64)]
    )
    fig = viz.active_units_figure(units)
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [2, 4, 8, 16, 32, 64]
    assert list(fig.layout.xaxis.ticktext) == ["2", "4", "8", "16", "32", "64"]
    assert "all units active" in {t.name for t in fig.data}


def test_reference_lines_match_their_method_and_convention_with_a_legend():
    from cmim_lab.notebook.figure_style import METHOD_COLORS

    temp = pd.DataFrame(
        [
            dict(variant=f"cmim[{r}]", temperature=t, **{"mean/knn-cosine": 0.8})
            for r in ("sum", "normalised")
            for t in (0.05, 0.1, 0.5, 1.0)
        ]
    )
    fig = viz.line_figure(
        temp,
        "temperature",
        "mean/knn-cosine",
        "variant",
        log_x=True,
        references={"mim[sum]": 0.79, "mim[normalised]": 0.78},
    )
    refs = {t.name: t for t in fig.data if t.name.endswith("(reference)")}
    assert set(refs) == {"mim[sum] (reference)", "mim[normalised] (reference)"}
    lines = {t.name: t for t in fig.data}
    for r in ("sum", "normalised"):
        ref = refs[f"mim[{r}] (reference)"]
        assert ref.showlegend is not False and ref.line.color == METHOD_COLORS["mim"]
        assert ref.line.dash == lines[f"cmim[{r}]"].line.dash  # the convention pairs a line with its reference
        assert list(ref.y) == [0.79 if r == "sum" else 0.78] * 2 and list(ref.x) == [0.05, 1.0]
    assert lines["cmim[sum]"].line.dash != lines["cmim[normalised]"].line.dash


def test_molecule_maps_clip_the_colour_scale_and_name_the_property():
    from cmim_lab.molecules.viz import property_map

    values = np.r_[np.linspace(-3, 1, 99), 40.0]  # one outlier
    coords = np.random.default_rng(0).normal(size=(100, 2))
    fig = property_map(coords, values, units="log10(mol/L)", name="log solubility")
    marker = fig.data[0].marker
    assert marker.cmin == pytest.approx(np.percentile(values, 2))
    assert marker.cmax == pytest.approx(np.percentile(values, 98))
    assert marker.cmax < 2  # the outlier no longer sets the top of the scale
    assert (
        marker.colorbar.title.text.startswith("log solubility (log10(mol/L))")
        and "clipped" in marker.colorbar.title.text
    )
    assert property_map(coords, values, clip=None).data[0].marker.cmax == 40.0
    with pytest.raises(ValueError, match="clip must be two percentiles"):
        property_map(coords, values, clip=(98, 2))


@pytest.mark.parametrize(
    "env, expected", [({"OMP_NUM_THREADS": "1"}, 1), ({"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}, 2)]
)
def test_umap_sizes_numbas_threads_like_torchs(env, expected):
    """An OpenMP pool of numba larger than torch's left a worker spinning after each torch
    operation (a training loop 25x slower after the first UMAP under OMP_NUM_THREADS=1); a
    user's own NUMBA_NUM_THREADS is kept."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, torch; from cmim_lab import viz; "
        "viz.umap_2d(np.random.default_rng(0).random((40, 3)), n_neighbors=5); "
        "import numba; print(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    torch_threads, numba_threads = map(int, out.stdout.split()[-2:])
    assert numba_threads == expected and (torch_threads == expected or "NUMBA_NUM_THREADS" in env)
