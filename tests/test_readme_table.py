"""benchmarks/readme_table.py: the README's headline table is computed from raw.csv, not typed."""

import importlib.util

import pandas as pd

from cmim_lab.infra.paths import repo_path

spec = importlib.util.spec_from_file_location("readme_table", repo_path("benchmarks", "readme_table.py"))
readme_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_table)


def test_mean_and_sample_std_over_seeds_and_baselines_without_spread():
    rows = [
        {
            "kind": "model",
            "entry": "cmim[sum]",
            "seed": s,
            "dataset": "d",
            "embedding": "mean",
            "metric": "knn-cosine",
            "value": v,
        }
        for s, v in [(0, 0.80), (1, 0.84)]
    ]
    rows += [
        {
            "kind": "model",
            "entry": "cmim[sum]",
            "seed": s,
            "dataset": "d",
            "embedding": None,
            "metric": "recon_nll",
            "value": v,
        }
        for s, v in [(0, 210.0), (1, 212.0)]
    ]
    rows += [
        {
            "kind": "baseline",
            "entry": "pixels",
            "seed": 0,
            "dataset": "d",
            "embedding": "baseline",
            "metric": "knn-cosine",
            "value": 0.855,
        }
    ]
    lines = readme_table.table(pd.DataFrame(rows)).splitlines()
    cmim = lines[2].split(" | ")
    assert cmim[0] == "| cmim[sum]" and cmim[1] == "0.820 ± 0.028"  # std with n - 1: 0.04 / sqrt(2)
    assert "211.0 ± 1.4" in lines[2]
    assert lines[3].startswith("| pixels (baseline) | 0.855 |")
