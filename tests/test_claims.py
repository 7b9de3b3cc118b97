"""The verdict logic of cmim_lab.claims.compare on synthetic paired scores."""
import math

import pandas as pd
import pytest

from cmim_lab.claims import VERDICTS, compare


def test_hand_worked_interval():
    # differences 1, 2, 3: mean 2, std 1, t(0.975, 2) = 4.302653, half-width 4.302653 / sqrt(3)
    v = compare({0: 11.0, 1: 12.0, 2: 13.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    half = 4.302652729911275 / math.sqrt(3)
    assert v.mean_diff == pytest.approx(2.0) and v.std == pytest.approx(1.0) and v.n_seeds == 3
    assert (v.low, v.high) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert v.verdict == "within noise"  # the interval (-0.484, 4.484) straddles zero


def test_each_verdict_word():
    holds = compare({0: 0.85, 1: 0.86, 2: 0.87}, {0: 0.80, 1: 0.81, 2: 0.83})
    reverses = compare({0: 0.80, 1: 0.81, 2: 0.83}, {0: 0.85, 1: 0.86, 2: 0.87})
    noise = compare({0: 0.85, 1: 0.80, 2: 0.86}, {0: 0.84, 1: 0.83, 2: 0.85})
    assert (holds.verdict, reverses.verdict, noise.verdict) == ("holds", "reverses", "within noise")
    assert {holds.verdict, reverses.verdict, noise.verdict} == set(VERDICTS)
    assert holds.low > 0 and reverses.high < 0 and noise.low < 0 < noise.high


def test_margin_turns_a_small_win_into_noise_and_is_printed():
    a, b = {0: 0.860, 1: 0.861, 2: 0.860}, {0: 0.850, 1: 0.850, 2: 0.850}  # A wins by about 0.01
    assert compare(a, b).verdict == "holds"
    v = compare(a, b, margin=0.02)
    assert v.verdict == "within noise" and "margin 0.02" in str(v)


def test_lower_is_better_flips_the_sign():
    v = compare({0: 80.0, 1: 81.0, 2: 80.5}, {0: 90.0, 1: 91.0, 2: 90.2}, higher_is_better=False)
    assert v.mean_diff > 0 and v.verdict == "holds"


def test_one_seed_gives_no_verdict_and_says_so():
    v = compare({0: 0.9}, {0: 0.8})
    assert v.verdict is None and v.n_seeds == 1 and math.isnan(v.low)
    assert "one seed: no verdict" in str(v)


def test_unequal_seed_sets_are_refused_with_the_seeds_named():
    with pytest.raises(ValueError, match=r"same seeds.*missing in b: \[2\]"):
        compare({0: 0.8, 1: 0.8, 2: 0.8}, {0: 0.8, 1: 0.8})


@pytest.mark.parametrize("a, b, match", [
    ({}, {}, "at least one seed"),
    ([0.8, 0.9], {0: 0.8, 1: 0.9}, "must map seed"),
    ({0: float("nan"), 1: 0.8}, {0: 0.8, 1: 0.8}, "finite"),
    ({0: "high", 1: 0.8}, {0: 0.8, 1: 0.8}, "must be a number"),
    (pd.Series([0.8, 0.9], index=[0, 0]), {0: 0.8}, "more than once"),
])
def test_bad_scores_are_refused(a, b, match):
    with pytest.raises(ValueError, match=match):
        compare(a, b)


def test_bad_margin_and_confidence_are_refused():
    with pytest.raises(ValueError, match="margin"):
        compare({0: 1.0, 1: 1.0}, {0: 0.0, 1: 0.0}, margin=-0.1)
    with pytest.raises(ValueError, match="confidence"):
        compare({0: 1.0, 1: 1.0}, {0: 0.0, 1: 0.0}, confidence=95)


def test_pandas_series_by_seed_and_json_dict():
    v = compare(pd.Series({0: 0.9, 1: 0.91}), pd.Series({1: 0.89, 0: 0.88}))
    d = v.to_dict()
    assert d["n_seeds"] == 2 and d["per_seed"] == {"0": pytest.approx(0.02), "1": pytest.approx(0.02)}
    assert d["verdict"] == "holds"  # zero spread: the interval is the point 0.02
