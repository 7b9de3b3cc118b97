"""Encoder-decoder networks with a Gaussian posterior.

Every model is an :class:`EncoderDecoder`:

* ``encode(x)`` -> :class:`Posterior` with ``mu`` and ``logvar`` [B, latent_dim]; the
  log-variance is clamped from below at ``logvar_floor`` (MIM drives sigma down, and
  without a floor log q(z|x) diverges).
* ``decode(z, return_hidden=True)`` -> logits [B, *input_shape] and the decoder's hidden
  activations, a list of [B, width] (MLP) or [B, C, H, W] (conv) tensors. The hidden
  activations are what the informative embedding (-X) reads.
* ``projector`` (optional): SimCLR's projection head for InfoNCE.

What the objectives, trainer and embeddings call on *every* model (images here, token
sequences in :mod:`cmim_lab.molecules.seqnets`):

* ``recon_nll(z, x, likelihood)`` -> [B]: -log p(x|z) in nats per sample;
* ``observed_units(x)``: observed units per sample (pixels here, tokens for sequences), the
  divisor of the ``normalised`` reduction;
* ``hidden_features(mu, x)`` -> list of [B, width]: the decoder's hidden activations given mu
  (conv maps global-average-pooled), read by the informative embedding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .errors import check_choice, check_positive

ARCHS = ("mlp", "conv", "gru")  # gru: token sequences, see cmim_lab.molecules.seqnets


@dataclass
class Posterior:
    """Diagonal Gaussian q(z|x). ``mu``, ``logvar``: [B, latent_dim]."""
    mu: torch.Tensor
    logvar: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Reparameterised sample z = mu + sigma * eps, [B, latent_dim]."""
        if eps is None:
            eps = torch.randn_like(self.mu)
        return self.mu + self.std * eps


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


class EncoderDecoder(nn.Module):
    """Gaussian encoder q(z|x), decoder p(x|z) (logits), optional projection head."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, input_shape: tuple[int, ...],
                 latent_dim: int, logvar_floor: float = -6.0, projection_dim: int = 0):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.logvar_floor = logvar_floor
        self.projector = None
        if projection_dim:
            self.projector = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(),
                                           nn.Linear(256, projection_dim))

    @property
    def decoder_widths(self) -> list[int]:
        """Width of each decoder hidden layer after pooling (channels for conv maps)."""
        return list(self.decoder.hidden_widths)

    def encode(self, x: torch.Tensor) -> Posterior:
        """x [B, *input_shape] -> q(z|x) with logvar clamped at ``logvar_floor``."""
        mu, logvar = self.encoder(x)
        return Posterior(mu, logvar.clamp(min=self.logvar_floor))

    def decode(self, z: torch.Tensor, return_hidden: bool = False):
        """z [B, latent_dim] -> logits [B, *input_shape] (and the hidden activations)."""
        logits, hidden = self.decoder(z)
        return (logits, hidden) if return_hidden else logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits from the posterior mean (deterministic), [B, *input_shape]."""
        return self.decode(self.encode(x).mu)

    def recon_nll(self, z: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
        """-log p(x|z) summed over pixels: [B] (nats per image), see :func:`objectives.recon_nll`."""
        from .objectives import recon_nll

        return recon_nll(self.decode(z), x, likelihood)

    def observed_units(self, x: torch.Tensor) -> int:
        """Pixels (features) per sample: the ``normalised`` reduction's divisor."""
        return x[0].numel()

    def hidden_features(self, mu: torch.Tensor, x: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The decoder's hidden activations given ``mu`` [B, d], each as [B, width]: conv
        feature maps global-average-pooled over space. ``x`` is unused (images decode from
        mu alone)."""
        _, hidden = self.decode(mu, return_hidden=True)
        return [h.mean(dim=(2, 3)) if h.ndim == 4 else h for h in hidden]


def build_model(input_shape, *, arch: str = "mlp", latent_dim: int = 16,
                hidden_sizes=(512, 512), logvar_floor: float = -6.0,
                projection_dim: int = 0, vocab=None) -> EncoderDecoder:
    """Build an encoder-decoder for samples of ``input_shape`` (e.g. (1, 28, 28) or (D,)).

    ``arch="mlp"`` works for any shape; ``arch="conv"`` needs [C, 28, 28] images;
    ``arch="gru"`` reads token sequences (L,) over ``vocab`` (a
    :class:`~cmim_lab.molecules.smiles.Vocabulary` or its JSON), see
    :mod:`cmim_lab.molecules.seqnets`.
    """
    check_choice("arch", arch, ARCHS)
    check_positive("latent_dim", latent_dim, integer=True)
    if projection_dim:
        check_positive("projection_dim", projection_dim, integer=True)
    input_shape = tuple(int(s) for s in input_shape)
    if arch == "gru":
        from .molecules.seqnets import build_sequence_model

        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        if not hidden_sizes or any(h <= 0 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be a non-empty list of positive widths, got {hidden_sizes}")
        return build_sequence_model(vocab, input_shape, latent_dim=latent_dim, hidden_sizes=hidden_sizes,
                                    logvar_floor=logvar_floor, projection_dim=projection_dim)
    if arch == "conv":
        if len(input_shape) != 3 or input_shape[1:] != (28, 28):
            raise ValueError(f"arch 'conv' needs [C, 28, 28] images, got samples of shape {input_shape}; "
                             f"use arch 'mlp' for other shapes")
        encoder, decoder = ConvEncoder(input_shape[0], latent_dim), ConvDecoder(latent_dim, input_shape[0])
    else:
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        if not hidden_sizes or any(h <= 0 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be a non-empty list of positive widths, got {hidden_sizes}")
        encoder = MLPEncoder(math.prod(input_shape), hidden_sizes, latent_dim)
        decoder = MLPDecoder(latent_dim, hidden_sizes, input_shape)
    return EncoderDecoder(encoder, decoder, input_shape=input_shape, latent_dim=latent_dim,
                          logvar_floor=logvar_floor, projection_dim=projection_dim)
