"""Figures: static export, its fallback, and the figure builders on small inputs."""
import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab import viz


def test_save_figure_falls_back_to_html_when_png_export_fails(tmp_path, monkeypatch):
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))

    def broken(*a, **k):
        raise RuntimeError("no browser for kaleido")

    monkeypatch.setattr(go.Figure, "write_image", broken)
    with pytest.warns(UserWarning, match="static PNG export failed"):
        written = viz.save_figure(fig, tmp_path / "fig")
    assert written == [tmp_path / "fig.html"] and (tmp_path / "fig.html").stat().st_size > 0


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


def test_figure_builders_accept_kit_tables():
    raw = pd.DataFrame([dict(dataset="d", metric="knn-cosine", embedding=e, entry=m, value=v, seed=s)
                        for e in ("mean", "informative") for m in ("a", "b") for s, v in enumerate([0.5, 0.6])])
    fig = viz.benchmark_figure(raw, ["knn-cosine"])
    assert {t.name for t in fig.data} == {"mean (mu)", "-X (informative)"}
    assert list(fig.data[1].y) == ["a", "b"] and len(fig.data[1].x) == 2  # -X shares its entry's row
    table = pd.DataFrame([dict(variant=v, batch_size=b, seed=s, **{"knn-cosine": 0.5, "linear": 0.6})
                          for v in ("x", "y") for b in (32, 64) for s in (0, 1)])
    assert len(viz.sweep_figure(table).data) == 4
    w, b = np.array([0.9, 0.8]), np.array([0.1, -0.2])
    assert len(viz.cosine_histograms({"m": (w, b)}).data) == 2


def test_benchmark_panel_titles_fit_their_panels():
    rows = [dict(dataset=d, metric=p, embedding="mean", entry="a", value=0.5, seed=0)
            for d in ("fashion-mnist", "mnist-5k") for p in ("knn-euclidean", "linear")]
    one = viz.benchmark_figure(pd.DataFrame(rows[:2]), ["knn-euclidean", "linear"])
    assert [a.text for a in one.layout.annotations] == ["knn-euclidean", "linear"]
    assert one.layout.title.text.startswith("fashion-mnist: probe accuracy")
    two = viz.benchmark_figure(pd.DataFrame(rows), ["knn-euclidean", "linear"])
    assert [a.text for a in two.layout.annotations][:2] == ["fashion-mnist<br>knn-euclidean", "fashion-mnist<br>linear"]
