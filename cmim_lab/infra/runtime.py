"""Where computations run: the one place that turns a device string into a ``torch.device``.

``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit device must exist here.
"""

from __future__ import annotations

import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit device must exist.

    Raises ``ValueError`` naming the device and the valid spellings.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; use {DEVICE_CHOICES}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use auto or cpu")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"device {device!r} requested but Apple MPS is not available here; use auto or cpu")
    return dev


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())
