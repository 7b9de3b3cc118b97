"""The README's headline table of a benchmark run, from its ``raw.csv``.

    python benchmarks/readme_table.py runs/benchmark-fashion-mnist

One row per entry (in the order of the run), mean ± std over seeds: kNN-cosine and linear
probes on the posterior mean (μ) and on -X, the MLP probe on μ, reconstruction NLL (nats per
test image), active units and k-means NMI; then the raw-pixel and PCA baselines. Every number
is read from the file the benchmark wrote (``cmim-lab benchmark --out ...``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

COLUMNS = [
    ("kNN-cos μ", "mean", "knn-cosine"),
    ("kNN-cos -X", "informative", "knn-cosine"),
    ("linear μ", "mean", "linear"),
    ("linear -X", "informative", "linear"),
    ("MLP μ", "mean", "mlp"),
    ("MLP -X", "informative", "mlp"),
    ("recon NLL", "", "recon_nll"),
    ("active units", "", "active_units"),
    ("k-means NMI", "", "kmeans_nmi"),
]
DIGITS = {"recon_nll": 1, "active_units": 1}


def cell(values: pd.Series, metric: str, baseline: bool) -> str:
    if values.empty:
        return ""
    d = DIGITS.get(metric, 3)
    if baseline:
        return f"{values.mean():.{d}f}"
    return f"{values.mean():.{d}f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.{d}f}"


def table(raw: pd.DataFrame) -> str:
    """The Markdown table of ``raw`` (one benchmark dataset)."""
    raw = raw.copy()
    raw["embedding"] = raw["embedding"].fillna("")
    lines = ["| entry | " + " | ".join(c[0] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for kind in ("model", "baseline"):
        part = raw[raw["kind"] == kind]
        for entry in dict.fromkeys(part["entry"]):
            rows = part[part["entry"] == entry]
            cells = []
            for _, embedding, metric in COLUMNS:
                if kind == "baseline":
                    sel = rows[(rows["metric"] == metric) & (embedding == "mean")]
                else:
                    sel = rows[(rows["metric"] == metric) & (rows["embedding"] == embedding)]
                cells.append(cell(sel["value"], metric, kind == "baseline"))
            name = f"{entry} (baseline)" if kind == "baseline" else entry
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="the benchmark's --out folder (holds raw.csv)")
    args = p.parse_args(argv)
    raw = pd.read_csv(Path(args.run) / "raw.csv")
    for dataset in dict.fromkeys(raw["dataset"]):
        print(f"\n{dataset}\n")
        print(table(raw[raw["dataset"] == dataset]))


if __name__ == "__main__":
    main()
