"""Batched tensor augmentations for InfoNCE's two views.

One call transforms a whole batch on the device it lives on: no per-sample Python loop,
no PIL. ``strength`` scales every augmentation linearly (0 = identity, 1 = default).
Intensities (images, bits) stay in [0, 1]; real-valued features are augmented in
standardised units, unclipped (``clip=False``; see ``objectives``' InfoNCE).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATION_DEG = 15.0  # at strength 1
MAX_SHIFT = 0.08  # fraction of the image side (about 2 pixels at 28x28)
NOISE_STD = 0.1  # intensity units, images in [0, 1]
ERASE_PROB = 0.5  # chance that a sample gets one erased rectangle
ERASE_HALF_SIDE = (0.05, 0.2)  # rectangle half-sides, fraction of the image side
VECTOR_DROP = 0.1  # fraction of features zeroed for vector data


def augment_batch(
    x: torch.Tensor, strength: float = 1.0, generator: torch.Generator | None = None, *, clip: bool = True
) -> torch.Tensor:
    """Randomly augment a batch; returns a new tensor of the same shape, values in [0, 1]
    (``clip=False``: not clipped, for features in standardised units).

    Images ``[B, C, H, W]``: rotation (up to 15 deg x strength), translation (up to 8% of
    the side x strength), Gaussian noise (std 0.1 x strength), and with probability 0.5 an
    erased rectangle. Vectors ``[B, D]``: Gaussian noise and random feature dropout. Noise
    is in the units of ``x``; dropped and erased values become 0 (the mean, in standardised
    units).
    """
    if strength < 0:
        raise ValueError(f"augmentation strength must be >= 0, got {strength}")
    if strength == 0:
        return x.clone()
    rand = lambda *shape: torch.rand(*shape, device=x.device, generator=generator)  # noqa: E731
    if x.ndim == 2:
        keep = rand(*x.shape) >= VECTOR_DROP * strength
        noise = torch.randn(x.shape, device=x.device, generator=generator) * NOISE_STD * strength
        out = (x + noise) * keep
        return out.clamp_(0, 1) if clip else out
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects [B, D] or [B, C, H, W], got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    angle = (rand(b) * 2 - 1) * math.radians(MAX_ROTATION_DEG) * strength
    shift = (rand(b, 2) * 2 - 1) * 2 * MAX_SHIFT * strength  # affine_grid spans [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    out = out + torch.randn(out.shape, device=x.device, generator=generator) * NOISE_STD * strength
    # one erased rectangle per chosen sample, built from coordinate grids (no loop)
    lo, hi = ERASE_HALF_SIDE
    centre = rand(b, 2, 1, 1)
    half = (lo + (hi - lo) * rand(b, 2, 1, 1)) * min(strength, 1.0 / hi)
    ys = torch.linspace(0, 1, h, device=x.device).view(1, h, 1)
    xs = torch.linspace(0, 1, w, device=x.device).view(1, 1, w)
    inside = ((ys - centre[:, 0]).abs() < half[:, 0]) & ((xs - centre[:, 1]).abs() < half[:, 1])
    chosen = (rand(b) < ERASE_PROB).view(b, 1, 1)
    out = out.masked_fill((inside & chosen).unsqueeze(1), 0.0)
    return out.clamp_(0, 1) if clip else out
