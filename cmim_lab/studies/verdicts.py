"""Verdicts on paired comparisons: is entry A better than entry B, over seeds?

Every claim of the paper the kit checks is a comparison of two entries trained and scored
with the same seeds on the same data (cMIM vs MIM, MIM vs VAE, -X vs mu, ...). The verdict
is computed, never written by hand::

    v = compare({0: 0.847, 1: 0.849, 2: 0.846}, {0: 0.845, 1: 0.844, 2: 0.846}, paired_by="seed")
    v.verdict, v.mean_diff, (v.low, v.high)      # 'within noise', 0.0023, (-0.0039, 0.0086)
    print(v)                                      # one line: numbers, interval, n, margin, verdict

The difference of each seed is ``a - b`` (``b - a`` when lower is better, so a positive
difference always means A is better). Over n seeds: the mean difference, its standard
deviation (n - 1 in the denominator) and the two-sided ``confidence`` interval of the mean
from Student's t with n - 1 degrees of freedom. The verdict word:

* ``holds``: the interval lies above ``+margin`` (A is better by more than the margin);
* ``reverses``: the interval lies below ``-margin`` (B is better);
* ``within noise``: anything else.

``margin`` is the practical-significance margin, in the scores' own units (0.01 = one point
of accuracy); it is printed with every verdict. With one seed there is no interval: the
verdict is None and the text says so.

:func:`compare_entries` reads the two sides from a table (one row per entry and seed);
:func:`verdict_report` is the text of a notebook's verdict cell: the claim, each comparison
with its numbers and spread, and the README's larger run beside it
(:mod:`cmim_lab.studies.readme_results`); :func:`curve_reading` says where a gap along a budget
curve opens and closes.

:func:`run` asks every claim of a dataset of your own (``cmim_lab.claims.run("wine")``, the
same as ``cmim-lab claims --dataset wine``; :func:`cmim_lab.studies.your_data.run`).
"""

from __future__ import annotations

import math
import numbers
import statistics
from dataclasses import dataclass, field
from typing import Mapping

from .readme_results import README_RESULTS

VERDICTS = ("holds", "reverses", "within noise")
NO_VERDICT = "one seed: no verdict"


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`compare`: differences in the scores' own units (A minus B, signed
    so that positive means A is better); ``a`` and ``b`` hold each side's score per seed,
    ``diffs`` the signed difference per seed; ``names`` label the two sides in the text."""

    mean_diff: float
    std: float
    low: float
    high: float
    n_seeds: int
    verdict: str | None
    margin: float
    confidence: float
    diffs: dict = field(default_factory=dict)
    higher_is_better: bool = True
    a: dict = field(default_factory=dict)
    b: dict = field(default_factory=dict)
    names: tuple = ("A", "B")
    paired_by: str = "seed"

    def __str__(self) -> str:
        a, b = self.names
        if self.verdict is None:
            return (
                f"{a} - {b} = {self.mean_diff:+.4f} from one {self.paired_by}, margin {self.margin:g}: "
                f"{NO_VERDICT} (run at least two {self.paired_by}s)"
            )
        return (
            f"{a} - {b} = {self.mean_diff:+.4f} ± {self.std:.4f} (std over {self.n_seeds} {self.paired_by}s), "
            f"{self.confidence:.0%} interval [{self.low:+.4f}, {self.high:+.4f}], margin {self.margin:g}: "
            f"{self.verdict}"
        )

    @property
    def word(self) -> str:
        """The verdict word, or ``one seed: no verdict``."""
        return self.verdict or NO_VERDICT

    def sides(self, digits: int = 3) -> str:
        """Each side's mean ± std over seeds: ``mim[sum] 0.869 ± 0.001 | vae[sum] 0.806 ± 0.006``."""
        return " | ".join(f"{name} {_mean_std(values, digits)}" for name, values in zip(self.names, (self.a, self.b)))

    def to_dict(self) -> dict:
        """Plain values for JSON reports (per-seed scores of both sides and their differences)."""
        return {
            "mean_diff": self.mean_diff,
            "std": _finite(self.std),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "n_seeds": self.n_seeds,
            "verdict": self.verdict,
            "margin": self.margin,
            "confidence": self.confidence,
            "higher_is_better": self.higher_is_better,
            "paired_by": self.paired_by,
            "per_seed": {str(k): v for k, v in self.diffs.items()},
            "a_per_seed": {str(k): v for k, v in self.a.items()},
            "b_per_seed": {str(k): v for k, v in self.b.items()},
        }


def compare(
    a,
    b,
    *,
    paired_by: str = "seed",
    margin: float = 0.0,
    confidence: float = 0.95,
    higher_is_better: bool = True,
    names=("A", "B"),
) -> Verdict:
    """Paired comparison of the scores ``a`` and ``b`` of two entries; see the module docstring.

    ``a`` and ``b``: {key: score} (a dict, a pandas Series indexed by the key, or a
    DataFrame with a ``paired_by`` column and a ``value`` column), where the key is what
    pairs the two sides -- ``paired_by``, the seed by default: both entries trained and
    scored with that seed on the same data. Both sides must hold the same keys (a clear
    ``ValueError`` names the missing ones). ``names``: how the two sides are printed."""
    if not isinstance(paired_by, str) or not paired_by.strip():
        raise ValueError(f"paired_by must name what pairs the two sides (e.g. 'seed'), got {paired_by!r}")
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise ValueError(f"names must be two strings (A's and B's), got {names!r}")
    a, b = _scores("a", a, paired_by), _scores("b", b, paired_by)
    if set(a) != set(b):
        raise ValueError(
            f"compare needs the same {paired_by}s on both sides (paired by {paired_by}): a has "
            f"{sorted(a)}, b has {sorted(b)}; missing in b: {sorted(set(a) - set(b))}, "
            f"missing in a: {sorted(set(b) - set(a))}"
        )
    if not a:
        raise ValueError(f"compare needs at least one {paired_by} on each side, got none")
    if isinstance(margin, bool) or not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0 (in the scores' units), got {margin!r}")
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a float in (0, 1), e.g. 0.95, got {confidence!r}")
    if not isinstance(higher_is_better, bool):
        raise ValueError(f"higher_is_better must be True or False, got {higher_is_better!r}")
    sign = 1.0 if higher_is_better else -1.0
    keys = sorted(a)
    diffs = {k: sign * (a[k] - b[k]) for k in keys}
    values = list(diffs.values())
    n = len(values)
    mean = sum(values) / n
    common = dict(
        diffs=diffs,
        higher_is_better=higher_is_better,
        a={k: a[k] for k in keys},
        b={k: b[k] for k in keys},
        names=tuple(names),
        paired_by=paired_by,
    )
    if n == 1:
        return Verdict(mean, math.nan, math.nan, math.nan, 1, None, float(margin), confidence, **common)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    word = "holds" if low > margin else "reverses" if high < -margin else "within noise"
    return Verdict(mean, std, low, high, n, word, float(margin), confidence, **common)


def compare_entries(
    table,
    a: str,
    b: str,
    column: str = "value",
    *,
    by: str = "entry",
    paired_by: str = "seed",
    where: dict | None = None,
    higher_is_better: bool | None = None,
    **kwargs,
) -> Verdict:
    """:func:`compare` of the rows of ``table`` (a DataFrame) whose ``by`` column is ``a``
    against those where it is ``b``: the scores are ``column``, paired by ``paired_by``.

    ``where``: {column: value} filters applied first (e.g. ``{"metric": "knn-cosine",
    "embedding": "mean"}`` on a study's long rows). ``higher_is_better``: default from the
    table's ``higher_is_better`` column when it has one, else True. Other keyword
    arguments go to :func:`compare`. ``ValueError`` names a missing column or entry."""
    rows = table
    for name in [by, paired_by, column, *(where or {})]:
        if name not in rows.columns:
            raise ValueError(f"table has no column {name!r}; columns: {list(rows.columns)}")
    for key, value in (where or {}).items():
        rows = rows[rows[key] == value]
    sides = []
    for name in (a, b):
        part = rows[rows[by] == name]
        if part.empty:
            raise ValueError(
                f"no rows of {by}={name!r}{_where_text(where)}; {by} values: {sorted(map(str, rows[by].unique()))}"
            )
        sides.append(part)
    if higher_is_better is None:
        flags = set(rows["higher_is_better"].astype(bool)) if "higher_is_better" in rows.columns else {True}
        if len(flags) != 1:
            raise ValueError(f"the rows of {column!r} mix higher- and lower-is-better scores; filter them with where=")
        higher_is_better = flags.pop()
    series = [dict(zip(part[paired_by].tolist(), part[column].tolist())) for part in sides]
    for name, part, s in zip((a, b), sides, series):
        if len(s) != len(part):
            raise ValueError(
                f"{by}={name!r}{_where_text(where)} has more than one row per {paired_by}; filter them with where="
            )
    return compare(
        series[0],
        series[1],
        paired_by=paired_by,
        higher_is_better=higher_is_better,
        names=kwargs.pop("names", (str(a), str(b))),
        **kwargs,
    )


def verdict_report(claim: str, checks: Mapping[str, Verdict], setting: str, *, digits: int = 3) -> str:
    """The text of a notebook's verdict cell.

    ``claim``: a key of :data:`cmim_lab.studies.readme_results.README_RESULTS` (``"1"`` ... ``"4"``),
    which holds the claim in one sentence and the README's larger-run result with its
    command; ``checks``: {what is compared: Verdict} computed from this run; ``setting``:
    this run's sizes in a few words. One line per check: both sides' mean ± std over seeds,
    how much better A is than B (A - B, or B - A where lower is better), its interval, the
    margin and the verdict word."""
    if claim not in README_RESULTS:
        raise ValueError(f"claim must be one of {sorted(README_RESULTS)}, got {claim!r}")
    if not checks:
        raise ValueError("checks must hold at least one {description: Verdict}")
    ref = README_RESULTS[claim]
    first = next(iter(checks.values()))
    lines = [
        f"Claim {claim}: {ref.claim}",
        "",
        f"This run ({setting}; paired by {first.paired_by}, {first.confidence:.0%} t interval, "
        f"verdict: holds / reverses / within noise):",
    ]
    for what, v in checks.items():
        label = "A better by" + ("" if v.higher_is_better else " (B - A: lower is better)")
        if v.verdict is None:
            diff = f"{label} {v.mean_diff:+.{digits}f} from one {v.paired_by}"
        else:
            diff = (
                f"{label} {v.mean_diff:+.{digits}f} ± {v.std:.{digits}f}, interval "
                f"[{v.low:+.{digits}f}, {v.high:+.{digits}f}]"
            )
        lines.append(f"  {what}: {v.sides(digits)}; {diff}, margin {v.margin:g} -> {v.word}")
    lines += [
        "",
        f"README, larger run ({ref.sizes}): {ref.result}",
        f"  command: {ref.command}",
        f"  why the numbers can differ: {ref.difference}",
    ]
    return "\n".join(lines)


def curve_reading(verdicts: Mapping[int, Verdict], what: str) -> str:
    """One sentence on a budget curve: at which steps the difference ``what`` holds,
    reverses or stays within noise, where the gap opens (first step it holds) and where it
    closes (first later step it no longer does). ``verdicts``: {step: Verdict}."""
    if not verdicts:
        raise ValueError("verdicts must hold at least one {step: Verdict}")
    steps = sorted(verdicts)
    words = {s: verdicts[s].word for s in steps}
    if all(verdicts[s].verdict is None for s in steps):
        return f"{what}: {NO_VERDICT} at any step (run at least two seeds)."
    listing = ", ".join(f"{s}: {verdicts[s].mean_diff:+.3f} ({words[s]})" for s in steps)
    opened = next((s for s in steps if words[s] == "holds"), None)
    if opened is None:
        return f"{what} never holds along this run ({listing})."
    closed = next((s for s in steps if s > opened and words[s] != "holds"), None)
    tail = (
        f"it closes by step {closed} ({words[closed]} from there)"
        if closed is not None
        else f"it is still open at the last step ({steps[-1]}): this run does not reach where it closes"
    )
    return f"{what}: the gap opens by step {opened}; {tail}. Per step: {listing}."


def claim_row(
    claim: int, setting: str, verdict, *, statement: str, dataset: str, probe: str, embedding: str, budget: str
) -> dict:
    """One row of ``claims.json``: the claim, its setting, what was compared and the verdict
    (:meth:`Verdict.to_dict`: per-seed values, mean difference, interval)."""
    a, b = verdict.names
    return {
        "claim": claim,
        "setting": setting,
        "statement": statement,
        "a": a,
        "b": b,
        "entries": [a, b],
        "dataset": dataset,
        "probe": probe,
        "embedding": embedding,
        "budget": budget,
        **verdict.to_dict(),
    }


BEST = "best of"  # in curve_verdicts: the best of several entries at each step


def curve_verdicts(
    rows, pairs, *, metrics=("knn-cosine",), embedding: str = "mean", best_of=(), best_name: str = "best MIM", **kwargs
):
    """Paired verdicts along a budget curve, one per (step, metric, pair).

    ``rows``: long rows with ``step``, ``entry``, ``seed``, ``embedding``, ``metric`` and
    ``value`` (:func:`cmim_lab.studies.curves.run_curves`); ``pairs``: (A, B) entry labels, where B
    may be :data:`BEST`: the entry of ``best_of`` with the highest seed mean at that step
    and metric (chosen on the same scores, so the strongest baseline at each budget).
    Returns a DataFrame: ``step``, ``metric``, ``comparison`` (``A - B``), ``a``, ``b``,
    ``mean_diff``, ``low``, ``high``, ``n_seeds``, ``verdict`` (the word, None from one
    seed) and ``result`` (the :class:`Verdict`). Other keyword arguments go to :func:`compare`."""
    import pandas as pd

    out = []
    for metric in metrics:
        part = rows[(rows["metric"] == metric) & (rows["embedding"] == embedding)]
        if part.empty:
            raise ValueError(f"no curve rows for metric {metric!r} on embedding {embedding!r}")
        for step, block in part.groupby("step"):
            best = None
            if best_of:
                means = block[block["entry"].isin(best_of)].groupby("entry")["value"].mean()
                if means.empty:
                    raise ValueError(f"best_of {list(best_of)} names no entry of the curve rows")
                higher = bool(block["higher_is_better"].iloc[0]) if "higher_is_better" in block else True
                best = means.idxmax() if higher else means.idxmin()
            for a, b in pairs:
                other = best if b == BEST else b
                if other is None:
                    raise ValueError("a pair compares with BEST but best_of is empty")
                name = f"{best_name} ({other})" if b == BEST else other
                v = compare_entries(block, a, other, names=(a, name), **kwargs)
                out.append(
                    {
                        "step": int(step),
                        "metric": metric,
                        "comparison": f"{a} - {best_name if b == BEST else b}",
                        "a": a,
                        "b": name,
                        "mean_diff": v.mean_diff,
                        "low": v.low,
                        "high": v.high,
                        "n_seeds": v.n_seeds,
                        "verdict": v.verdict,
                        "result": v,
                    }
                )
    return pd.DataFrame(out)


def _mean_std(values: Mapping, digits: int) -> str:
    vals = list(values.values())
    if len(vals) < 2:
        return f"{vals[0]:.{digits}f}" if vals else "-"
    return f"{statistics.fmean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def _finite(x: float):
    return x if math.isfinite(x) else None


def _where_text(where) -> str:
    return "".join(f", {k}={v!r}" for k, v in (where or {}).items())


def _scores(name: str, scores, paired_by: str) -> dict:
    if hasattr(scores, "columns"):  # a DataFrame: one row per key
        if paired_by not in scores.columns or "value" not in scores.columns:
            raise ValueError(
                f"{name} as a DataFrame needs a {paired_by!r} column and a 'value' column, got {list(scores.columns)}"
            )
        scores = list(zip(scores[paired_by].tolist(), scores["value"].tolist()))
    elif hasattr(scores, "items"):
        scores = list(scores.items())
    else:
        raise ValueError(
            f"{name} must map {paired_by} -> score (a dict, or a pandas Series indexed by "
            f"{paired_by}), got {type(scores).__name__}"
        )
    out = {}
    for key, value in scores:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{key!r}] must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{name}[{key!r}] is {value}: every score must be finite")
        if isinstance(key, numbers.Real) and not isinstance(key, bool) and float(key).is_integer():
            key = int(key)  # numpy and pandas integers, 0.0 from a float column: one spelling of a seed
        if key in out:
            raise ValueError(f"{name} names a {paired_by} more than once ({key!r}): every {paired_by} must appear once")
        out[key] = value
    return out


def run(dataset, **kwargs):
    """The paper's claims asked of ``dataset`` (a registered name, a bundled table, a path or a
    :class:`~cmim_lab.data.Dataset`), with paired verdicts and a recommendation: the result of
    :func:`cmim_lab.studies.your_data.run` (``.rows``, ``.recommendation``, ``.report_path``
    when ``out_dir`` is given), whose keyword arguments it takes."""
    from ..registry import resolve

    # by name: your_data reaches this module's neighbours in studies/ the same way
    return resolve("cmim_lab.studies.your_data:run")(dataset, **kwargs)
