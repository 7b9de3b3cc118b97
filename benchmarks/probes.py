"""Probe speed and agreement: the torch probes against scikit-learn's, on the same embeddings.

A small cMIM (MLP 512-512, latent 16, one epoch) is trained (or loaded from the cache) on
the dataset; its 16-d mean embedding and its informative embedding (mu plus the decoder's
hidden layers, 1,040-d for this model) are computed once, then every probe of
:data:`cmim_lab.config.CLASSIFICATION_PROBES` is fitted on the training codes and scored on
the whole test split by both backends of :mod:`cmim_lab.probes`, with the default
:class:`~cmim_lab.config.EvalConfig`, and once more by the torch backend with the MLP probe's
hidden layer in bfloat16 (``mlp_precision="bfloat16"``; column ``torch-bf16``). Printed: a
Markdown table (embedding, probe, accuracy and seconds per column, the speed-up of torch over
scikit-learn) and the wall-clock total per column; written: ``runs/probes_benchmark.json``.

    python benchmarks/probes.py                          # Fashion-MNIST, all 60,000 training codes, CPU
    python benchmarks/probes.py --quick                  # 5,000 training codes: a minute or two
    python benchmarks/probes.py --device cuda            # torch probes on the GPU (scikit-learn stays on the CPU)
    python benchmarks/probes.py --dataset mnist-5k --skip-sklearn
    python benchmarks/probes.py --matmul-only            # torch.mm's GFLOP/s on the probes' product shapes

Targets on a 2-core CPU: the four torch probes on the 1,040-d informative embedding fitted on
60,000 codes in at most 30 s in total (missed: about 54 s, 35 s with the bfloat16 MLP; the
products alone need about 28 s on this CPU, see docs/results.md and --matmul-only), and the
torch logistic probe at least 10 times faster than scikit-learn's. Run it on an otherwise idle
machine: other processes competing for the cores distort the timings (the load average is
recorded before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmim_lab import data, probes  # noqa: E402
from cmim_lab.config import CLASSIFICATION_PROBES, EvalConfig, TrainConfig  # noqa: E402
from cmim_lab.infra.paths import repo_path  # noqa: E402

QUICK_N_TRAIN = 5_000
KINDS = ("mean", "informative")


def get_model(ds, dataset: str, n_train, epochs: int, device: torch.device):
    """(model, provenance): the cached or freshly trained cMIM (see module docstring)."""
    from cmim_lab.trainer import load_or_train

    config = TrainConfig(dataset=dataset, epochs=epochs, n_train=n_train)
    result = load_or_train(config, ds, device=device, progress=False)
    how = "trained" if result.trained_now else "cached"
    return result.model, f"cmim_lab.trainer.load_or_train, {epochs} epoch(s), {how}"


def embeddings(model, ds) -> dict:
    """{kind: (train [N, D], test [M, D])}, float32 on the CPU."""
    from cmim_lab.embeddings import embed

    return {kind: (embed(model, ds.x_train, kind), embed(model, ds.x_test, kind)) for kind in KINDS}


# the benchmark's columns: label -> EvalConfig fields
COLUMNS = {
    "torch": dict(backend="torch"),
    "torch-bf16": dict(backend="torch", mlp_precision="bfloat16"),
    "sklearn": dict(backend="sklearn"),
}


def run_backend(column: str, train, y_train, test, y_test, device, names) -> tuple[dict, dict, float, dict]:
    """(scores, seconds per probe, wall seconds, solver notes per probe) of one column of
    :data:`COLUMNS` on one embedding; the notes (torch only: the probe family's fields of
    :class:`cmim_lab.probes.Diagnostics`) hold L-BFGS iterations and evaluations, MLP epochs
    and the kNN features and rows that needed float64 re-ranking."""
    cfg = EvalConfig(probes=tuple(names), **COLUMNS[column])
    times, notes = {}, {}
    diagnostics = probes.Diagnostics()

    def progress(message):
        print(f"  {column:10s} {message}", flush=True)
        if cfg.backend == "torch":
            name = message.split()[0]
            notes[name] = diagnostics.of(name)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cfg.backend == "torch":
            train, test = train.to(device), test.to(device)
        scores = probes.classification_scores(
            train, y_train, test, y_test, cfg, times=times, progress=progress, diagnostics=diagnostics
        )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return scores, times, time.perf_counter() - start, notes


# the products that dominate the four probes on the 1,040-d -X of 60,000 codes: (name, M, K, N, A transposed)
MATMULS = (
    ("kNN block: 2,048 test x 940 features x 60,000 train", 2048, 940, 60000, False),
    ("MLP forward: 200 x 1,040 x 256", 200, 1040, 256, False),
    ("MLP weight gradient: (1,040 x 200) x 256", 1040, 200, 256, True),
    ("logistic: 60,000 x 940 x 10 classes", 60000, 940, 10, False),
)


def matmul_rates(device: torch.device, rounds: int = 3, seconds: float = 0.3) -> dict[str, float]:
    """GFLOP/s of ``torch.mm`` in float32 on ``device`` for each shape of :data:`MATMULS`: the
    best of ``rounds`` rounds, each repeating the product for at least ``seconds`` after one
    warm-up call. The speed the probes' products can reach here, which bounds their total
    time from below."""
    rates = {}
    for name, m, k, n, transposed in MATMULS:
        a = torch.randn(k, m, device=device).T if transposed else torch.randn(m, k, device=device)
        b = torch.randn(k, n, device=device)
        out = torch.empty(m, n, device=device)
        torch.mm(a, b, out=out)
        best = 0.0
        for _ in range(rounds):
            calls, start = 0, time.perf_counter()
            while True:
                torch.mm(a, b, out=out)
                calls += 1
                if device.type == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
            best = max(best, 2 * m * k * n * calls / elapsed / 1e9)
        rates[name] = best
    return rates


def print_matmul_rates(rates: dict[str, float]) -> None:
    print("torch.mm float32 (GFLOP/s): " + "; ".join(f"{name} {rate:.0f}" for name, rate in rates.items()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="where the torch probes run: cpu or cuda")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--n-train", type=int, default=None, help="training codes the probes are fitted on (default: all)")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the cMIM that makes the embeddings")
    p.add_argument("--probes", default=",".join(CLASSIFICATION_PROBES))
    p.add_argument("--quick", action="store_true", help=f"fit on {QUICK_N_TRAIN:,} training codes")
    p.add_argument("--skip-sklearn", action="store_true", help="time the torch probes only")
    p.add_argument("--skip-bfloat16", action="store_true", help="leave out the torch run with the bfloat16 MLP")
    p.add_argument(
        "--matmul-only",
        action="store_true",
        help="only time torch.mm on the probes' product shapes (seconds; no data, no probes)",
    )
    p.add_argument("--out", default=str(repo_path("runs", "probes_benchmark.json")))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    if args.matmul_only:
        rates = matmul_rates(device)
        print_matmul_rates(rates)
        return {"matmul_gflops": rates}
    n_train = args.n_train
    if args.quick:
        n_train = min(n_train or QUICK_N_TRAIN, QUICK_N_TRAIN)
    names = [n.strip() for n in args.probes.split(",") if n.strip()]
    load_before = os.getloadavg()
    ds = data.load(args.dataset, n_train=n_train)
    print(
        f"{args.dataset}: {len(ds.y_train)} training / {len(ds.y_test)} test images; "
        f"torch {torch.__version__} on {device} ({torch.get_num_threads()} threads); "
        f"load average {load_before[0]:.1f}"
    )
    model, provenance = get_model(ds, args.dataset, n_train, args.epochs, torch.device("cpu"))
    print(f"model: {provenance}")
    embeds = embeddings(model, ds)
    rows, totals = [], {}
    backends = tuple(
        c
        for c in COLUMNS
        if not (c == "sklearn" and args.skip_sklearn) and not (c == "torch-bf16" and args.skip_bfloat16)
    )
    for kind in KINDS:
        train, test = embeds[kind]
        print(f"{kind} embedding: {tuple(train.shape)} train, {tuple(test.shape)} test")
        result = {}
        for backend in backends:
            result[backend] = run_backend(backend, train, ds.y_train, test, ds.y_test, device, names)
            totals[f"{kind}/{backend}"] = result[backend][2]
        for name in names:
            row = {"embedding": kind, "dim": int(train.shape[1]), "probe": name}
            for backend in backends:
                scores, times, _, notes = result[backend]
                row[f"{backend}_accuracy"] = scores[name]
                row[f"{backend}_seconds"] = times[name]
                if name in notes:
                    row[f"{backend}_notes"] = notes[name]
            if "sklearn" in backends:
                row["speedup"] = row["sklearn_seconds"] / max(row["torch_seconds"], 1e-9)
            rows.append(row)
    rates = matmul_rates(device)
    load_after = os.getloadavg()
    print()
    print(markdown(rows, totals, backends))
    print_matmul_rates(rates)
    print(
        f"\nload average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
        f"(above ~0.5 the machine was busy and the seconds are inflated)"
    )
    record = {
        "dataset": args.dataset,
        "n_train": len(ds.y_train),
        "n_test": len(ds.y_test),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "model": provenance,
        "quick": args.quick,
        "eval_config": EvalConfig().to_dict(),
        "columns": {c: COLUMNS[c] for c in backends},
        "rows": rows,
        "total_seconds": totals,
        "matmul_gflops": rates,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "command": "python benchmarks/probes.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")
    return record


def markdown(rows, totals, backends) -> str:
    """The table of :func:`main` in Markdown, plus one total row per embedding."""
    head = ["embedding", "probe"]
    for b in backends:
        head += [f"{b} accuracy", f"{b} s"]
    if "sklearn" in backends:
        head.append("speed-up")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind in dict.fromkeys(r["embedding"] for r in rows):
        sel = [r for r in rows if r["embedding"] == kind]
        for r in sel:
            cells = [f"{kind} ({r['dim']}-d)", r["probe"]]
            for b in backends:
                cells += [f"{r[f'{b}_accuracy']:.4f}", f"{r[f'{b}_seconds']:.1f}"]
            if "sklearn" in backends:
                cells.append(f"{r['speedup']:.1f}x")
            lines.append("| " + " | ".join(cells) + " |")
        cells = [f"{kind} ({sel[0]['dim']}-d)", "**total**"]
        for b in backends:
            cells += ["", f"**{totals[f'{kind}/{b}']:.1f}**"]
        if "sklearn" in backends:
            cells.append(f"**{totals[f'{kind}/sklearn'] / max(totals[f'{kind}/torch'], 1e-9):.1f}x**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
