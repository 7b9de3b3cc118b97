"""The paper's summary format: Z-scores of every method within each comparison, their
mean per method, and ranks (1 = best).

Input is a long table with one row per score: columns ``entry`` (the compared thing,
e.g. ``cmim[sum]``), ``dataset``, ``embedding``, ``metric``, ``seed``, ``value`` and
``higher_is_better``.

Z-score: scores are first averaged over seeds; then within each group of
(dataset, metric, embedding) z = (score - mean over entries) / std over entries, with the
population std (ddof = 0), and the sign flipped where lower is better so that a higher z
is always better. A group whose entries all score the same gives z = 0.

:func:`pooled_ranks` is the paper's "method-X" view: every informative embedding becomes
an entry of its own (``cmim[sum]-X``) and the Z-scores are taken per (dataset, metric)
over all entries of both kinds, so a -X entry competes with every plain one.

:func:`ranks_section`, :func:`notes_section` and :func:`write_tables` are the report pieces
every benchmark shares.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..infra.files import write_text

GROUP = ("dataset", "metric", "embedding")


def seed_means(df: pd.DataFrame, keys=("entry",) + GROUP) -> pd.DataFrame:
    """Mean, std and count over seeds for every (entry, dataset, metric, embedding)."""
    keys = list(keys)
    out = (
        df.groupby(keys + ["higher_is_better"], dropna=False)["value"]
        .agg(mean="mean", std="std", n_seeds="count")
        .reset_index()
    )
    out["std"] = out["std"].fillna(0.0)
    return out


def zscores(df: pd.DataFrame, group=GROUP) -> pd.DataFrame:
    """Add a ``z`` column to the seed means of ``df`` (see the module docstring)."""
    means = seed_means(df)
    group = list(group)

    by_group = means.groupby(group, dropna=False)["mean"]
    centre = by_group.transform("mean")
    spread = by_group.transform(lambda s: s.std(ddof=0))
    z = ((means["mean"] - centre) / spread.where(spread > 0)).fillna(0.0)
    means["z"] = z.where(means["higher_is_better"].astype(bool), -z)
    return means


def ranks(z: pd.DataFrame, by=("entry",)) -> pd.DataFrame:
    """Mean Z per ``by`` (over all groups) and its rank (1 = best), best first."""
    by = list(by)
    out = z.groupby(by)["z"].agg(mean_z="mean", n_scores="count").reset_index()
    # round before ranking so that floating-point noise does not break exact ties
    out["rank"] = out["mean_z"].round(9).rank(ascending=False, method="min").astype(int)
    return out.sort_values("rank").reset_index(drop=True)


def with_x_entries(df: pd.DataFrame) -> pd.DataFrame:
    """Rename the entries of informative-embedding rows to ``<entry>-X`` (the paper's naming)."""
    out = df.copy()
    informative = out["embedding"] == "informative"
    out.loc[informative, "entry"] = out.loc[informative, "entry"] + "-X"
    return out


def pooled_ranks(df: pd.DataFrame) -> pd.DataFrame:
    """Mean Z and rank over entries *and* their -X twins, Z per (dataset, metric)."""
    z = zscores(with_x_entries(df), group=("dataset", "metric"))
    return ranks(z, by=("entry",))


def score_table(df: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """Wide table: rows (dataset, embedding, entry), columns metrics, cells 'mean ± std'."""
    means = seed_means(df)
    means["cell"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(means["mean"], means["std"])]
    wide = means.pivot_table(index=["dataset", "embedding", "entry"], columns="metric", values="cell", aggfunc="first")
    wide.columns.name = None
    return wide.reset_index()


def markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured Markdown table of ``df`` (no index)."""
    return df.to_markdown(index=False, floatfmt=floatfmt)


def ranks_section(overall: pd.DataFrame, with_x: pd.DataFrame, sign_note: str = "") -> list[str]:
    """The report's two rank tables (per kind, and the pooled method-X view) as Markdown lines;
    ``sign_note`` (e.g. "RMSE signs flipped: higher Z = better; ") goes before "rank 1 = best"."""
    return [
        "Mean Z-score per entry (Z per dataset, probe and embedding kind, averaged over both kinds; "
        f"{sign_note}rank 1 = best):",
        "",
        markdown(overall),
        "",
        "The paper's 'method-X' view: each informative embedding is an entry of its own (`-X`), Z per "
        "dataset and probe over all entries:",
        "",
        markdown(with_x),
        "",
    ]


def write_tables(result) -> Path:
    """Write a benchmark result's ``raw.csv``, ``zscores.csv``, ``ranks.csv`` (column ``view``:
    "per kind" / "with -X") and ``summary.md`` into ``result.out_dir``; return that folder."""
    out = result.out_dir
    write_text(out / "raw.csv", result.raw.to_csv(index=False))
    write_text(out / "zscores.csv", result.z.to_csv(index=False))
    write_text(
        out / "ranks.csv",
        pd.concat([result.ranks.assign(view="per kind"), result.ranks_with_x.assign(view="with -X")]).to_csv(
            index=False
        ),
    )
    write_text(out / "summary.md", result.markdown)
    return out


def notes_section(training: pd.DataFrame) -> list[str]:
    """Markdown lines listing the models of a study's ``training`` table
    (:attr:`cmim_lab.studies.engine.StudyResult.training`) whose ``note`` is not empty --
    training diverged (no scores) or codes constant (scores at chance) -- one line each,
    ``- vae[sum] seed 0 on digits: codes are constant: probes at chance``; none without such models."""
    if "note" not in training:
        return []
    noted = training[training["note"].fillna("").astype(str) != ""]
    if noted.empty:
        return []
    lines = ["Models to read with care (a diverged model has no scores; constant codes score at chance):", ""]
    for _, row in noted.iterrows():
        where = f", batch size {row['batch_size']}" if "batch_size" in noted else ""
        where += f" on {row['dataset']}" if "dataset" in noted else ""
        lines.append(f"- {row['entry']} seed {row['seed']}{where}: {row['note']}")
    return lines + [""]
