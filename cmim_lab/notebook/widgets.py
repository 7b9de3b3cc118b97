"""The latent explorer: pure functions that the widgets call, and the ipywidgets UI.

ipywidgets swallows exceptions raised in callbacks that the browser triggers, so every
computation lives in a plain function here and is tested directly; the UI only wires
sliders to them.

Slider semantics: the explorer moves along the top-k principal directions of the test
codes mu (PCA), in units of each direction's standard deviation, starting from the code of
a chosen test image. Interpolation moves from the code of image A to that of image B
(linear, t in [0, 1]).

One set of images everywhere: the explorer's images ``x`` define the principal directions,
are the ones its index boxes accept (0 .. N-1; an index outside is reported, never clamped)
and are the points of its map, which follows the method selector.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from ..embeddings import embed


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
    return as_image(torch.sigmoid(logits)[0].cpu().numpy())


def as_image(sample) -> np.ndarray:
    """One sample as a grey image [H, W]: [C, H, W] -> its first channel; a vector [D] -> a
    square when D is one, else one row [1, D]."""
    img = sample.detach().cpu().numpy() if isinstance(sample, torch.Tensor) else np.asarray(sample)
    if img.ndim == 1:  # vector data: show as a square if it is one
        side = int(round(img.size**0.5))
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
    define the PCA frame, the interpolation end points and the map's points; ``labels`` [N]
    (class indices) and ``classes`` (their names) caption the images and colour the map;
    ``project``: codes [N, d] -> map coordinates [N, 2] (default
    :func:`cmim_lab.notebook.viz.umap_2d`).
    """

    def __init__(self, models: dict, x: torch.Tensor, k: int = 4, labels=None, classes=None, project=None):
        if not models:
            raise ValueError("the explorer needs at least one model")
        if labels is not None and len(labels) != len(x):
            raise ValueError(f"labels must have one entry per image: {len(labels)} labels for {len(x)} images")
        self.models, self.x, self.k = dict(models), x, k
        self.labels = (
            None
            if labels is None
            else np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(int)
        )
        self.classes = list(classes) if classes is not None else None
        self.project = project
        self._frames, self._codes, self._maps = {}, {}, {}
        self.method = next(iter(self.models))

    @property
    def n_images(self) -> int:
        """N: the images the index boxes accept (0 .. N-1) and the map shows."""
        return len(self.x)

    def check_index(self, index: int) -> int:
        """``index`` if it names one of the explorer's images, else ``ValueError`` giving the
        valid range (the same images as the map's points)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < self.n_images:
            raise ValueError(
                f"image index {index} is outside 0..{self.n_images - 1} (the {self.n_images} images on the map)"
            )
        return int(index)

    def original_image(self, index: int) -> np.ndarray:
        """The explorer's image ``index`` itself, [H, W] (what the decoded images are compared with)."""
        return as_image(self.x[self.check_index(index)])

    def caption(self, index: int) -> str:
        """``image 12: Trouser`` (the class name when labels are known)."""
        index = self.check_index(index)
        if self.labels is None:
            return f"image {index}"
        label = int(self.labels[index])
        name = self.classes[label] if self.classes is not None and 0 <= label < len(self.classes) else str(label)
        return f"image {index}: {name}"

    def map_coords(self, method: str) -> np.ndarray:
        """2-D map coordinates [N, 2] of the codes of every explorer image under ``method``
        (computed once per method)."""
        if method not in self._maps:
            project = self.project
            if project is None:
                from .viz import umap_2d as project
            coords = np.asarray(project(self.codes(method)))
            if coords.shape != (self.n_images, 2):
                raise ValueError(f"the map projection returned shape {coords.shape}, expected ({self.n_images}, 2)")
            self._maps[method] = coords
        return self._maps[method]

    def has_map(self, method: str) -> bool:
        """Whether the map of ``method`` is computed already."""
        return method in self._maps

    def map_figure(self, method: str):
        """The map of ``method``: one point per explorer image, coloured by class, hover =
        ``image <index>: <class>`` (the index to type into the explorer's boxes)."""
        from .viz import scatter_classes

        labels = self.labels if self.labels is not None else np.zeros(self.n_images, dtype=int)
        classes = self.classes if self.classes is not None else [str(c) for c in range(int(labels.max()) + 1)]
        hover = [self.caption(i) for i in range(self.n_images)]
        return scatter_classes(
            self.map_coords(method),
            labels,
            classes,
            hover=hover,
            title=f"{method}: codes of the explorer's {self.n_images} images "
            f"(hover: the index for the image, A and B boxes)",
        )

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
        base = codes[self.check_index(base_index)]
        return decode_image(self.models[method], code_from_sliders(base, self.frame(method), values))

    def interpolation_image(self, method: str, index_a: int, index_b: int, t: float) -> np.ndarray:
        """Decoded image between the codes of test images ``index_a`` and ``index_b``."""
        codes = self.codes(method)
        z_a, z_b = codes[self.check_index(index_a)], codes[self.check_index(index_b)]
        return decode_image(self.models[method], interpolate(z_a, z_b, t))


class LatentExplorer:
    """ipywidgets UI over an :class:`ExplorerState`: method selector, k sliders, base image,
    interpolation A -> B, each decoded image next to the original(s) with their class, and
    (``show_map``) the map of the explorer's images under the selected method.

    The index boxes accept 0 .. N-1 (N = ``len(x)``, the map's point count); an index outside
    leaves the images as they were and says what is valid in the readout."""

    def __init__(
        self,
        models: dict,
        x: torch.Tensor,
        k: int = 4,
        slider_range: float = 3.0,
        scale: int = 8,
        *,
        labels=None,
        classes=None,
        show_map: bool = False,
        project=None,
    ):
        import ipywidgets as W

        self.state = ExplorerState(models, x, k, labels=labels, classes=classes, project=project)
        self.scale = scale
        last = self.state.n_images - 1
        self.method = W.Dropdown(options=list(models), description="method")
        self.base = W.IntText(value=0, description=f"image (0–{last})", style={"description_width": "initial"})
        self.sliders = [
            W.FloatSlider(
                value=0.0,
                min=-slider_range,
                max=slider_range,
                step=0.1,
                description=f"PC{i + 1} (sd)",
                continuous_update=True,
            )
            for i in range(len(self.state.frame(self.method.value).scales))
        ]
        self.index_a = W.IntText(value=0, description=f"A (0–{last})", style={"description_width": "initial"})
        self.index_b = W.IntText(
            value=min(1, last), description=f"B (0–{last})", style={"description_width": "initial"}
        )
        self.t = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="A→B t")
        self.image, self.original = W.Image(format="png"), W.Image(format="png")
        self.interp_image = W.Image(format="png")
        self.original_a, self.original_b = W.Image(format="png"), W.Image(format="png")
        self.readout, self.caption = W.Label(), W.Label()
        self.interp_readout, self.interp_caption = W.Label(), W.Label()
        self.map = W.Output() if show_map else None
        self.map_method = None  # the method the map shows now
        for w in [self.method, self.base, *self.sliders]:
            w.observe(self._update_sliders, names="value")
        for w in [self.method, self.index_a, self.index_b, self.t]:
            w.observe(self._update_interp, names="value")
        if self.map is not None:
            self.method.observe(self._update_map, names="value")
        self._update_sliders()
        self._update_interp()
        self._update_map()
        left = W.VBox(
            [
                W.HTML("<b>Move along principal directions</b>"),
                self.method,
                self.base,
                *self.sliders,
                W.HBox([_titled(W, "original", self.original), _titled(W, "decoded", self.image)]),
                self.caption,
                self.readout,
            ]
        )
        right = W.VBox(
            [
                W.HTML("<b>Interpolate between two test images</b>"),
                self.index_a,
                self.index_b,
                self.t,
                W.HBox(
                    [
                        _titled(W, "A", self.original_a),
                        _titled(W, "decoded", self.interp_image),
                        _titled(W, "B", self.original_b),
                    ]
                ),
                self.interp_caption,
                self.interp_readout,
            ]
        )
        panels = W.HBox([left, right])
        self.widget = W.VBox([panels, self.map]) if self.map is not None else panels
        self._add_css_classes()

    def _add_css_classes(self):
        """Stable CSS classes (``cmim-*``) on the parts of the UI, for the browser test's selectors."""
        parts = {
            "cmim-explorer": self.widget,
            "cmim-method": self.method,
            "cmim-base": self.base,
            "cmim-image": self.image,
            "cmim-readout": self.readout,
            "cmim-index-a": self.index_a,
            "cmim-index-b": self.index_b,
            "cmim-t": self.t,
            "cmim-interp-image": self.interp_image,
            "cmim-interp-readout": self.interp_readout,
            "cmim-original": self.original,
            "cmim-caption": self.caption,
            "cmim-original-a": self.original_a,
            "cmim-original-b": self.original_b,
            "cmim-interp-caption": self.interp_caption,
        }
        parts.update({f"cmim-pc{i + 1}": s for i, s in enumerate(self.sliders)})
        if self.map is not None:
            parts["cmim-map"] = self.map
        for name, widget in parts.items():
            widget.add_class(name)

    def _update_sliders(self, change=None):
        values = [s.value for s in self.sliders]
        try:
            img = self.state.slider_image(self.method.value, self.base.value, values)
            original = self.state.original_image(self.base.value)
        except ValueError as exc:  # an index outside the images: say so, keep the images shown
            self.readout.value = f"{self.method.value} · {exc}"
            return
        self.image.value = image_png(img, self.scale)
        self.original.value = image_png(original, self.scale)
        self.caption.value = f"original: {self.state.caption(self.base.value)}"
        self.readout.value = f"{self.method.value} · image {self.base.value} · " + ", ".join(
            f"PC{i + 1}={v:+.1f}" for i, v in enumerate(values)
        )

    def _update_interp(self, change=None):
        a, b = self.index_a.value, self.index_b.value
        try:
            img = self.state.interpolation_image(self.method.value, a, b, self.t.value)
            originals = self.state.original_image(a), self.state.original_image(b)
        except ValueError as exc:
            self.interp_readout.value = f"{self.method.value} · {exc}"
            return
        self.interp_image.value = image_png(img, self.scale)
        self.original_a.value, self.original_b.value = (image_png(o, self.scale) for o in originals)
        self.interp_caption.value = f"A = {self.state.caption(a)}; B = {self.state.caption(b)}"
        self.interp_readout.value = f"{self.method.value} · t={self.t.value:.2f} between images {a} and {b}"

    def _update_map(self, change=None):
        """Redraw the map for the selected method (computed once per method)."""
        if self.map is None or self.map_method == self.method.value:
            return
        from IPython.display import clear_output, display

        method = self.method.value
        with self.map:
            clear_output(wait=True)
            if not self.state.has_map(method):
                print(f"computing the map of {method} ...")
            fig = self.state.map_figure(method)
            clear_output(wait=True)
            display(fig)
        self.map_method = method

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def _titled(W, title: str, image):
    """``image`` with a small title above it."""
    return W.VBox([W.HTML(f"<small>{title}</small>"), image])
