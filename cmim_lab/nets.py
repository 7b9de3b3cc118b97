"""Image and feature encoder-decoders: the ``mlp`` and ``conv`` architectures.

Both implement :class:`~cmim_lab.model.LatentModel`:

* ``encode(x)`` -> :class:`~cmim_lab.posterior.Posterior` (``mu``, ``logvar`` [B, latent_dim]);
* ``decode(z, return_hidden=True)`` -> logits [B, *input_shape] and the decoder's hidden
  activations, a list of [B, width] (MLP) or [B, C, H, W] (conv) tensors -- what the
  informative embedding (-X) reads, conv maps global-average-pooled;
* ``projector`` (optional): SimCLR's projection head for InfoNCE.

Both register themselves in :mod:`cmim_lab.registry`; :func:`build_model` builds any
registered architecture by name.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import registry
from .errors import check_positive
from .likelihoods import pixel_nll
from .model import LatentModel
from .posterior import Posterior  # noqa: F401  (re-exported: cmim_lab.nets.Posterior)

PIXEL_LIKELIHOODS = ("bernoulli", "gaussian")


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


class ConvEncoder(nn.Module):
    """[B, C, 28, 28] -> two stride-2 convolutions (32, 64 channels) -> 256 -> (mu, raw logvar)."""

    def __init__(self, channels: int, latent_dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU())
        self.head = nn.Linear(256, 2 * latent_dim)

    def forward(self, x):
        return self.head(self.body(x)).chunk(2, dim=-1)


class ConvDecoder(nn.Module):
    """z -> 256 -> 64x7x7 -> transposed convs 32x14x14 -> logits [B, C, 28, 28]."""

    hidden_widths = [256, 64, 32]  # pooled widths of the hidden activations

    def __init__(self, latent_dim: int, channels: int):
        super().__init__()
        self.hidden = nn.ModuleList([
            nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU()),
            nn.Sequential(nn.Linear(256, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7))),
            nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU()),
        ])
        self.out = nn.ConvTranspose2d(32, channels, 4, 2, 1)

    def forward(self, z):
        acts, h = [], z
        for layer in self.hidden:
            h = layer(h)
            acts.append(h)
        return self.out(h), acts


class EncoderDecoder(LatentModel):
    """Gaussian encoder q(z|x), decoder p(x|z) (logits), optional projection head."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, input_shape: tuple[int, ...],
                 latent_dim: int, logvar_floor: float, projection_dim: int = 0):
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, logvar_floor=logvar_floor)
        self.encoder, self.decoder = encoder, decoder
        self.init_projector(projection_dim)

    @property
    def decoder_widths(self) -> list[int]:
        """Width of each decoder hidden layer after pooling (channels for conv maps)."""
        return list(self.decoder.hidden_widths)

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, *input_shape] -> (mu, raw logvar), each [B, latent_dim]."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, return_hidden: bool = False):
        """z [B, latent_dim] -> logits [B, *input_shape] (and the hidden activations)."""
        logits, hidden = self.decoder(z)
        return (logits, hidden) if return_hidden else logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits from the posterior mean (deterministic), [B, *input_shape]."""
        return self.decode(self.encode(x).mu)

    def recon_nll(self, z: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
        """-log p(x|z) summed over pixels: [B] (nats per image), see :mod:`cmim_lab.likelihoods`."""
        return pixel_nll(self.decode(z), x, likelihood)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean sigmoid(logits) decoded from mu(x): [B, *input_shape] in [0, 1]."""
        return torch.sigmoid(self(x))

    def observed_units(self, x: torch.Tensor) -> int:
        """Pixels (features) per sample: the ``normalised`` reduction's divisor."""
        return x[0].numel()

    def hidden_features(self, mu: torch.Tensor, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The decoder's hidden activations given ``mu`` [B, d], each as [B, width]: conv
        feature maps global-average-pooled over space. ``x`` is unused (images decode from
        mu alone)."""
        _, hidden = self.decode(mu, return_hidden=True)
        return [h.mean(dim=(2, 3)) if h.ndim == 4 else h for h in hidden]


def build_mlp(input_shape, *, latent_dim: int, hidden_sizes, logvar_floor: float, projection_dim: int = 0,
              context=None) -> EncoderDecoder:
    """Fully connected encoder-decoder for samples of any shape (flattened)."""
    hidden_sizes = _widths(hidden_sizes)
    encoder = MLPEncoder(math.prod(input_shape), hidden_sizes, latent_dim)
    decoder = MLPDecoder(latent_dim, hidden_sizes, input_shape)
    return EncoderDecoder(encoder, decoder, input_shape=input_shape, latent_dim=latent_dim,
                          logvar_floor=logvar_floor, projection_dim=projection_dim)


def build_conv(input_shape, *, latent_dim: int, hidden_sizes=(), logvar_floor: float, projection_dim: int = 0,
               context=None) -> EncoderDecoder:
    """Convolutional encoder-decoder for [C, 28, 28] images (``hidden_sizes`` unused)."""
    if len(input_shape) != 3 or input_shape[1:] != (28, 28):
        raise ValueError(f"arch 'conv' needs [C, 28, 28] images, got samples of shape {input_shape}; "
                         f"use arch 'mlp' for other shapes")
    encoder, decoder = ConvEncoder(input_shape[0], latent_dim), ConvDecoder(latent_dim, input_shape[0])
    return EncoderDecoder(encoder, decoder, input_shape=input_shape, latent_dim=latent_dim,
                          logvar_floor=logvar_floor, projection_dim=projection_dim)


def _widths(hidden_sizes) -> tuple[int, ...]:
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    if not hidden_sizes or any(h <= 0 for h in hidden_sizes):
        raise ValueError(f"hidden_sizes must be a non-empty list of positive widths, got {hidden_sizes}")
    return hidden_sizes


registry.register_arch("mlp", build_mlp, "fully connected encoder and decoder (any sample shape)",
                       likelihoods=PIXEL_LIKELIHOODS)
registry.register_arch("conv", build_conv, "strided convolutions, [C, 28, 28] images",
                       likelihoods=PIXEL_LIKELIHOODS)


def build_model(input_shape, *, arch: str = "mlp", latent_dim: int, hidden_sizes, logvar_floor: float,
                projection_dim: int = 0, context: dict | None = None) -> LatentModel:
    """Build any registered architecture (see :func:`cmim_lab.registry.archs`) for samples of
    ``input_shape`` (e.g. (1, 28, 28) or (D,)); ``context``: data-specific settings such as
    a token vocabulary (stored in checkpoints). Defaults live in
    :class:`~cmim_lab.config.TrainConfig`."""
    spec = registry.arch(arch)
    check_positive("latent_dim", latent_dim, integer=True)
    if projection_dim:
        check_positive("projection_dim", projection_dim, integer=True)
    return spec.build(tuple(int(s) for s in input_shape), latent_dim=latent_dim, hidden_sizes=hidden_sizes,
                      logvar_floor=logvar_floor, projection_dim=projection_dim, context=context or {})
