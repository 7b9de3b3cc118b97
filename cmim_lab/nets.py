"""Image and feature encoder-decoders: the ``mlp`` and ``conv`` architectures.

Both implement :class:`~cmim_lab.model.LatentModel`:

* ``encode(x)`` -> :class:`~cmim_lab.posterior.Posterior` (``mu``, ``logvar`` [B, latent_dim]);
* ``decode(z, return_hidden=True)`` -> logits [B, *input_shape] and the decoder's hidden
  activations, a list of [B, width] (MLP) or [B, C, H, W] (conv) tensors -- what the
  informative embedding (-X) reads, conv maps global-average-pooled;
* ``projector`` (optional): SimCLR's projection head for InfoNCE.

``conv`` takes images of any size and channel count: its stages derive from
``input_shape`` (:func:`conv_plan`). Real-valued features travel with their standardisation
(``context["standardise"]``, from :attr:`cmim_lab.data.Dataset.model_context`): the model
standardises every input, computes the likelihood in standardised units and returns
reconstructions in the original units; the statistics are stored in its checkpoint.

Both register themselves in :mod:`cmim_lab.registry`; :func:`build_model` builds any
registered architecture by name.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from . import registry
from .errors import check_positive
from .likelihoods import LEARNED, LOG_STD_FLOOR, REAL_VALUED, UNIT_INTERVAL, decoder_mean, gaussian_nll, pixel_nll
from .model import LatentModel
from .posterior import Posterior  # noqa: F401  (re-exported: cmim_lab.nets.Posterior)

PIXEL_LIKELIHOODS = UNIT_INTERVAL + REAL_VALUED

CONV_HIDDEN = 256  # width of the fully connected layer between the conv stages and the latent
CONV_CHANNELS = (32, 64, 128, 256)  # channels of conv stage 1, 2, 3, 4 (and 256 for every later one)
CONV_STOP_SIDE = 8  # stride-2 stages continue while the smaller side is larger than this
CONV_MIN_SIDE = 4  # the smallest feature map a stage may produce


class MLPEncoder(nn.Module):
    """x [B, *input_shape] -> (mu, raw logvar) through fully connected layers."""

    def __init__(self, input_dim: int, hidden_sizes: tuple[int, ...], latent_dim: int):
        super().__init__()
        layers, width = [nn.Flatten()], input_dim
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * latent_dim)

    def forward(self, x):
        return self.head(self.body(x)).chunk(2, dim=-1)


class MLPDecoder(nn.Module):
    """z [B, latent_dim] -> logits [B, *output_shape]; hidden layers mirror the encoder."""

    def __init__(self, latent_dim: int, hidden_sizes: tuple[int, ...], output_shape: tuple[int, ...]):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.hidden = nn.ModuleList()
        width = latent_dim
        for h in reversed(hidden_sizes):
            self.hidden.append(nn.Sequential(nn.Linear(width, h), nn.ReLU()))
            width = h
        self.out = nn.Linear(width, math.prod(output_shape))
        self.hidden_widths = list(reversed(hidden_sizes))

    def forward(self, z):
        acts, h = [], z
        for layer in self.hidden:
            h = layer(h)
            acts.append(h)
        return self.out(h).view(-1, *self.output_shape), acts


def _halve(side: int) -> int:
    """Output side of a 4x4 convolution with stride 2 and padding 1."""
    return (side + 2 - 4) // 2 + 1


def conv_plan(input_shape) -> tuple[list[int], list[tuple[int, int]]]:
    """The conv stages for images of ``input_shape`` (C, H, W): (channels of each stage,
    feature-map size (H, W) after each stage, the input's size first).

    Stride-2 stages (4x4 kernels, padding 1) continue while the smaller side is larger than
    :data:`CONV_STOP_SIDE`, at least one: 28 -> 14 -> 7, 32 -> 16 -> 8, 64 -> ... -> 8,
    224 -> ... -> 7. Channels double from 32 up to 256. ``ValueError`` for a shape that is
    not [C, H, W] or too small for one stage to leave a map of at least
    :data:`CONV_MIN_SIDE` pixels (images under 8x8)."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"arch 'conv' needs images [C, H, W], got samples of shape {shape}; use arch 'mlp' for vectors"
        )
    sizes = [shape[1:]]
    while len(sizes) == 1 or min(sizes[-1]) > CONV_STOP_SIDE:
        nxt = (_halve(sizes[-1][0]), _halve(sizes[-1][1]))
        if min(nxt) < CONV_MIN_SIDE:
            if len(sizes) == 1:
                raise ValueError(
                    f"arch 'conv' needs images of at least {2 * CONV_MIN_SIDE}x{2 * CONV_MIN_SIDE} "
                    f"pixels (one stride-2 stage down to {CONV_MIN_SIDE}x{CONV_MIN_SIDE}), got samples "
                    f"of shape {shape}; use arch 'mlp' for smaller images"
                )
            break
        sizes.append(nxt)
    n = len(sizes) - 1
    channels = [CONV_CHANNELS[min(i, len(CONV_CHANNELS) - 1)] for i in range(n)]
    return channels, sizes


class ConvEncoder(nn.Module):
    """[B, C, H, W] -> stride-2 convolutions (:func:`conv_plan`; 28x28: 32 and 64 channels,
    down to 7x7) -> 256 -> (mu, raw logvar)."""

    def __init__(self, input_shape, latent_dim: int):
        super().__init__()
        channels, sizes = conv_plan(input_shape)
        layers, width = [], int(input_shape[0])
        for c in channels:
            layers += [nn.Conv2d(width, c, 4, 2, 1), nn.ReLU()]
            width = c
        h, w = sizes[-1]
        layers += [nn.Flatten(), nn.Linear(width * h * w, CONV_HIDDEN), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(CONV_HIDDEN, 2 * latent_dim)

    def forward(self, x):
        return self.head(self.body(x)).chunk(2, dim=-1)


class ConvDecoder(nn.Module):
    """The encoder mirrored: z -> 256 -> the last stage's map -> transposed convolutions back
    to logits [B, C, H, W] (28x28: 256 -> 64x7x7 -> 32x14x14 -> 1x28x28).

    Hidden activations (what -X reads): the 256 units, then every feature map before the
    output, global-average-pooled to its channels (:attr:`hidden_widths`; 28x28: [256, 64, 32])."""

    def __init__(self, latent_dim: int, input_shape):
        super().__init__()
        channels, sizes = conv_plan(input_shape)
        h, w = sizes[-1]
        self.hidden = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(latent_dim, CONV_HIDDEN), nn.ReLU()),
                nn.Sequential(
                    nn.Linear(CONV_HIDDEN, channels[-1] * h * w), nn.ReLU(), nn.Unflatten(1, (channels[-1], h, w))
                ),
            ]
        )
        # stage i maps sizes[i + 1] back to sizes[i]; output_padding restores odd sides (7 -> 14 -> 28, 3 -> 7)
        for i in range(len(channels) - 1, 0, -1):
            self.hidden.append(
                nn.Sequential(
                    nn.ConvTranspose2d(channels[i], channels[i - 1], 4, 2, 1, output_padding=_pad(sizes, i)), nn.ReLU()
                )
            )
        self.out = nn.ConvTranspose2d(channels[0], int(input_shape[0]), 4, 2, 1, output_padding=_pad(sizes, 0))
        self.hidden_widths = [CONV_HIDDEN] + list(reversed(channels))

    def forward(self, z):
        acts, h = [], z
        for layer in self.hidden:
            h = layer(h)
            acts.append(h)
        return self.out(h), acts


def _pad(sizes, i: int) -> tuple[int, int]:
    """output_padding of the transposed convolution from sizes[i + 1] back to sizes[i]."""
    return tuple(sizes[i][k] - 2 * sizes[i + 1][k] for k in range(2))


class EncoderDecoder(LatentModel):
    """Gaussian encoder q(z|x), decoder p(x|z) (logits), optional projection head.

    ``likelihood``: the decoder likelihood it is built for (:mod:`cmim_lab.likelihoods`);
    ``gaussian-learned`` adds the parameter ``log_std`` (one per feature, shape
    ``input_shape``, starting at 0). ``standardise``: ``{"mean": [...], "std": [...]}``
    (flat lists, one value per feature) for real-valued features, or None for intensities
    in [0, 1]; kept as buffers, returned by :meth:`context` (so checkpoints store it).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        *,
        input_shape: tuple[int, ...],
        latent_dim: int,
        logvar_floor: float,
        projection_dim: int = 0,
        likelihood: str = "bernoulli",
        standardise: dict | None = None,
    ):
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, logvar_floor=logvar_floor)
        self.encoder, self.decoder = encoder, decoder
        self.init_projector(projection_dim)
        self.likelihood = likelihood
        self.log_std = nn.Parameter(torch.zeros(self.input_shape)) if likelihood == LEARNED else None
        self.standardise = _check_standardise(standardise, self.input_shape, likelihood)
        if self.standardise is not None:  # buffers follow the model's device; not in the state_dict
            for name in ("mean", "std"):
                value = torch.tensor(self.standardise[name], dtype=torch.float32).view(self.input_shape)
                self.register_buffer(f"feature_{name}", value, persistent=False)

    @property
    def decoder_widths(self) -> list[int]:
        """Width of each decoder hidden layer after pooling (channels for conv maps)."""
        return list(self.decoder.hidden_widths)

    def context(self) -> dict:
        """``{"standardise": {"mean": [...], "std": [...]}}`` for real-valued features, else {}."""
        return {} if self.standardise is None else {"standardise": self.standardise}

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, *input_shape] in standardised units (unchanged for intensities)."""
        return x if self.standardise is None else (x - self.feature_mean) / self.feature_std

    def original_units(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`standardised`."""
        return x if self.standardise is None else x * self.feature_std + self.feature_mean

    @property
    def learned_std(self) -> torch.Tensor | None:
        """The learned per-feature std of ``gaussian-learned`` (standardised units,
        [*input_shape], after the floor), or None for other likelihoods."""
        return None if self.log_std is None else self.log_std.detach().clamp(min=LOG_STD_FLOOR).exp()

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, *input_shape] -> (mu, raw logvar), each [B, latent_dim]."""
        return self.encoder(self.standardised(x))

    def decode(self, z: torch.Tensor, return_hidden: bool = False):
        """z [B, latent_dim] -> logits [B, *input_shape] (and the hidden activations)."""
        logits, hidden = self.decoder(z)
        return (logits, hidden) if return_hidden else logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits from the posterior mean (deterministic), [B, *input_shape]."""
        return self.decode(self.encode(x).mu)

    def recon_nll(self, z: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
        """-log p(x|z) summed over pixels or features: [B] (nats per sample; standardised
        units for real-valued features), see :mod:`cmim_lab.likelihoods`. ``ValueError``
        for a likelihood that does not fit this model (one for [0, 1] on standardised
        features, ``gaussian-learned`` on a model built without ``log_std``)."""
        if self.standardise is not None and likelihood in UNIT_INTERVAL:
            raise ValueError(
                _real_valued_message(
                    likelihood, "this model's inputs are real-valued features (standardised per feature)"
                )
            )
        logits, target = self.decode(z), self.standardised(x)
        if likelihood == LEARNED:
            if self.log_std is None:
                raise ValueError(
                    f"likelihood {LEARNED!r} needs a model built for it (its learned per-feature std); "
                    f"this one was built for {self.likelihood!r}"
                )
            return gaussian_nll(logits, target, self.log_std.clamp(min=LOG_STD_FLOOR))
        return pixel_nll(logits, target, likelihood)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder mean decoded from mu(x): [B, *input_shape] in the data's original units
        (intensities: sigmoid(logits) in [0, 1]; real-valued features: the standardisation undone)."""
        return self.original_units(decoder_mean(self(x), self.likelihood))

    def observed_units(self, x: torch.Tensor) -> int:
        """Pixels (features) per sample: the ``normalised`` reduction's divisor."""
        return x[0].numel()

    def hidden_features(self, mu: torch.Tensor, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The decoder's hidden activations given ``mu`` [B, d], each as [B, width]: conv
        feature maps global-average-pooled over space. ``x`` is unused (images decode from
        mu alone)."""
        _, hidden = self.decode(mu, return_hidden=True)
        return [h.mean(dim=(2, 3)) if h.ndim == 4 else h for h in hidden]


def _real_valued_message(likelihood: str, what: str) -> str:
    return (
        f"likelihood {likelihood!r} models intensities in [0, 1], but {what}; use the Gaussian likelihood: "
        f"likelihood='gaussian-fixed' (unit variance in standardised units) or 'gaussian-learned' (a learned "
        f"variance per feature)"
    )


def _check_standardise(standardise, input_shape, likelihood: str) -> dict | None:
    """``standardise`` as {"mean": [floats], "std": [floats > 0]} of one value per feature,
    or None; ``ValueError`` for a malformed one or a [0, 1] likelihood on standardised data."""
    if not standardise:
        return None
    n = math.prod(input_shape)
    try:
        out = {k: [float(v) for v in standardise[k]] for k in ("mean", "std")}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"standardise must be {{'mean': [...], 'std': [...]}} of numbers, got an invalid one "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if any(len(v) != n for v in out.values()):
        raise ValueError(
            f"standardise holds {len(out['mean'])} means and {len(out['std'])} stds for samples of "
            f"shape {tuple(input_shape)} ({n} features)"
        )
    if not all(math.isfinite(m) for m in out["mean"]) or not all(math.isfinite(s) and s > 0 for s in out["std"]):
        raise ValueError("standardise needs finite means and finite stds > 0")
    if likelihood in UNIT_INTERVAL:
        raise ValueError(
            _real_valued_message(
                likelihood, "the data are real-valued features (standardised per feature on the training split)"
            )
        )
    return out


def _pixel_model(encoder, decoder, input_shape, latent_dim, logvar_floor, projection_dim, likelihood, context):
    return EncoderDecoder(
        encoder,
        decoder,
        input_shape=input_shape,
        latent_dim=latent_dim,
        logvar_floor=logvar_floor,
        projection_dim=projection_dim,
        likelihood=likelihood,
        standardise=(context or {}).get("standardise"),
    )


def build_mlp(
    input_shape,
    *,
    latent_dim: int,
    hidden_sizes,
    logvar_floor: float,
    projection_dim: int = 0,
    likelihood: str = "bernoulli",
    context=None,
) -> EncoderDecoder:
    """Fully connected encoder-decoder for samples of any shape (flattened);
    ``context["standardise"]``: see :class:`EncoderDecoder`."""
    hidden_sizes = _widths(hidden_sizes)
    encoder = MLPEncoder(math.prod(input_shape), hidden_sizes, latent_dim)
    decoder = MLPDecoder(latent_dim, hidden_sizes, input_shape)
    return _pixel_model(encoder, decoder, input_shape, latent_dim, logvar_floor, projection_dim, likelihood, context)


def build_conv(
    input_shape,
    *,
    latent_dim: int,
    hidden_sizes=(),
    logvar_floor: float,
    projection_dim: int = 0,
    likelihood: str = "bernoulli",
    context=None,
) -> EncoderDecoder:
    """Convolutional encoder-decoder for [C, H, W] images of any size from 8x8 up (stages:
    :func:`conv_plan`; ``hidden_sizes`` unused)."""
    encoder, decoder = ConvEncoder(input_shape, latent_dim), ConvDecoder(latent_dim, input_shape)
    return _pixel_model(encoder, decoder, input_shape, latent_dim, logvar_floor, projection_dim, likelihood, context)


def _widths(hidden_sizes) -> tuple[int, ...]:
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    if not hidden_sizes or any(h <= 0 for h in hidden_sizes):
        raise ValueError(f"hidden_sizes must be a non-empty list of positive widths, got {hidden_sizes}")
    return hidden_sizes


registry.register_arch(
    "mlp", build_mlp, "fully connected encoder and decoder (any sample shape)", likelihoods=PIXEL_LIKELIHOODS
)
registry.register_arch(
    "conv", build_conv, "strided convolutions, [C, H, W] images of any size from 8x8", likelihoods=PIXEL_LIKELIHOODS
)


def build_model(
    input_shape,
    *,
    arch: str = "mlp",
    latent_dim: int,
    hidden_sizes,
    logvar_floor: float,
    projection_dim: int = 0,
    likelihood: str | None = None,
    context: dict | None = None,
) -> LatentModel:
    """Build any registered architecture (see :func:`cmim_lab.registry.archs`) for samples of
    ``input_shape`` (e.g. (1, 28, 28) or (D,)); ``context``: data-specific settings such as
    a token vocabulary or a feature standardisation (stored in checkpoints); ``likelihood``:
    the decoder likelihood, passed to builders that take it (None: the builder's default).
    Defaults live in :class:`~cmim_lab.config.TrainConfig`."""
    spec = registry.arch(arch)
    check_positive("latent_dim", latent_dim, integer=True)
    if projection_dim:
        check_positive("projection_dim", projection_dim, integer=True)
    extra = {}
    # builders of other domains (a token GRU) know their one likelihood and take no such argument
    if likelihood is not None and "likelihood" in inspect.signature(registry.resolve(spec.builder)).parameters:
        extra["likelihood"] = likelihood
    return spec.build(
        tuple(int(s) for s in input_shape),
        latent_dim=latent_dim,
        hidden_sizes=hidden_sizes,
        logvar_floor=logvar_floor,
        projection_dim=projection_dim,
        context=context or {},
        **extra,
    )
