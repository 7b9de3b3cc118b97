"""Multi-process training with PyTorch's DistributedDataParallel.

    torchrun --nproc_per_node=2 -m cmim_lab.cli train --method cmim --dataset fashion-mnist --batch-size 256

(``cmim-lab train`` sees torchrun's ``WORLD_SIZE`` and calls :func:`train_distributed`.)

* Backend: nccl on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on the CPU.
* Global batch: ``--batch-size`` is the global batch B; each of the N processes takes its
  own B/N samples of every global batch (the shuffling order is shared, so the global batch
  is the same as in a single-process run).
* Contrastive terms see the **global** batch: codes are gathered from every rank with
  ``torch.distributed.nn.functional.all_gather``, whose backward sends each rank the
  gradient of its own codes. Every rank computes the same global contrastive term; the
  other terms are local means; DDP averages the gradients. The result equals one process
  with the whole batch B (tested with 2 gloo processes).
* Seeds: the model is initialised from the run seed on every rank (and DDP broadcasts rank
  0's weights); the sampling and augmentation noise of rank r is seeded from (seed, epoch, r).
* Only rank 0 writes checkpoints and prints. An exception on any rank prints
  ``[rank r] ...`` with the reason, tears the process group down and exits non-zero;
  torchrun then stops the other ranks.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import torch
import torch.distributed as tdist
from torch import nn

from . import data as data_module
from .config import TrainConfig
from .trainer import DistContext, TrainResult, model_dir, train


def gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` [b, d] from every rank, in rank order: [N*b, d]; gradients flow back."""
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(t.contiguous()), dim=0)


def make_context(device: torch.device, find_unused_parameters: bool = False) -> DistContext:
    """A :class:`~cmim_lab.trainer.DistContext` for the initialised default process group."""
    rank, world = tdist.get_rank(), tdist.get_world_size()

    def wrap(module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        return DDP(module, device_ids=ids, find_unused_parameters=find_unused_parameters)

    def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        tdist.all_reduce(t)
        return t / world

    return DistContext(rank, world, gather_with_grad, wrap, all_reduce_mean)


def init_from_env() -> torch.device:
    """Initialise the default process group from torchrun's environment; return this rank's device."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend=backend)
    return device


def world_size() -> int:
    """Number of processes torchrun started (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def train_distributed(
    config: TrainConfig,
    *,
    checkpoint_dir=None,
    progress: bool = True,
    report: Callable[[TrainResult], None] | None = None,
) -> int:
    """Train ``config`` on every process torchrun started; rank 0 writes the checkpoint
    (``checkpoint_dir``, default the model cache) and calls ``report(result)``. Returns the
    exit status: 0, or 1 after printing ``[rank r] training failed: ...``."""
    device = init_from_env()
    rank = tdist.get_rank()
    unused = config.method == "infonce" and config.recon_weight == 0  # pure SimCLR never uses the decoder
    try:
        data = data_module.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
        ctx = make_context(device, find_unused_parameters=unused)
        directory = checkpoint_dir or model_dir(config)
        result = train(config, data, device=device, checkpoint_dir=directory, progress=progress, dist=ctx)
        tdist.barrier()
        if rank == 0 and report:
            report(result)
    except Exception as exc:
        print(f"[rank {rank}] training failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        if tdist.is_initialized():
            tdist.destroy_process_group()
        return 1
    tdist.destroy_process_group()
    return 0
