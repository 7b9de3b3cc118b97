"""The diagonal Gaussian posterior q(z|x) that every model's encoder returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Posterior:
    """Diagonal Gaussian q(z|x). ``mu``, ``logvar``: [B, latent_dim] (log-variance already
    clamped at the model's floor)."""

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
