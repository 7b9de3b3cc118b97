"""Numerical settings the torch probes hold for the duration of a fit: one thread for small
products, IEEE float32 matrix products on CUDA."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def single_thread(active: bool):
    """torch's intra-op threads set to 1 for the duration (restored after) when ``active``:
    products too small to share between threads run faster on one, and do not stall when
    other processes hold the cores."""
    threads = torch.get_num_threads()
    if not active or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def ieee_float32(device: torch.device):
    """Full-precision float32 matrix products on CUDA for the duration (no TF32: the kNN
    error bounds and the logistic probe's gradients assume IEEE float32)."""
    matmul = torch.backends.cuda.matmul
    if device.type != "cuda":
        yield
        return
    flag = "fp32_precision" if hasattr(matmul, "fp32_precision") else "allow_tf32"  # torch >= 2.9 / older
    old = getattr(matmul, flag)
    setattr(matmul, flag, "ieee" if flag == "fp32_precision" else False)
    try:
        yield
    finally:
        setattr(matmul, flag, old)
