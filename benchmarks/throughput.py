"""Training throughput of the kit's trainer against a bare PyTorch loop.

Both run the same model, objective and optimiser for the same number of steps; the bare
loop iterates over batches that were sliced out before the clock starts, the trainer does
its own shuffling, logging, divergence checks and progress bar. Reported: samples per
second (median of --repeats runs) and the trainer's overhead relative to the bare loop.

    python benchmarks/throughput.py                      # CPU, cmim and infonce
    python benchmarks/throughput.py --device cuda --steps 2000

Run it on an otherwise idle machine: other processes competing for the cores distort
PyTorch's CPU timings by far more than the overhead being measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from cmim_lab import data
from cmim_lab.config import TrainConfig
from cmim_lab.trainer import resolve_device, train


def bare_loop(config: TrainConfig, x: torch.Tensor, steps: int, device) -> float:
    """Samples per second of a minimal loop over pre-made batches."""
    torch.manual_seed(config.seed)
    model = config.build_model(x.shape[1:]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    objective = config.objective()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_batches = len(x) // config.batch_size
    batches = [x[order[i * config.batch_size : (i + 1) * config.batch_size]].to(device) for i in range(n_batches)]
    _sync(device)
    start = time.perf_counter()
    for step in range(steps):
        out = objective(model, batches[step % n_batches])
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    _sync(device)
    return steps * config.batch_size / (time.perf_counter() - start)


def trainer_run(config: TrainConfig, ds, steps: int, device, progress: bool) -> float:
    """Samples per second of :func:`cmim_lab.train` for the same number of steps (wall clock)."""
    cfg = config.replace(max_steps=steps)
    _sync(device)
    start = time.perf_counter()
    train(cfg, ds, device=device, progress=progress)
    _sync(device)
    return steps * config.batch_size / (time.perf_counter() - start)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="cmim,infonce")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--n-train", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "runs" / "throughput.json"))
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    ds = data.load(args.dataset, n_train=args.n_train)
    rows = []
    for method in args.methods.split(","):
        config = TrainConfig(method=method, dataset=args.dataset, n_train=args.n_train, batch_size=args.batch_size)
        bare_loop(config, ds.x_train, 20, device)  # warm-up (allocator, kernels)
        bare, quiet, bar = [], [], []
        for _ in range(args.repeats):  # interleaved, so drifts in machine load hit all three
            bare.append(bare_loop(config, ds.x_train, args.steps, device))
            quiet.append(trainer_run(config, ds, args.steps, device, progress=False))
            bar.append(trainer_run(config, ds, args.steps, device, progress=True))
        b, q, w = statistics.median(bare), statistics.median(quiet), statistics.median(bar)
        rows.append(
            {
                "method": method,
                "device": str(device),
                "batch_size": args.batch_size,
                "steps": args.steps,
                "bare_samples_per_s": round(b),
                "trainer_samples_per_s": round(q),
                "trainer_with_progress_bar_samples_per_s": round(w),
                "trainer_overhead_pct": round(100 * (b - q) / b, 1),
                "with_progress_bar_overhead_pct": round(100 * (b - w) / b, 1),
                "torch_threads": torch.get_num_threads(),
            }
        )
    header = list(rows[0])
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(str(r[h]) for h in header))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
