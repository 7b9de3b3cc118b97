"""The verdict logic of cmim_lab.studies.verdicts.compare on synthetic paired scores."""

import math

import pandas as pd
import pytest

from cmim_lab.studies.verdicts import (
    BEST,
    VERDICTS,
    compare,
    compare_entries,
    curve_reading,
    curve_verdicts,
    verdict_report,
)


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


@pytest.mark.parametrize(
    "a, b, match",
    [
        ({}, {}, "at least one seed"),
        ([0.8, 0.9], {0: 0.8, 1: 0.9}, "must map seed"),
        ({0: float("nan"), 1: 0.8}, {0: 0.8, 1: 0.8}, "finite"),
        ({0: "high", 1: 0.8}, {0: 0.8, 1: 0.8}, "must be a number"),
        (pd.Series([0.8, 0.9], index=[0, 0]), {0: 0.8}, "more than once"),
    ],
)
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


# --- paired_by, tables, curves and the verdict cell -------------------------------------------------


def test_paired_by_names_the_key_in_errors_and_text():
    with pytest.raises(ValueError, match=r"same split_seeds on both sides \(paired by split_seed\).*in a: \[3\]"):
        compare({1: 0.8, 2: 0.8}, {1: 0.8, 2: 0.8, 3: 0.7}, paired_by="split_seed")
    v = compare({0: 0.9}, {0: 0.8}, paired_by="seed", margin=0.01, names=("cmim", "mim"))
    assert str(v).startswith("cmim - mim = +0.1000 from one seed") and "margin 0.01" in str(v)
    assert v.word == "one seed: no verdict"


def test_a_dataframe_side_and_the_per_seed_values_are_kept():
    a = pd.DataFrame({"seed": [2, 0, 1], "value": [0.83, 0.81, 0.82]})
    v = compare(a, {0: 0.80, 1: 0.80, 2: 0.80})
    assert v.a == {0: 0.81, 1: 0.82, 2: 0.83} and v.b == {0: 0.8, 1: 0.8, 2: 0.8}
    assert v.to_dict()["a_per_seed"] == {"0": 0.81, "1": 0.82, "2": 0.83}
    assert v.sides() == "A 0.820 ± 0.010 | B 0.800 ± 0.000"
    with pytest.raises(ValueError, match="needs a 'seed' column and a 'value' column"):
        compare(pd.DataFrame({"run": [0], "value": [1.0]}), {0: 1.0})


def test_compare_entries_reads_a_table_and_takes_the_direction_from_it():
    rows = pd.DataFrame(
        {
            "entry": ["mim", "mim", "vae", "vae"] * 2,
            "seed": [0, 1, 0, 1] * 2,
            "metric": ["recon_nll"] * 4 + ["knn"] * 4,
            "value": [80.0, 81.0, 90.0, 92.0, 0.90, 0.91, 0.80, 0.82],
            "higher_is_better": [False] * 4 + [True] * 4,
        }
    )
    nll = compare_entries(rows, "mim", "vae", where={"metric": "recon_nll"})
    assert nll.mean_diff == pytest.approx(10.5) and not nll.higher_is_better and nll.names == ("mim", "vae")
    knn = compare_entries(rows, "mim", "vae", where={"metric": "knn"})
    assert knn.mean_diff == pytest.approx(0.095) and knn.higher_is_better
    with pytest.raises(ValueError, match="mix higher- and lower-is-better"):
        compare_entries(rows, "mim", "vae")
    with pytest.raises(ValueError, match=r"no rows of entry='cvae'.*entry values: \['mim', 'vae'\]"):
        compare_entries(rows, "mim", "cvae", where={"metric": "knn"})
    with pytest.raises(ValueError, match="no column 'label'"):
        compare_entries(rows, "mim", "vae", by="label")


def _curve(diffs_by_step: dict) -> pd.DataFrame:
    """Long curve rows: mim[sum] at 0.80 + seed/100, mim[normalised] 0.01 lower, cmim[normalised] = mim[normalised] +
    the step's difference per seed."""
    rows = []
    for step, diffs in diffs_by_step.items():
        for seed, d in enumerate(diffs):
            base = 0.80 + seed / 100
            for entry, value in (
                ("mim[sum]", base),
                ("mim[normalised]", base - 0.01),
                ("cmim[normalised]", base - 0.01 + d),
            ):
                rows.append(
                    {
                        "step": step,
                        "entry": entry,
                        "seed": seed,
                        "embedding": "mean",
                        "metric": "knn-cosine",
                        "value": value,
                        "higher_is_better": True,
                    }
                )
    return pd.DataFrame(rows)


def test_curve_verdicts_against_matched_and_best_and_the_reading():
    rows = _curve(
        {100: [0.001, -0.001, 0.0], 200: [0.04, 0.05, 0.045], 400: [0.03, 0.035, 0.032], 800: [0.01, -0.01, 0.004]}
    )
    table = curve_verdicts(
        rows,
        [("cmim[normalised]", "mim[normalised]"), ("cmim[normalised]", BEST)],
        best_of=("mim[sum]", "mim[normalised]"),
    )
    matched = table[table["comparison"] == "cmim[normalised] - mim[normalised]"].set_index("step")
    assert matched["verdict"].to_dict() == {100: "within noise", 200: "holds", 400: "holds", 800: "within noise"}
    best = table[table["comparison"] == "cmim[normalised] - best MIM"].set_index("step")
    assert set(best["b"]) == {"best MIM (mim[sum])"}  # mim[sum] scores higher at every step
    assert best.loc[200, "mean_diff"] == pytest.approx(0.045 - 0.01)
    text = curve_reading(dict(zip(matched.index, matched["result"])), "cmim - mim")
    assert "opens by step 200" in text and "closes by step 800" in text
    still_open = curve_reading({100: matched.loc[200, "result"]}, "x")
    assert "still open at the last step (100)" in still_open
    assert "never holds" in curve_reading({100: matched.loc[100, "result"]}, "x")
    one = curve_verdicts(_curve({100: [0.05]}), [("cmim[normalised]", "mim[normalised]")])
    assert one["verdict"].tolist() == [None] and "one seed" in curve_reading({100: one["result"][0]}, "x")


def test_verdict_report_has_the_claim_the_numbers_the_word_and_the_readme_run():
    v = compare({0: 0.85, 1: 0.86, 2: 0.87}, {0: 0.80, 1: 0.81, 2: 0.83}, names=("MIM", "VAE"))
    text = verdict_report("1", {"kNN on mu": v}, "digits, 3 seeds")
    assert text.startswith("Claim 1: MIM learns clustered")
    assert "kNN on mu: MIM 0.860 ± 0.010 | VAE 0.813 ± 0.015" in text and "-> holds" in text
    assert "README, larger run" in text and "command: cmim-lab claims --profile default" in text
    assert "why the numbers" in text and "A better by +0.047" in text
    nll = compare({0: 80.0, 1: 81.0}, {0: 90.0, 1: 92.0}, higher_is_better=False, names=("MIM", "VAE"))
    assert "A better by (B - A: lower is better) +10.500" in verdict_report("1", {"NLL": nll}, "two seeds")
    one = verdict_report("2", {"x": compare({0: 0.9}, {0: 0.8})}, "one seed")
    assert "-> one seed: no verdict" in one
    with pytest.raises(ValueError, match="claim must be one of"):
        verdict_report("5", {"x": v}, "")
