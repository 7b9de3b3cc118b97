"""The objectives of VAE, cVAE, MIM, cMIM and InfoNCE, term by term.

Per-sample terms (before the batch mean), with q(z|x) = N(mu, diag sigma^2), P(z) = N(0, I)
and z ~ q(z|x) reparameterised:

* ``recon_nll``   = -log p(x|z), Bernoulli logits (or Gaussian), **>= 0** for Bernoulli.
* ``kl``          = KL(q(z|x) || P(z)), analytic, **>= 0**.                    (VAE, cVAE)
* ``log_q``       = log q(z|x), a density: any sign, grows as sigma shrinks.   (MIM, cMIM)
* ``log_p``       = log P(z), **<= -d/2 log(2 pi)**.                          (MIM, cMIM)
* ``contrastive`` = -log p(k=1 | z_i), see :func:`contrastive_term`, in **[0, log 2]**.
* ``nt_xent``     = SimCLR's NT-Xent over two augmented views, **>= 0**.      (InfoNCE)

Losses (per sample, then the mean over the batch; the weights are parameters), one line
per row of the table of methods (:data:`cmim_lab.methods.TABLE`, which names each method's
terms, the config fields it ignores, its colour and its description):

* VAE     = recon_nll + kl
* cVAE    = recon_nll + kl + contrastive                  (VAE + contrastive)
* MIM     = recon_nll - 1/2 (log_q + log_p)               (A-MIM: asymmetric MIM, the encoder path only)
* cMIM    = recon_nll - 1/2 (log_q + log_p) + contrastive (A-MIM + contrastive)
* InfoNCE = recon_weight * recon_nll(decoded views vs clean x) + nt_xent

Each term is weighted: ``recon_weight`` the reconstruction, ``latent_weight`` the latent
term (``kl``, or ``-1/2 (log_q + log_p)``), ``contrastive_weight`` the contrastive term or
NT-Xent. The objective of a method computes exactly the terms its row names.

Reduction conventions (``reduction=``), recorded with every model and result:

* ``"sum"``: sum over pixels and latent dimensions, mean over the batch. Terms are in
  nats per sample.
* ``"normalised"``: reconstruction as a mean per pixel (``recon_nll / n_pixels``), latent
  log-probability terms divided by the latent size (``kl, log_q, log_p / latent_dim``),
  the contrastive terms unscaled. Under ``sum`` the contrastive term (< log 2 nats) is
  dwarfed by hundreds of nats of reconstruction; under ``normalised`` it is not.

The objectives ask the model for the reconstruction term (``model.recon_nll(z, x,
likelihood)``, [B]) and for the observed units of the ``normalised`` reduction
(``model.observed_units(x)``: pixels for images; for token sequences the mean number of
target tokens per sequence, so ``recon_nll`` is then in nats per token).

Symmetric MIM (also sampling z ~ P(z), x ~ p(x|z)) is not offered: with a Bernoulli
decoder the decoder-path samples x are discrete (no reparameterisation gradient), and its
objective needs log P(x) of the data distribution at generated samples, which no model
here estimates. The authors' group trains the asymmetric form (A-MIM) in practice.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from . import methods, registry
from .augment import augment_batch
from .likelihoods import LOG_2PI, pixel_nll
from .validation import check_choice, check_positive

METHODS = methods.names()  # ("vae", "cvae", "mim", "cmim", "infonce"): the rows of methods.TABLE
REDUCTIONS = ("sum", "normalised")
NEGATIVES = ("mean", "sum")


# --- log-densities, per sample -------------------------------------------------------


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dim: [B, d] -> [B] (nats)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim: [B, d] -> [B] (nats)."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mu, diag exp(logvar)) || N(0, I)): [B, d] -> [B] (nats), >= 0."""
    return 0.5 * (torch.exp(logvar) + mu**2 - 1.0 - logvar).sum(-1)


def recon_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
    """-log p(x|z) summed over all pixels/features: [B, ...] -> [B] (nats per sample); the
    likelihoods are defined in :mod:`cmim_lab.likelihoods`."""
    return pixel_nll(logits, x, likelihood)


# --- the two contrastive objects ------------------------------------------------------


def contrastive_term(z: torch.Tensor, temperature: float = 0.1, negatives: str = "mean") -> torch.Tensor:
    """cMIM's contrastive term -log p(k=1 | z_i) for each sample: [B, d] -> [B] (nats).

    With cosine similarities s_ij, each sample is its own positive (s_ii = 1) and the other
    B - 1 samples are negatives::

        -log p(k=1|z_i) = log(1 + mean_{j != i} exp((s_ij - 1) / temperature))

    It lies in [0, log 2] for every batch size, is 0 for B = 1, and only bites when codes
    become nearly parallel: a soft angular repulsion. ``negatives="sum"`` replaces the mean
    by a sum (InfoNCE's normalisation; the term then grows like log B).
    """
    check_positive("temperature", temperature)
    check_choice("negatives", negatives, NEGATIVES)
    b = z.shape[0]
    if b == 1:
        return z.new_zeros(1)
    zn = F.normalize(z, dim=-1)
    a = (zn @ zn.T - 1.0) / temperature  # [B, B], <= 0 up to rounding
    a = a.masked_fill(torch.eye(b, dtype=torch.bool, device=z.device), float("-inf"))
    log_neg = torch.logsumexp(a, dim=1)  # log sum_{j != i} exp(a_ij)
    if negatives == "mean":
        log_neg = log_neg - math.log(b - 1)
    return F.softplus(log_neg)  # log(1 + exp(log_neg)), stable


def nt_xent(h1: torch.Tensor, h2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent over 2B views, a scalar (nats, mean over the 2B views).

    ``h1[i]`` and ``h2[i]`` ([B, d] each) are two views of sample i. For every view the other
    view of the same sample is the positive and the other 2B - 2 views are negatives; the
    loss is a cross-entropy over cosine-similarity logits / temperature with the
    self-similarity masked out. Collapsed codes give exactly log(2B - 1).
    """
    check_positive("temperature", temperature)
    if h1.shape != h2.shape or h1.ndim != 2:
        raise ValueError(
            f"nt_xent needs two [B, d] tensors of equal shape, got {tuple(h1.shape)} and {tuple(h2.shape)}"
        )
    b = h1.shape[0]
    z = F.normalize(torch.cat([h1, h2]), dim=-1)
    logits = (z @ z.T) / temperature
    logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(logits, targets)


def augmented_views(model, x: torch.Tensor, strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independently augmented views of the batch ``x`` [B, ...] for InfoNCE, in the units
    of ``x``. Intensities are augmented as they are (values kept in [0, 1]); real-valued
    features (a model that standardises its inputs) in the model's standardised units,
    unclipped, then mapped back, so the noise is 0.1 standard deviations of each feature and
    a dropped feature takes its mean, whatever the features' range."""
    if getattr(model, "standardise", None) is None:
        return augment_batch(x, strength), augment_batch(x, strength)
    units = model.standardised(x)
    return tuple(model.original_units(augment_batch(units, strength, clip=False)) for _ in range(2))


# --- the objectives ------------------------------------------------------------------

Gather = Callable[[torch.Tensor], torch.Tensor]


class Objective:
    """One method's training objective; calling it returns the loss and its named terms.

    Args:
        method: a row of :data:`cmim_lab.methods.TABLE` (``vae``, ``cvae``, ``mim``, ``cmim``,
            ``infonce``), whose ``terms`` this objective computes.
        reduction: ``sum`` or ``normalised`` (see the module docstring).
        temperature: of the contrastive term / NT-Xent, > 0.
        recon_weight, latent_weight, contrastive_weight: weights of the terms (>= 0).
        negatives: ``mean`` (cMIM) or ``sum`` over the negatives of the contrastive term.
        likelihood: a registered likelihood (``bernoulli`` or ``gaussian`` on pixels; a domain
            plugin adds its own, e.g. ``categorical`` on tokens).
        augment_strength: of InfoNCE's batched image augmentations (token sequences bring
            their own views, e.g. randomised SMILES, through ``views=``).
    """

    def __init__(
        self,
        method: str,
        *,
        reduction: str = "sum",
        temperature: float = 0.1,
        recon_weight: float = 1.0,
        latent_weight: float = 1.0,
        contrastive_weight: float = 1.0,
        negatives: str = "mean",
        likelihood: str = "bernoulli",
        augment_strength: float = 1.0,
    ):
        check_choice("method", method, METHODS)
        check_choice("reduction", reduction, REDUCTIONS)
        check_choice("negatives", negatives, NEGATIVES)
        check_choice("likelihood", likelihood, registry.likelihoods())
        check_positive("temperature", temperature)
        for name, value in [
            ("recon_weight", recon_weight),
            ("latent_weight", latent_weight),
            ("contrastive_weight", contrastive_weight),
            ("augment_strength", augment_strength),
        ]:
            check_positive(name, value, allow_zero=True)
        if method == "infonce" and contrastive_weight == 0:
            raise ValueError("infonce with contrastive_weight 0 is a plain autoencoder; use a weight > 0")
        self.method, self.reduction, self.temperature = method, reduction, temperature
        self.recon_weight, self.latent_weight = recon_weight, latent_weight
        self.contrastive_weight, self.negatives = contrastive_weight, negatives
        self.likelihood, self.augment_strength = likelihood, augment_strength

    @property
    def term_names(self) -> list[str]:
        """Names of the logged terms, in order (``loss`` comes first in the output): the
        method's terms in :data:`cmim_lab.methods.TABLE`, without an optional term whose
        weight is 0."""
        row = methods.method(self.method)
        return [t for t in row.terms if not (t in row.optional and getattr(self, methods.TERM_WEIGHT[t]) == 0)]

    def __call__(
        self,
        model,
        x: torch.Tensor,
        *,
        eps: torch.Tensor | None = None,
        views: tuple[torch.Tensor, torch.Tensor] | None = None,
        gather: Gather | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss and named terms on a batch ``x`` [B, *input_shape]; every value is a scalar.

        Terms are batch means under the chosen reduction, *unweighted*; ``loss`` applies the
        weights. ``eps`` ([B, latent_dim]) fixes the reparameterisation noise and ``views``
        InfoNCE's two augmented views (both default to fresh random draws). ``gather`` maps a
        local [b, d] tensor to the global batch (multi-process training); contrastive terms
        then use the global batch, the other terms stay local means.
        """
        names = self.term_names
        if "nt_xent" in names:
            return self._infonce(model, x, gather, views)
        post = model.encode(x)
        z = post.sample(eps)
        d = z.shape[-1]
        lat_scale = 1.0 / d if self.reduction == "normalised" else 1.0
        terms = {"recon_nll": self._recon(model, z, x)}
        loss = self.recon_weight * terms["recon_nll"]
        if "kl" in names:
            terms["kl"] = kl_to_standard_normal(post.mu, post.logvar).mean() * lat_scale
            loss = loss + self.latent_weight * terms["kl"]
        if "log_q" in names:  # log_q and log_p always together: -1/2 (log_q + log_p) is A-MIM's latent term
            terms["log_q"] = gaussian_log_prob(z, post.mu, post.logvar).mean() * lat_scale
            terms["log_p"] = standard_normal_log_prob(z).mean() * lat_scale
            loss = loss + self.latent_weight * (-0.5 * (terms["log_q"] + terms["log_p"]))
        if "contrastive" in names:
            z_all = gather(z) if gather else z
            terms["contrastive"] = contrastive_term(z_all, self.temperature, self.negatives).mean()
            loss = loss + self.contrastive_weight * terms["contrastive"]
        return {"loss": loss, **terms}

    def _recon(self, model, z, target):
        """Batch mean of -log p(target|z) under the reduction (per sample or per unit)."""
        scale = 1.0 / model.observed_units(target) if self.reduction == "normalised" else 1.0
        return model.recon_nll(z, target, self.likelihood).mean() * scale

    def _infonce(self, model, x, gather, views):
        if views is None:
            if not x.is_floating_point():
                raise ValueError(
                    "InfoNCE on token sequences needs its two views passed as views=(v1, v2) "
                    "(precomputed views of the data); the built-in augmentations are for images"
                )
            views = augmented_views(model, x, self.augment_strength)
        v1, v2 = views
        mu = model.encode(torch.cat([v1, v2])).mu
        h = model.projector(mu) if model.projector is not None else mu
        h1, h2 = h.chunk(2)
        if gather:
            h1, h2 = gather(h1), gather(h2)
        terms = {"nt_xent": nt_xent(h1, h2, self.temperature)}
        loss = self.contrastive_weight * terms["nt_xent"]
        if "recon_nll" in self.term_names:  # decode both views' codes back to the clean image
            nll = self._recon(model, mu, torch.cat([x, x]))
            terms = {"recon_nll": nll, **terms}
            loss = loss + self.recon_weight * nll
        return {"loss": loss, **terms}
