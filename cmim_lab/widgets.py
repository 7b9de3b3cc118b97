"""The latent explorer: pure functions that the widgets call, and the ipywidgets UI.

ipywidgets swallows exceptions raised in callbacks that the browser triggers, so every
computation lives in a plain function here and is tested directly; the UI only wires
sliders to them.

Slider semantics: the explorer moves along the top-k principal directions of the test
codes mu (PCA), in units of each direction's standard deviation, starting from the code of
a chosen test image. Interpolation moves from the code of image A to that of image B
(linear, t in [0, 1]).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from .embeddings import embed


@dataclass
class LatentFrame:
    """PCA frame of a set of codes: ``mean`` [d], ``directions`` [k, d] (unit rows), ``scales`` [k]."""
    mean: torch.Tensor
    directions: torch.Tensor
    scales: torch.Tensor


def principal_frame(mu: torch.Tensor, k: int = 4) -> LatentFrame:
    """Top-``k`` principal directions of codes ``mu`` [N, d] (k is capped at d)."""
    if mu.ndim != 2 or len(mu) < 2:
        raise ValueError(f"principal_frame needs codes [N >= 2, d], got shape {tuple(mu.shape)}")
    k = max(1, min(int(k), mu.shape[1]))
    mean = mu.mean(0)
    _, s, v = torch.linalg.svd(mu - mean, full_matrices=False)
    scales = s[:k] / max(len(mu) - 1, 1) ** 0.5
    return LatentFrame(mean, v[:k], scales)


def code_from_sliders(base: torch.Tensor, frame: LatentFrame, values) -> torch.Tensor:
    """z = base + sum_i values[i] * scales[i] * directions[i]; ``base`` [d] -> z [d].

    ``values`` are slider positions in standard deviations along each principal direction.
    """
    values = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if values.shape != (len(frame.scales),):
        raise ValueError(f"expected {len(frame.scales)} slider values, got {tuple(values.shape)}")
    return base + (values * frame.scales) @ frame.directions


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, t: float) -> torch.Tensor:
    """Linear interpolation (1 - t) z_a + t z_b for t in [0, 1]."""
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"interpolation t must lie in [0, 1], got {t}")
    return (1.0 - t) * z_a + t * z_b


@torch.no_grad()
def decode_image(model, z: torch.Tensor) -> np.ndarray:
    """Decoder mean image sigmoid(logits) for one code ``z`` [d]: float array [H, W] in [0, 1]."""
    device = next(model.parameters()).device
    logits = model.decode(z.reshape(1, -1).to(device))
    img = torch.sigmoid(logits)[0].cpu().numpy()
    if img.ndim == 1:  # vector data: show as a square if it is one
        side = int(round(img.size ** 0.5))
        img = img.reshape(side, side) if side * side == img.size else img.reshape(1, -1)
    return img[0] if img.ndim == 3 else img


def image_png(img: np.ndarray, scale: int = 8) -> bytes:
    """PNG bytes of a grey image [H, W] in [0, 1], enlarged ``scale`` times (nearest)."""
    from PIL import Image

    arr = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    pil = Image.fromarray(arr, mode="L").resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


class ExplorerState:
    """Everything the explorer shows, computed without widgets (tested directly).

    ``models``: {name: trained EncoderDecoder}; ``x``: test images [N, *shape] whose codes
    define the PCA frame and the interpolation end points.
    """

    def __init__(self, models: dict, x: torch.Tensor, k: int = 4):
        if not models:
            raise ValueError("the explorer needs at least one model")
        self.models, self.x, self.k = dict(models), x, k
        self._frames, self._codes = {}, {}
        self.method = next(iter(self.models))

    def codes(self, method: str) -> torch.Tensor:
        if method not in self._codes:
            if method not in self.models:
                raise ValueError(f"unknown method {method!r}; the explorer has {sorted(self.models)}")
            self._codes[method] = embed(self.models[method], self.x, "mean")
        return self._codes[method]

    def frame(self, method: str) -> LatentFrame:
        if method not in self._frames:
            self._frames[method] = principal_frame(self.codes(method), self.k)
        return self._frames[method]

    def slider_image(self, method: str, base_index: int, values) -> np.ndarray:
        """Decoded image at the code of test image ``base_index`` moved by the sliders."""
        codes = self.codes(method)
        if not 0 <= base_index < len(codes):
            raise ValueError(f"image index {base_index} is outside 0..{len(codes) - 1}")
        return decode_image(self.models[method], code_from_sliders(codes[base_index], self.frame(method), values))

    def interpolation_image(self, method: str, index_a: int, index_b: int, t: float) -> np.ndarray:
        """Decoded image between the codes of test images ``index_a`` and ``index_b``."""
        codes = self.codes(method)
        for i in (index_a, index_b):
            if not 0 <= i < len(codes):
                raise ValueError(f"image index {i} is outside 0..{len(codes) - 1}")
        return decode_image(self.models[method], interpolate(codes[index_a], codes[index_b], t))


class LatentExplorer:
    """ipywidgets UI over an :class:`ExplorerState`: method selector, k sliders, base image,
    interpolation A -> B, and two decoded images with readouts."""

    def __init__(self, models: dict, x: torch.Tensor, k: int = 4, slider_range: float = 3.0, scale: int = 8):
        import ipywidgets as W

        self.state = ExplorerState(models, x, k)
        self.scale = scale
        n = len(x) - 1
        self.method = W.Dropdown(options=list(models), description="method")
        self.base = W.BoundedIntText(value=0, min=0, max=n, description="image")
        self.sliders = [W.FloatSlider(value=0.0, min=-slider_range, max=slider_range, step=0.1,
                                      description=f"PC{i + 1} (sd)", continuous_update=True)
                        for i in range(len(self.state.frame(self.method.value).scales))]
        self.index_a = W.BoundedIntText(value=0, min=0, max=n, description="A")
        self.index_b = W.BoundedIntText(value=min(1, n), min=0, max=n, description="B")
        self.t = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="A→B t")
        self.image = W.Image(format="png")
        self.interp_image = W.Image(format="png")
        self.readout = W.Label()
        self.interp_readout = W.Label()
        for w in [self.method, self.base, *self.sliders]:
            w.observe(self._update_sliders, names="value")
        for w in [self.method, self.index_a, self.index_b, self.t]:
            w.observe(self._update_interp, names="value")
        self._update_sliders()
        self._update_interp()
        self.widget = W.HBox([
            W.VBox([W.HTML("<b>Move along principal directions</b>"), self.method, self.base, *self.sliders,
                    self.image, self.readout]),
            W.VBox([W.HTML("<b>Interpolate between two test images</b>"), self.index_a, self.index_b, self.t,
                    self.interp_image, self.interp_readout]),
        ])
        self._add_css_classes()

    def _add_css_classes(self):
        """Stable CSS classes (``cmim-*``) on the parts of the UI, for the browser test's selectors."""
        parts = {"cmim-explorer": self.widget, "cmim-method": self.method, "cmim-base": self.base,
                 "cmim-image": self.image, "cmim-readout": self.readout, "cmim-index-a": self.index_a,
                 "cmim-index-b": self.index_b, "cmim-t": self.t, "cmim-interp-image": self.interp_image,
                 "cmim-interp-readout": self.interp_readout}
        parts.update({f"cmim-pc{i + 1}": s for i, s in enumerate(self.sliders)})
        for name, widget in parts.items():
            widget.add_class(name)

    def _update_sliders(self, change=None):
        values = [s.value for s in self.sliders]
        img = self.state.slider_image(self.method.value, self.base.value, values)
        self.image.value = image_png(img, self.scale)
        self.readout.value = f"{self.method.value} · image {self.base.value} · " + ", ".join(
            f"PC{i + 1}={v:+.1f}" for i, v in enumerate(values))

    def _update_interp(self, change=None):
        img = self.state.interpolation_image(self.method.value, self.index_a.value, self.index_b.value,
                                             self.t.value)
        self.interp_image.value = image_png(img, self.scale)
        self.interp_readout.value = (f"{self.method.value} · t={self.t.value:.2f} between images "
                                     f"{self.index_a.value} and {self.index_b.value}")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
