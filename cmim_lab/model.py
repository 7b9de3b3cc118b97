"""The model interface, declared once: what the objectives, trainer, checkpoints and
embeddings call on every encoder-decoder (images in :mod:`cmim_lab.nets`, token sequences
in :mod:`cmim_lab.molecules.nets`).

A :class:`LatentModel` subclass implements five things:

* ``encode_stats(x)`` -> (mu, raw logvar) [B, latent_dim]; :meth:`LatentModel.encode`
  clamps the log-variance at ``logvar_floor`` (MIM drives sigma down, and without a floor
  log q(z|x) diverges) and returns a :class:`~cmim_lab.posterior.Posterior`;
* ``recon_nll(z, x, likelihood)`` -> [B]: -log p(x|z) in nats per sample (summed over
  pixels or tokens);
* ``observed_units(x)``: observed units per sample (pixels, or the mean number of target
  tokens), the divisor of the ``normalised`` reduction;
* ``hidden_features(mu, x)`` -> list of [B, width]: the decoder's hidden activations given
  mu (pooled over space or tokens), the blocks of the informative embedding (-X); their
  widths are ``decoder_widths``;
* ``reconstruct(x)`` -> the decoder's mean decoded from mu(x) (images: [B, *input_shape]
  in the data's units).

and may override ``context()``: JSON-able settings that rebuilding the model needs beyond
its config (a token vocabulary), stored in the checkpoint. The optional ``projector``
(SimCLR's projection head, for InfoNCE) is created by :meth:`LatentModel.init_projector`.
"""

from __future__ import annotations

import torch
from torch import nn

from .posterior import Posterior

PROJECTOR_HIDDEN = 256  # width of the projection head's hidden layer


class LatentModel(nn.Module):
    """Base class of every encoder-decoder with a Gaussian posterior (see the module docstring)."""

    def __init__(self, *, input_shape: tuple[int, ...], latent_dim: int, logvar_floor: float):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = int(latent_dim)
        self.logvar_floor = float(logvar_floor)
        self.projector: nn.Module | None = None

    def init_projector(self, projection_dim: int) -> None:
        """Create SimCLR's head latent -> 256 -> ``projection_dim`` (nothing for 0). Called by
        subclasses after their own layers, so parameter initialisation order is stable."""
        if projection_dim:
            self.projector = nn.Sequential(
                nn.Linear(self.latent_dim, PROJECTOR_HIDDEN), nn.ReLU(), nn.Linear(PROJECTOR_HIDDEN, projection_dim)
            )

    # --- implemented by every model ----------------------------------------------------
    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def recon_nll(self, z: torch.Tensor, x: torch.Tensor, likelihood: str) -> torch.Tensor:
        raise NotImplementedError

    def observed_units(self, x: torch.Tensor):
        raise NotImplementedError

    def hidden_features(self, mu: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def decoder_widths(self) -> list[int]:
        raise NotImplementedError

    def context(self) -> dict:
        """JSON-able settings beyond the config that rebuilding this model needs (none here)."""
        return {}

    # --- shared ------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Posterior:
        """x -> q(z|x) with the log-variance clamped at ``logvar_floor``."""
        mu, logvar = self.encode_stats(x)
        return Posterior(mu, logvar.clamp(min=self.logvar_floor))
