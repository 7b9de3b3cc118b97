"""``cmim-lab claims``: every claim gets rows with verdicts; the pieces it is built from."""

import json
import math

import pandas as pd
import pytest
import torch

from cmim_lab.cli import main
from cmim_lab.config import TrainConfig
from cmim_lab.studies.claims import PROFILES, rows_frame, search_profile
from cmim_lab.studies.experiments import compare
from cmim_lab.studies.search import search_grid, search_reading, validation_split
from cmim_lab.studies.sweep import seed_gaps
from cmim_lab.studies.verdicts import claim_row
from cmim_lab.studies.verdicts import compare as paired_compare

ROW_FIELDS = {
    "claim",
    "setting",
    "statement",
    "a",
    "b",
    "entries",
    "dataset",
    "probe",
    "embedding",
    "budget",
    "mean_diff",
    "std",
    "low",
    "high",
    "n_seeds",
    "verdict",
    "margin",
    "per_seed",
    "a_per_seed",
    "b_per_seed",
}


def test_seed_gaps_is_best_minus_worst_batch_size_per_seed():
    table = pd.DataFrame(
        {
            "variant": ["a"] * 4 + ["b"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "batch_size": [32, 512] * 4,
            "knn-cosine": [0.80, 0.70, 0.81, 0.75, 0.60, 0.61, 0.62, 0.62],
        }
    )
    gaps = seed_gaps(table).set_index(["variant", "seed"])["gap"]
    assert gaps.to_dict() == pytest.approx({("a", 0): 0.10, ("a", 1): 0.06, ("b", 0): 0.01, ("b", 1): 0.0})
    with pytest.raises(ValueError, match="probe 'mlp' is not in the sweep table"):
        seed_gaps(table, "mlp")


def test_validation_split_carves_the_training_split_and_keeps_the_test_split(digits):
    validation, test = validation_split(digits, 0.2)
    n = len(digits.x_train)
    assert len(validation.x_train) == len(test.x_train) == n - round(0.2 * n)
    assert len(validation.x_test) == round(0.2 * n)
    assert torch.equal(test.x_test, digits.x_test) and validation.name == test.name == "digits"
    rows = {tuple(r) for r in digits.x_train.flatten(1).tolist()}
    held = {tuple(r) for r in validation.x_test.flatten(1).tolist()}
    fit = {tuple(r) for r in validation.x_train.flatten(1).tolist()}
    assert held <= rows and fit <= rows and not held & fit  # the held-out images never train a model
    assert set(validation.y_test.tolist()) == set(digits.y_train.tolist())  # stratified: every class held out
    for bad in (0.0, 1.0, 1, "0.1"):
        with pytest.raises(ValueError, match="validation fraction must be a float in"):
            validation_split(digits, bad)


def test_the_search_grid_crosses_the_same_axes_for_both_sides():
    p = PROFILES["default"]
    grid = search_grid(p)
    cmim = [k for k in grid if k.startswith("cmim")]
    mim = [k for k in grid if k.startswith("mim")]
    assert len(cmim) == 2 * len(p.search_temperatures) * len(p.search_weights) * len(p.search_latent_sizes)
    assert len(mim) == 2 * len(p.search_latent_sizes)
    assert {grid[k]["latent_dim"] for k in cmim} == {grid[k]["latent_dim"] for k in mim} == set(p.search_latent_sizes)
    assert {grid[k]["reduction"] for k in cmim} == {grid[k]["reduction"] for k in mim} == {"sum", "normalised"}


def test_a_notebooks_search_profile_takes_its_sizes_and_is_checked():
    p = search_profile(
        "digits",
        seeds=[0, 1],
        temperatures=[0.1, 1.0],
        weights=[1.0],
        latent_sizes=[2, 8],
        budgets=[2, 4],
        latent_dim=4,
        probe_n_train=300,
    )
    assert (
        p.dataset,
        p.seeds,
        p.search_temperatures,
        p.search_weights,
        p.search_latent_sizes,
        p.search_budgets,
        p.latent_dim,
        p.probe_n_train,
    ) == ("digits", (0, 1), (0.1, 1.0), (1.0,), (2, 8), (2, 4), 4, 300)
    assert len(search_grid(p)) == 2 * 2 * 1 * 2 + 2 * 2
    for bad, message in (
        (dict(budgets=[4]), "search_budgets"),
        (dict(budgets=[4, 4]), "search_budgets"),
        (dict(seeds=[0, 0]), "seeds"),
        (dict(temperatures=[0.0]), "temperature"),
    ):
        kwargs = {**dict(seeds=[0, 1], temperatures=[0.1], weights=[1.0], latent_sizes=[2], budgets=[2, 4]), **bad}
        with pytest.raises(ValueError, match=message):
            search_profile("digits", **kwargs)


def _search_row(budget, a, b, probe="knn-cosine"):
    v = paired_compare(a, b, names=("best cMIM: cmim[normalised] tau=0.1 w=1 d=64", "best MIM: mim[sum] d=64"))
    return claim_row(
        2,
        f"digits, search, best cMIM vs best MIM, {probe}, step {budget}",
        v,
        statement="s",
        dataset="digits",
        probe=probe,
        embedding="mean",
        budget=f"{budget} steps",
    )


def test_the_search_reading_gives_each_budget_in_points_with_interval_and_word():
    rows = [
        _search_row(2000, {0: 0.85, 1: 0.84, 2: 0.86}, {0: 0.85, 1: 0.85, 2: 0.84}),
        _search_row(500, {0: 0.83, 1: 0.82, 2: 0.83}, {0: 0.80, 1: 0.80, 2: 0.81}),
        _search_row(500, {0: 0.5}, {0: 0.6}, probe="linear"),
    ]
    text = search_reading(rows)
    assert text.index("at 500 steps") < text.index("at 2000 steps")  # by budget, not by row order
    assert "best cMIM (cmim[normalised] tau=0.1 w=1 d=64) against the best MIM (mim[sum] d=64): +2.3 points" in text
    assert "holds" in text and "within noise" in text and "linear" not in text
    one = search_reading(rows, "linear")
    assert "-10.0 points, one seed, no verdict" in one and "points [" not in one
    with pytest.raises(ValueError, match="no search rows for probe 'mlp'"):
        search_reading(rows, "mlp")
    frame = rows_frame(rows)
    assert list(frame["verdict"]) == ["within noise", "holds", "one seed: no verdict"]
    assert frame["A better by"].iloc[1] == pytest.approx(0.0233, abs=1e-4)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_is_valid_before_an_hour_is_spent_on_it(name):
    PROFILES[name].check()  # configs, sweeps against their batch sizes, the search grid


def test_a_bad_profile_setting_is_named_before_any_work():
    import dataclasses

    bad = dataclasses.replace(PROFILES["smoke"], samples_budget=16)  # less than one batch of 32
    with pytest.raises(ValueError, match="budget 16 samples is less than one batch of 32"):
        bad.check()
    with pytest.raises(ValueError, match="curve_steps must be distinct"):
        dataclasses.replace(PROFILES["smoke"], curve_steps=(10, 10)).check()


def test_compare_over_seeds_gives_one_row_per_label_and_seed(fresh_cache, digits):
    base = TrainConfig(dataset="digits", hidden_sizes=(32,), latent_dim=4, batch_size=64, max_steps=10)
    models, table = compare(
        {"MIM": base.replace(method="mim"), "VAE": base.replace(method="vae")},
        digits,
        seeds=[3, 5],
        embeddings=("mean",),
        probes=("knn-cosine",),
        clustering=False,
        progress=False,
        log=None,
    )
    assert list(zip(table["label"], table["seed"])) == [("MIM", 3), ("MIM", 5), ("VAE", 3), ("VAE", 5)]
    assert models["MIM"].config.seed == 3 and set(models) == {"MIM", "VAE"}


def test_the_smoke_profile_writes_every_claim_row(fresh_cache, tmp_path, capsys):
    out = tmp_path / "claims"
    assert main(["claims", "--profile", "smoke", "--search", "--out", str(out), "--no-progress"]) == 0
    blob = json.loads((out / "claims.json").read_text())
    rows = blob["rows"]
    assert blob["profile"] == "smoke" and blob["command"].startswith("cmim-lab claims --profile smoke")
    assert {r["claim"] for r in rows} == {1, 2, 3, 4}
    assert all(ROW_FIELDS <= set(r) for r in rows)
    assert all(r["n_seeds"] == 2 and len(r["per_seed"]) == 2 for r in rows)
    assert all(r["verdict"] in ("holds", "reverses", "within noise") for r in rows)
    for r in rows:  # the per-seed values are the ones compared: the mean difference is theirs
        sign = 1 if r["higher_is_better"] else -1
        diffs = [sign * (r["a_per_seed"][s] - r["b_per_seed"][s]) for s in r["a_per_seed"]]
        assert r["mean_diff"] == pytest.approx(sum(diffs) / len(diffs))
        assert r["low"] <= r["mean_diff"] <= r["high"]
    settings = " | ".join(r["setting"] for r in rows)
    for needle in (
        "kmeans_nmi",
        "active_units",
        "recon_nll",  # claim 1
        "cmim[normalised] - mim[normalised], knn-cosine, step 10",  # claim 2, the curve
        "cmim[normalised] - best MIM",
        "search, best cMIM vs best MIM",
        "protocol samples, cmim[normalised] vs mim[normalised]",  # claim 3
        "protocol steps, cmim[sum] vs infonce[pure]",
        "cmim[normalised] vs infonce[recon]",
        "infonce[sum], mlp",
        "vae[sum], layers, linear",
    ):  # claim 4
        assert needle in settings, needle
    steps = {int(r["budget"].split()[0]) for r in rows if r["claim"] == 2 and "search" not in r["setting"]}
    assert steps == set(PROFILES["smoke"].curve_steps)
    text = (out / "claims.md").read_text()
    assert "cmim-lab claims --profile smoke" in text and "Run time" in text and "Budget curve, kNN-cos" in text
    assert (out / "budget_curve.png").exists() or (out / "budget_curve.html").exists()
    assert (out / "sweep-samples" / "sweep.csv").exists() and (out / "search.csv").exists()
    search = pd.read_csv(out / "search.csv")
    assert search.groupby(["step", "side"])["chosen"].sum().eq(1).all()  # one chosen setting per side and budget
    assert "wrote" in capsys.readouterr().out and not math.isnan(blob["seconds"])


def test_a_bad_profile_is_one_line_naming_the_flag(capsys):
    assert main(["claims", "--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "argument --profile" in err and "smoke, default, full" in err and "Traceback" not in err
