"""Latent-explorer callbacks, tested directly over a grid of slider values."""

import itertools

import numpy as np
import pytest
import torch

from cmim_lab.config import TrainConfig
from cmim_lab.notebook.widgets import (
    ExplorerState,
    LatentExplorer,
    code_from_sliders,
    decode_image,
    image_png,
    interpolate,
    principal_frame,
)


def build_model(shape, **fields):
    """A fresh model for samples of ``shape``; TrainConfig's defaults for every field not given."""
    return TrainConfig(**fields).build_model(shape)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {
        "a": build_model((1, 28, 28), latent_dim=6, hidden_sizes=(32,)),
        "b": build_model((1, 28, 28), latent_dim=3, hidden_sizes=(16,)),
    }


@pytest.fixture(scope="module")
def images():
    return torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_principal_frame_is_orthonormal_and_ordered():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(500, 5, generator=g) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1])
    f = principal_frame(mu, k=3)
    torch.testing.assert_close(f.directions @ f.directions.T, torch.eye(3), atol=1e-5, rtol=0)
    assert f.scales[0] > f.scales[1] > f.scales[2]
    assert float(f.scales[0]) == pytest.approx(5.0, rel=0.1)  # std along the first direction
    assert principal_frame(mu, k=99).directions.shape == (5, 5)  # capped at d
    with pytest.raises(ValueError, match="codes"):
        principal_frame(torch.randn(1, 5))


def test_sliders_move_the_code_by_the_stated_amount():
    mu = torch.randn(200, 4, generator=torch.Generator().manual_seed(2))
    f = principal_frame(mu, k=2)
    base = mu[0]
    z = code_from_sliders(base, f, [1.5, -2.0])
    delta = z - base
    torch.testing.assert_close(delta @ f.directions[0], 1.5 * f.scales[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(delta @ f.directions[1], -2.0 * f.scales[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(code_from_sliders(base, f, [0.0, 0.0]), base)
    with pytest.raises(ValueError, match="expected 2 slider values"):
        code_from_sliders(base, f, [1.0])


def test_interpolation_end_points_and_bounds():
    a, b = torch.zeros(3), torch.ones(3)
    torch.testing.assert_close(interpolate(a, b, 0.0), a)
    torch.testing.assert_close(interpolate(a, b, 1.0), b)
    torch.testing.assert_close(interpolate(a, b, 0.25), torch.full((3,), 0.25))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate(a, b, 1.5)


def test_decoded_images_and_png_bytes(models):
    img = decode_image(models["a"], torch.zeros(6))
    assert img.shape == (28, 28) and 0 <= img.min() and img.max() <= 1
    png = image_png(img, scale=4)
    assert png.startswith(b"\x89PNG") and len(png) > 100
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (112, 112)


@pytest.mark.parametrize("method", ["a", "b"])
def test_every_slider_grid_point_decodes_a_valid_distinct_image(models, images, method):
    state = ExplorerState(models, images, k=2)
    grid = [-3.0, -1.0, 0.0, 1.0, 3.0]
    seen = {}
    for v in itertools.product(grid, grid):
        img = state.slider_image(method, 5, list(v))
        assert img.shape == (28, 28) and np.isfinite(img).all() and 0 <= img.min() and img.max() <= 1
        seen[v] = img
    assert not np.allclose(seen[(-3.0, 0.0)], seen[(3.0, 0.0)])  # the first slider matters
    # interpolation grid: end points decode the codes of the two images
    for t in np.linspace(0, 1, 5):
        img = state.interpolation_image(method, 3, 7, float(t))
        assert np.isfinite(img).all()
    start = decode_image(models[method], state.codes(method)[3])
    assert np.allclose(state.interpolation_image(method, 3, 7, 0.0), start)


def test_state_rejects_bad_indices_and_methods(models, images):
    state = ExplorerState(models, images, k=2)
    with pytest.raises(ValueError, match="outside 0..39"):
        state.slider_image("a", 40, [0, 0])
    with pytest.raises(ValueError, match="unknown method 'c'"):
        state.slider_image("c", 0, [0, 0])
    with pytest.raises(ValueError, match="at least one model"):
        ExplorerState({}, images)


def test_widget_ui_updates_image_and_readout(models, images):
    ui = LatentExplorer(models, images, k=2)
    first, label = ui.image.value, ui.readout.value
    ui.sliders[0].value = 2.0
    assert ui.image.value != first and ui.readout.value != label and "PC1=+2.0" in ui.readout.value
    ui.sliders[0].value = 0.0
    assert ui.image.value == first
    before = ui.interp_image.value
    ui.t.value = 1.0
    assert ui.interp_image.value != before
    ui.method.value = "b"  # switching models redraws both panels
    assert "b ·" in ui.readout.value and "b ·" in ui.interp_readout.value
    ui.base.value = 12
    assert "image 12" in ui.readout.value


def _pca(codes):
    """A fast, deterministic 2-D projection for the map (UMAP is what the notebook uses)."""
    return ((codes - codes.mean(0)) @ principal_frame(codes, k=2).directions.T).numpy()


LABELS = torch.arange(40) % 4
CLASSES = ["zero", "one", "two", "three"]


@pytest.fixture
def ui(models, images):
    return LatentExplorer(models, images, k=2, labels=LABELS, classes=CLASSES, show_map=True, project=_pca)


def test_the_boxes_accept_exactly_the_images_on_the_map(ui, images):
    state = ui.state
    fig = state.map_figure("a")
    hover = [text for trace in fig.data for text in trace.text]
    assert sum(len(trace.x) for trace in fig.data) == state.n_images == len(images) == 40
    assert sorted(int(t.split(":")[0].split()[1]) for t in hover) == list(range(40))  # hover: every index once
    for box in (ui.base, ui.index_a, ui.index_b):
        assert "0–39" in box.description
    ui.base.value = 39  # the last point on the map
    assert ui.readout.value.startswith("a · image 39 · ")
    shown = ui.image.value
    ui.base.value = 40  # one past it: reported, never clamped to 39
    assert "image index 40 is outside 0..39" in ui.readout.value and ui.image.value == shown
    ui.index_b.value = -1
    assert "image index -1 is outside 0..39" in ui.interp_readout.value


def test_the_map_follows_the_method_selector(ui):
    assert ui.map_method == "a" and ui.state.has_map("a") and not ui.state.has_map("b")
    ui.method.value = "b"
    assert ui.map_method == "b" and ui.state.has_map("b")
    codes_b = ui.state.codes("b")
    np.testing.assert_allclose(ui.state.map_coords("b"), _pca(codes_b), rtol=1e-5, atol=1e-5)  # b's codes, not a's
    assert "b: codes of the explorer's 40 images" in ui.state.map_figure("b").layout.title.text


def test_the_original_image_and_its_class_sit_next_to_the_decoded_one(ui, images):
    from cmim_lab.notebook.widgets import as_image

    ui.base.value = 6
    assert ui.original.value == image_png(as_image(images[6]), ui.scale)
    assert ui.caption.value == "original: image 6: two"  # 6 % 4 = 2
    ui.index_a.value, ui.index_b.value = 3, 5
    assert ui.original_a.value == image_png(as_image(images[3]), ui.scale)
    assert ui.original_b.value == image_png(as_image(images[5]), ui.scale)
    assert ui.interp_caption.value == "A = image 3: three; B = image 5: one"


def test_labels_must_match_the_images(models, images):
    with pytest.raises(ValueError, match="one entry per image: 39 labels for 40 images"):
        ExplorerState(models, images, labels=LABELS[:39])
