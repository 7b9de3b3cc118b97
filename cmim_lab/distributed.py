"""Multi-process training with PyTorch's DistributedDataParallel.

    torchrun --nproc_per_node=2 -m cmim_lab.train --method cmim --dataset fashion-mnist --batch-size 256

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

import argparse
import os
import sys

import torch
import torch.distributed as tdist
from torch import nn

from .trainer import DistContext


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


def _parser() -> argparse.ArgumentParser:
    from .cli import _add_config_flags

    p = argparse.ArgumentParser(prog="python -m cmim_lab.train",
                                description="Train one model; under torchrun, on N processes (DDP).")
    _add_config_flags(p)
    p.add_argument("--checkpoint-dir", default=None, help="folder for the checkpoint (default: the model cache)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--device", default="auto", help="single-process only: auto, cpu, cuda, mps")
    return p


def main(argv=None) -> None:
    """Entry point of ``python -m cmim_lab.train`` (single process) and of torchrun (N processes)."""
    from .cli import _config_from
    from .trainer import load_or_train, model_dir, train

    args = _parser().parse_args(argv)
    try:
        config = _config_from(args)
    except ValueError as exc:
        print(f"cmim_lab.train: error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:  # plain python -m cmim_lab.train
        if args.checkpoint_dir:
            result = train(config, device=args.device, checkpoint_dir=args.checkpoint_dir,
                           progress=not args.no_progress)
        else:
            result = load_or_train(config, device=args.device, progress=not args.no_progress)
        _report(result)
        return
    device = init_from_env()
    rank = tdist.get_rank()
    unused = config.method == "infonce" and config.recon_weight == 0  # pure SimCLR never uses the decoder
    try:
        ctx = make_context(device, find_unused_parameters=unused)
        directory = args.checkpoint_dir or model_dir(config)
        result = train(config, device=device, checkpoint_dir=directory, progress=not args.no_progress, dist=ctx)
        tdist.barrier()
        if rank == 0:
            _report(result)
    except Exception as exc:
        print(f"[rank {rank}] training failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        if tdist.is_initialized():
            tdist.destroy_process_group()
        raise SystemExit(1)
    tdist.destroy_process_group()


def _report(result) -> None:
    print(result.history.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"checkpoint: {result.directory}")
