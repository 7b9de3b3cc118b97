"""Decoder likelihoods on pixels or features: -log p(x|z) from the decoder's logits.

Intensities in [0, 1] (images; the decoder mean is ``sigmoid(logits)``):

* ``bernoulli``: binary cross-entropy with logits (>= 0), the default.
* ``gaussian``: N(x; sigmoid(logits), 0.1^2) per pixel (intensity units).

Real-valued features (any range; the model standardises them per feature with the
training split's mean and std, see :class:`cmim_lab.data.Dataset`, and the decoder mean is
the raw decoder output in those standardised units):

* ``gaussian-fixed``: N(x; logits, 1) per feature -- a *fixed* unit variance in
  standardised units, i.e. the training split's own variance of each feature.
* ``gaussian-learned``: N(x; logits, exp(log_std)^2) with a *learned* per-feature
  ``log_std`` (a parameter of the model, one value per feature, starting at 0 and clamped
  below at :data:`LOG_STD_FLOOR`); the model computes this term itself
  (``model.recon_nll``), since the variance is one of its parameters.

Each returns [B] (nats per sample, summed over all pixels or features; for real-valued
features the nats are those of the standardised values: the NLL in the original units is
this minus ``sum_j log std_j`` of the standardisation). All register themselves in
:mod:`cmim_lab.registry`; a domain adds its own (tokens: ``categorical``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import registry

LOG_2PI = math.log(2 * math.pi)
GAUSSIAN_STD = 0.1  # fixed decoder std of the ``gaussian`` likelihood, intensity units
LOG_STD_FLOOR = math.log(0.01)  # learned per-feature std >= 0.01 (standardised units): no divergent NLL
LEARNED = "gaussian-learned"
UNIT_INTERVAL = ("bernoulli", "gaussian")  # need values in [0, 1]; mean sigmoid(logits)
REAL_VALUED = ("gaussian-fixed", LEARNED)  # any real values; mean = logits


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, log_std) -> torch.Tensor:
    """-log N(x; mean, exp(log_std)^2) summed over features: [B, ...] -> [B] (nats).

    ``log_std``: a float, or a tensor broadcastable to ``x`` (e.g. one value per feature,
    shape ``x.shape[1:]``)."""
    log_std = torch.as_tensor(log_std, dtype=mean.dtype, device=mean.device)
    per = 0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 + log_std + 0.5 * LOG_2PI
    return per.flatten(1).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(x; sigmoid(logits)) summed over features: [B, ...] -> [B] (nats)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(-1)


def intensity_gaussian_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; sigmoid(logits), 0.1^2) summed over features: [B, ...] -> [B] (nats)."""
    return gaussian_nll(torch.sigmoid(logits), x, math.log(GAUSSIAN_STD))


def unit_gaussian_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; logits, 1) summed over features: [B, ...] -> [B] (nats; x standardised)."""
    return gaussian_nll(logits, x, 0.0)


registry.register_likelihood("bernoulli", bernoulli_nll, "Bernoulli on intensities in [0, 1] (default)")
registry.register_likelihood(
    "gaussian", intensity_gaussian_nll, f"Gaussian on intensities in [0, 1], mean sigmoid(logits), std {GAUSSIAN_STD}"
)
registry.register_likelihood(
    "gaussian-fixed",
    unit_gaussian_nll,
    "Gaussian on real-valued features (standardised), mean = decoder output, fixed std 1",
)
registry.register_likelihood(
    LEARNED,
    None,
    "Gaussian on real-valued features (standardised), mean = decoder "
    "output, a learned std per feature (computed by the model)",
)


def decoder_mean(logits: torch.Tensor, likelihood: str) -> torch.Tensor:
    """The mean of p(x|z) for ``logits``: ``sigmoid`` for intensities in [0, 1]
    (:data:`UNIT_INTERVAL`), the logits themselves for real-valued features."""
    return torch.sigmoid(logits) if likelihood in UNIT_INTERVAL else logits


def pixel_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
    """-log p(x|z) under the named likelihood: [B, ...] -> [B] (nats per sample).

    ``ValueError`` for an unknown name, or for one whose model computes its own term
    (``gaussian-learned``, tokens)."""
    spec = registry.likelihood(likelihood)
    if spec.nll is None:
        raise ValueError(
            f"likelihood {likelihood!r} is computed by its own model ({spec.domain}: "
            f"model.recon_nll(z, x, {likelihood!r})); a function of logits alone takes "
            f"{', '.join(n for n, s in registry.likelihoods().items() if s.nll)}"
        )
    return spec.nll(logits, x)
