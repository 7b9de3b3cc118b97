"""Frozen embeddings: the posterior mean, and the informative embedding (-X).

Informative embedding (our reading of the paper, no training involved): encode x to mu(x)
(no sampling), run the decoder on mu(x), collect its hidden activations (conv feature maps
are global-average-pooled over space; a sequence decoder is teacher-forced on x and its
states mean-pooled over the tokens), and concatenate ``[mu, h_1, ..., h_L]`` with each
block L2-normalised (the blocks come from ``model.hidden_features(mu, x)``). With every
block normalised all vectors have the same norm, so Euclidean and cosine kNN agree on it --
expected, not a bug.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import BATCH, EMBEDDING_KINDS
from .errors import check_choice

KINDS = EMBEDDING_KINDS


def check_input(model, x) -> None:
    """``ValueError`` unless ``x`` is what ``model`` encodes: a tensor of samples
    [N, *model.input_shape] of finite floats. A model whose inputs are not such floats
    (token ids of varying length, say) declares its own ``check_input(x)``, which is called
    instead."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor of samples [N, *input_shape], got {type(x).__name__}")
    own = getattr(model, "check_input", None)
    if own is not None:
        own(x)
        return
    shape = tuple(getattr(model, "input_shape", ()))
    if tuple(x.shape[1:]) != shape or x.ndim != len(shape) + 1:
        raise ValueError(
            f"x has shape {tuple(x.shape)}; this model encodes samples of shape {shape}, so x must be "
            f"[N, {', '.join(map(str, shape))}]"
        )
    if not x.is_floating_point():
        raise ValueError(f"x must hold floating-point samples, got dtype {x.dtype}")
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        rows = int((~torch.isfinite(x.reshape(len(x), -1))).any(1).sum())
        raise ValueError(
            f"x holds {bad} NaN or infinite values (in {rows} of {len(x)} samples); embeddings of "
            f"such inputs would be NaN -- drop or repair those samples first"
        )


@torch.no_grad()
def embed(
    model,
    x: torch.Tensor,
    kind: str = "mean",
    *,
    layers=None,
    include_mu: bool = True,
    normalise_blocks: bool = True,
    batch_size: int = 2048,
    device=None,
) -> torch.Tensor:
    """Embed ``x`` [N, *input_shape] with a frozen model; returns float32 [N, D] on the CPU.

    Args:
        kind: ``mean`` (D = latent_dim) or ``informative`` (D = latent_dim + the widths of the
            chosen decoder layers, see ``model.decoder_widths``).
        layers: indices of decoder hidden layers for ``informative`` (None: all).
        include_mu: keep mu as the first block of ``informative`` (False: decoder blocks only,
            for ablations).
        normalise_blocks: L2-normalise mu and each layer block before concatenating.
        batch_size: samples per forward pass.
        device: where to compute (default: the model's device).

    Raises ``ValueError`` (before any computation) for an unknown ``kind``, layers that do
    not exist, a bad ``batch_size``, or an ``x`` that is not [N, *model.input_shape] of
    finite floats (see :func:`check_input`).
    """
    check_choice("embedding kind", kind, KINDS)
    BATCH.check("batch_size", batch_size)
    check_input(model, x)
    n_layers = len(model.decoder_widths)
    if layers is None:
        layers = list(range(n_layers))
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"layers must be a list of decoder layer indices, got {layers!r}")
    layers = list(layers)
    bad = [i for i in layers if isinstance(i, bool) or not isinstance(i, int) or not -n_layers <= i < n_layers]
    if bad:
        raise ValueError(
            f"decoder layers {bad} do not exist; this decoder has layers 0..{n_layers - 1} "
            f"of widths {model.decoder_widths}"
        )
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        mu = model.encode(xb).mu
        if kind == "mean":
            out.append(mu.float().cpu())
            continue
        hidden = model.hidden_features(mu, xb)
        blocks = ([mu] if include_mu else []) + [hidden[i] for i in layers]
        if not blocks:
            raise ValueError("an informative embedding needs mu or at least one decoder layer")
        if normalise_blocks:
            blocks = [F.normalize(b, dim=1) for b in blocks]
        out.append(torch.cat(blocks, dim=1).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def embedding_width(model, kind: str = "mean", layers=None, include_mu: bool = True) -> int:
    """Width D of :func:`embed`'s output for this model."""
    if kind == "mean":
        return model.latent_dim
    widths = model.decoder_widths
    layers = range(len(widths)) if layers is None else layers
    return model.latent_dim * include_mu + sum(widths[i] for i in layers)


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """The model's reconstruction decoded from mu(x), in batches (images: the decoder mean
    sigmoid(logits), [N, *input_shape] in [0, 1]), on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model.reconstruct(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)
