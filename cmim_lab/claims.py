"""Verdicts on paired comparisons: is entry A better than entry B, over seeds?

Every claim of the paper the kit checks is a comparison of two entries trained and scored
with the same seeds on the same data (cMIM vs MIM, MIM vs VAE, -X vs mu, ...). The verdict
is computed, never written by hand::

    v = compare({0: 0.847, 1: 0.849, 2: 0.846}, {0: 0.845, 1: 0.844, 2: 0.846})
    v.verdict, v.mean_diff, (v.low, v.high)      # 'within noise', 0.0023, (-0.0039, 0.0086)
    print(v)                                      # one line: numbers, interval, n, margin, verdict

The difference of each seed is ``a - b`` (``b - a`` when lower is better, so a positive
difference always means A is better). Over n seeds: the mean difference, its standard
deviation (n - 1 in the denominator) and the two-sided ``confidence`` interval of the mean
from Student's t with n - 1 degrees of freedom. The verdict word:

* ``holds``: the interval lies above ``+margin`` (A is better by more than the margin);
* ``reverses``: the interval lies below ``-margin`` (B is better);
* ``within noise``: anything else.

With one seed there is no interval: the verdict is None and the text says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

VERDICTS = ("holds", "reverses", "within noise")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`compare`: differences in the scores' own units (A minus B, signed
    so that positive means A is better)."""
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

    def __str__(self) -> str:
        if self.verdict is None:
            return (f"A - B = {self.mean_diff:+.4f} from one seed: no verdict (run at least two seeds)")
        return (f"A - B = {self.mean_diff:+.4f} ± {self.std:.4f} (std over {self.n_seeds} seeds), "
                f"{self.confidence:.0%} interval [{self.low:+.4f}, {self.high:+.4f}], margin {self.margin:g}: "
                f"{self.verdict}")

    def to_dict(self) -> dict:
        """Plain values for JSON reports."""
        return {"mean_diff": self.mean_diff, "std": self.std, "low": self.low, "high": self.high,
                "n_seeds": self.n_seeds, "verdict": self.verdict, "margin": self.margin,
                "confidence": self.confidence, "higher_is_better": self.higher_is_better,
                "per_seed": {str(k): v for k, v in self.diffs.items()}}


def compare(a: Mapping, b: Mapping, *, margin: float = 0.0, confidence: float = 0.95,
            higher_is_better: bool = True) -> Verdict:
    """Paired comparison of per-seed scores ``a`` and ``b`` ({seed: score}, or a pandas
    Series indexed by seed); both must hold the same seeds. See the module docstring."""
    a, b = _scores("a", a), _scores("b", b)
    if set(a) != set(b):
        raise ValueError(f"compare needs the same seeds on both sides (paired by seed): a has "
                         f"{sorted(a)}, b has {sorted(b)}; missing in b: {sorted(set(a) - set(b))}, "
                         f"missing in a: {sorted(set(b) - set(a))}")
    if not a:
        raise ValueError("compare needs at least one seed on each side, got none")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0 (in the scores' units), got {margin!r}")
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a float in (0, 1), e.g. 0.95, got {confidence!r}")
    sign = 1.0 if higher_is_better else -1.0
    diffs = {seed: sign * (a[seed] - b[seed]) for seed in sorted(a)}
    values = list(diffs.values())
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return Verdict(mean, math.nan, math.nan, math.nan, 1, None, float(margin), confidence, diffs,
                       higher_is_better)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    word = "holds" if low > margin else "reverses" if high < -margin else "within noise"
    return Verdict(mean, std, low, high, n, word, float(margin), confidence, diffs, higher_is_better)


def _scores(name: str, scores) -> dict:
    items = scores.items() if hasattr(scores, "items") else None
    if items is None:
        raise ValueError(f"{name} must map seed -> score (a dict or a pandas Series indexed by seed), "
                         f"got {type(scores).__name__}")
    out, count = {}, 0
    for seed, value in items:
        count += 1
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{seed!r}] must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{name}[{seed!r}] is {value}: every score must be finite")
        out[int(seed)] = value
    if len(out) != count:
        raise ValueError(f"{name} names a seed more than once: every seed must appear once")
    return out
