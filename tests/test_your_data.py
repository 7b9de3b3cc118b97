"""Your data, your verdict (cmim_lab.studies.your_data): every input form reaches the same verdict
rows, the recommendation comes from the verdicts, a run resumes from the cache, bad inputs write
nothing. Tiny: 150 digits, the smoke profile, 10 steps, 2 seeds."""

import json

import numpy as np
import pandas as pd
import pytest

from cmim_lab.studies import your_data
from cmim_lab.studies.your_data import recommendation

N = 150
SMALL = dict(
    profile="smoke", seeds=(0, 1), budget=10, methods=("vae", "mim", "cmim"), progress=False, log=None, estimate=False
)


def _digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[:N].astype(np.uint8), bunch.target[:N].astype(np.int64)


def _keys(rows):
    """What a verdict row compares, without the dataset's name (nor which MIM was the best at a step)."""
    return {
        (r["claim"], r["setting"].split(", ", 1)[1], r["a"], r["b"].split(" (")[0], r["probe"], r["budget"])
        for r in rows
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The registered name (``digits``, 150 training images) with a report, in a cache of its own."""
    root = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMIM_LAB_CACHE", str(root / "cache"))
        from cmim_lab.notebook import static_figures

        mp.setitem(static_figures._state, "problem", "off in tests")  # the plotly fallback: no browser start
        result = your_data.run("digits", n_train=N, out_dir=root / "out", command="test", **SMALL)
        yield result, root, mp


def test_a_registered_name_gives_every_claim_and_a_self_contained_report(reference):
    result, root, _ = reference
    claims = {r["claim"] for r in result.rows}
    assert claims == {1, 2, 4}
    assert all(r["n_seeds"] == 2 and r["verdict"] in ("holds", "reverses", "within noise") for r in result.rows)
    assert any(r["b"] == "vae[sum]" for r in result.rows)  # MIM vs VAE
    assert any(r["b"] == "mim[normalised]" for r in result.rows)  # cMIM vs MIM, both conventions
    assert any(r["a"] == "cmim[sum]-X" for r in result.rows)  # -X vs mu
    blob = json.loads((root / "out" / "claims.json").read_text())
    assert blob["rows"] == json.loads(json.dumps(result.rows)) and blob["recommendation"] == result.recommendation
    page = (root / "out" / "report.html").read_text()
    assert result.report_path == root / "out" / "report.html"
    assert "<script src=" not in page and "plotly.js v" in page  # plotly.js itself inline, no CDN
    assert page.count("Plotly.newPlot") >= 2 and result.recommendation.split(";")[0] in page
    assert set(result.baselines["baseline"]) == {"raw features", "PCA (4)"}


def test_an_interrupted_run_resumes_from_the_cache_without_training(reference, monkeypatch):
    result, root, mp = reference
    (root / "out" / "report.html").unlink()

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was trained again")

    from cmim_lab import trainer
    from cmim_lab.studies import curves

    monkeypatch.setattr(trainer, "train", forbidden)
    monkeypatch.setattr(curves, "train", forbidden)
    again = your_data.run("digits", n_train=N, out_dir=root / "out", **{**SMALL, "estimate": True})
    assert again.plan.to_train == 0 and again.plan.cached == again.plan.models == 10
    assert [(r["setting"], r["verdict"]) for r in again.rows] == [(r["setting"], r["verdict"]) for r in result.rows]
    assert [r["mean_diff"] for r in again.rows] == pytest.approx([r["mean_diff"] for r in result.rows])
    assert (root / "out" / "report.html").exists()


def _write_form(form, path):
    from PIL import Image

    x, y = _digits()
    if form == "npz with a test split":
        np.savez(path / "d.npz", x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:])
        return path / "d.npz", None
    if form == "npz without a test split":
        np.savez(path / "d.npz", x_train=x, y_train=y)
        return path / "d.npz", None
    if form == "csv with a label":
        frame = pd.DataFrame(x.reshape(N, -1), columns=[f"px{i}" for i in range(64)]).assign(digit=y)
        frame.to_csv(path / "d.csv", index=False)
        return path / "d.csv", "digit"
    for i, c in enumerate(y):
        (path / "imgs" / str(c)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i] * 15, mode="L").save(path / "imgs" / str(c) / f"{i:03d}.png")
    return path / "imgs", None


@pytest.mark.parametrize(
    "form", ["npz with a test split", "npz without a test split", "csv with a label", "image folder"]
)
def test_every_input_form_reaches_the_same_verdict_rows(form, reference, tmp_path, fresh_cache):
    path, label = _write_form(form, tmp_path)
    result = your_data.run(str(path), label=label, **SMALL)
    assert _keys(result.rows) == _keys(reference[0].rows)
    assert all(r["verdict"] is not None for r in result.rows)
    assert result.plan.kind == ("table" if form.startswith("csv") else "images")
    assert result.plan.likelihood == ("gaussian-fixed" if form.startswith("csv") else "bernoulli")


def test_a_dry_run_plans_estimates_and_trains_nothing(fresh_cache):
    lines = []
    plan = your_data.run("digits", n_train=N, dry_run=True, **{**SMALL, "estimate": True, "log": lines.append}).plan
    assert (plan.models, plan.cached, plan.to_train, plan.steps_to_train) == (10, 0, 10, 100)
    assert plan.estimate_s > 0 and set(plan.seconds_per_step) == {"vae", "mim", "cmim"}
    text = "\n".join(lines)
    assert "data kind: images; architecture mlp 32, latent 4, likelihood bernoulli" in text
    assert "10 models: 0 cached, 10 to train" in text and "estimated time" in text and "dry run" in text
    assert not (fresh_cache / "models").exists() or not any((fresh_cache / "models").iterdir())


def test_bad_arguments_and_inputs_fail_before_anything_is_written(tmp_path, fresh_cache):
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [0, 0, 1, 1]}).to_csv(tmp_path / "t.csv", index=False)
    for kwargs, pattern in [
        (dict(dataset=str(tmp_path / "t.csv"), label="nope"), "has no column 'nope'"),
        (dict(dataset=str(tmp_path / "none.npz")), "neither a registered dataset"),
        (dict(dataset="digits", methods=["gan"]), "gan"),
        (dict(dataset="digits", budget=0), "budget must be a positive"),
        (dict(dataset="digits", seeds=[0, 0]), "distinct"),
        (dict(dataset="digits", profile="huge"), "profile"),
    ]:
        with pytest.raises((ValueError, FileNotFoundError), match=pattern):
            your_data.run(**{**SMALL, **kwargs})
    assert not fresh_cache.exists() or not any(p for p in fresh_cache.rglob("*") if "data" not in p.parts)


def _row(claim, a, b, probe, step, verdict):
    return {
        "claim": claim,
        "setting": f"x, {a} vs {b}, {probe}",
        "a": a,
        "b": b,
        "probe": probe,
        "budget": f"{step} steps",
        "verdict": verdict,
    }


def test_the_recommendation_is_computed_from_the_verdicts():
    curve = [
        _row(2, "cmim[normalised]", "mim[normalised]", "knn-cosine", s, v)
        for s, v in ((100, "within noise"), (250, "holds"), (500, "holds"), (1000, "within noise"))
    ]
    rows = curve + [
        _row(1, "mim[sum]", "vae[sum]", "knn-cosine", 1000, "holds"),
        _row(2, "cmim[sum]", "infonce[pure]", "linear", 1000, "reverses"),
        _row(4, "mim[sum]-X", "mim[sum] mu", "linear", 1000, "holds"),
        _row(4, "mim[sum]-X", "mim[sum] mu", "knn-cosine", 1000, "within noise"),
        _row(4, "cmim[sum]-X", "cmim[sum] mu", "linear", 1000, "reverses"),
    ]
    assert recommendation(rows) == (
        "On this data, use MIM with -X under a linear read-out. cMIM helps only before 1,000 steps (its lead over "
        "MIM holds at steps 250 and 500 and is gone by 1,000). MIM's codes classify better than the VAE's "
        "(kNN-cosine). InfoNCE beats cMIM (infonce[pure] on linear): where reconstructions are not needed, "
        "classic contrastive learning is the stronger choice."
    )
    won = [
        dict(r, verdict="holds") if r["claim"] == 2 and r["budget"] == "1000 steps" and r["b"].startswith("mim") else r
        for r in rows
    ]
    assert recommendation(won).startswith(
        "On this data, use cMIM with the posterior mean (mu); -X hurts under linear. cMIM beats MIM at 1,000 steps "
        "(cmim[normalised] on kNN-cosine)."
    )
    assert recommendation([dict(r, verdict=None) for r in rows]).startswith("No verdicts: a single seed")
    note = recommendation(rows, baselines={"linear": ("raw features", 0.95, 0.90)})
    assert note.endswith(
        "Note: the raw features baseline (linear 0.950) scores at least as well as every learned "
        "code (0.900); a representation model may not pay off here."
    )
    assert "Note" not in recommendation(rows, baselines={"linear": ("raw features", 0.80, 0.90)})
