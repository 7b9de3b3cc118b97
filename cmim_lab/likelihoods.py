"""Decoder likelihoods on pixels or features: -log p(x|z) from the decoder's logits.

* ``bernoulli``: binary cross-entropy with logits on intensities in [0, 1] (>= 0).
* ``gaussian``: N(x; sigmoid(logits), 0.1^2) per pixel (intensity units).

Each returns [B] (nats per sample, summed over all pixels or features). Both register
themselves in :mod:`cmim_lab.registry`; a domain adds its own (tokens: ``categorical``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import registry

LOG_2PI = math.log(2 * math.pi)
GAUSSIAN_STD = 0.1  # fixed decoder std of the Gaussian likelihood, intensity units


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(x; sigmoid(logits)) summed over features: [B, ...] -> [B] (nats)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(-1)


def gaussian_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; sigmoid(logits), 0.1^2) summed over features: [B, ...] -> [B] (nats)."""
    per = 0.5 * ((x - torch.sigmoid(logits)) / GAUSSIAN_STD) ** 2 + math.log(GAUSSIAN_STD) + 0.5 * LOG_2PI
    return per.flatten(1).sum(-1)


registry.register_likelihood("bernoulli", bernoulli_nll, "Bernoulli on intensities in [0, 1] (default)")
registry.register_likelihood("gaussian", gaussian_nll, f"Gaussian, mean sigmoid(logits), std {GAUSSIAN_STD}")


def pixel_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
    """-log p(x|z) under the named likelihood: [B, ...] -> [B] (nats per sample).

    ``ValueError`` for an unknown name, or for one whose model computes its own term."""
    spec = registry.likelihood(likelihood)
    if spec.nll is None:
        raise ValueError(f"likelihood {likelihood!r} is computed by its own model ({spec.domain}); "
                         f"pixels take {', '.join(n for n, s in registry.likelihoods().items() if s.nll)}")
    return spec.nll(logits, x)
