"""Embeddings, probes, metrics, Z-scores and ranks."""

import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.embeddings import embed, embedding_width
from cmim_lab.evaluation import PROBES, baseline_scores, clustering_metrics, evaluate, generative_metrics, probe_scores
from cmim_lab.objectives import recon_nll
from cmim_lab.studies.summary import ranks, zscores
from cmim_lab.trainer import train


def build_model(shape, **fields):
    """A fresh model for samples of ``shape``; TrainConfig's defaults for every field not given."""
    return TrainConfig(**fields).build_model(shape)


@pytest.fixture(scope="module")
def trained_cmim(digits):
    cfg = TrainConfig(method="cmim", dataset="digits", hidden_sizes=(64,), latent_dim=8, batch_size=64, max_steps=600)
    return train(cfg, digits, device="cpu", progress=False).model


def test_trained_cmim_beats_untrained_encoder_by_a_wide_margin(trained_cmim, digits):
    torch.manual_seed(0)
    untrained = build_model(digits.input_shape, latent_dim=8, hidden_sizes=(64,))
    probes = ("knn-euclidean",)
    before = evaluate(untrained, digits, embeddings=("mean",), probes=probes, clustering=False)
    after = evaluate(trained_cmim, digits, embeddings=("mean",), probes=probes, clustering=False)
    acc_before, acc_after = before.probes["mean"]["knn-euclidean"], after.probes["mean"]["knn-euclidean"]
    assert acc_after > 0.9
    assert acc_after > acc_before + 0.10


def test_every_probe_scores_well_above_chance(trained_cmim, digits):
    ev = evaluate(trained_cmim, digits)
    for kind in ("mean", "informative"):
        assert set(ev.probes[kind]) == set(PROBES)
        for probe, acc in ev.probes[kind].items():
            assert acc > 0.6, (kind, probe, acc)  # chance is 0.1
    m = ev.metrics
    assert m["recon_nll"] > 0 and 0 < m["mse"] < 0.1
    assert m["frac_logvar_at_floor"] > 0.9  # MIM drives sigma onto the floor
    assert m["active_units"] == 8 and 0 < m["kmeans_nmi"] <= 1 and -1 <= m["silhouette"] <= 1
    rows = ev.rows()
    assert {r["metric"] for r in rows} >= set(PROBES) | {"recon_nll", "kmeans_nmi"}
    assert all(not r["higher_is_better"] for r in rows if r["metric"] in ("recon_nll", "mse"))


def test_generative_metrics_match_a_hand_computation(trained_cmim, digits):
    x = digits.x_test[:50]
    m = generative_metrics(trained_cmim, x)
    with torch.no_grad():
        post = trained_cmim.encode(x)
        logits = trained_cmim.decode(post.mu)
    assert m["recon_nll"] == pytest.approx(float(recon_nll(logits, x).mean()), rel=1e-5)
    assert m["mse"] == pytest.approx(float(((torch.sigmoid(logits) - x) ** 2).mean()), rel=1e-5)
    assert m["active_units"] == int((post.mu.var(0) > 0.01).sum())


def test_collapsed_units_are_not_active():
    model = build_model((4,), latent_dim=3, hidden_sizes=(8,))
    with torch.no_grad():
        model.encoder.head.weight[:3].zero_()  # mu of every unit ignores x ...
        model.encoder.head.weight[0].fill_(1.0)  # ... except unit 0
    m = generative_metrics(model, torch.rand(500, 4))
    assert m["active_units"] == 1


@pytest.mark.parametrize("arch, shape", [("mlp", (1, 28, 28)), ("conv", (1, 28, 28)), ("mlp", (1, 8, 8))])
def test_informative_embedding_width_and_determinism(arch, shape):
    torch.manual_seed(0)
    model = build_model(shape, arch=arch, latent_dim=16, hidden_sizes=(64, 32))
    x = torch.rand(20, *shape)
    full = embed(model, x, "informative")
    assert full.shape == (20, 16 + sum(model.decoder_widths))
    assert full.shape[1] == embedding_width(model, "informative")
    assert torch.equal(full, embed(model, x, "informative"))  # deterministic
    torch.testing.assert_close(full, embed(model, x, "informative", batch_size=7))  # batch-independent
    only_last = embed(model, x, "informative", layers=[-1])
    assert only_last.shape == (20, 16 + model.decoder_widths[-1])
    assert embed(model, x, "mean").shape == (20, 16)
    # every block is L2-normalised: the norm of a row is sqrt(number of blocks)
    n_blocks = 1 + len(model.decoder_widths)
    torch.testing.assert_close(full.norm(dim=1), torch.full((20,), float(n_blocks) ** 0.5))


def test_conv_widths_are_pooled_channels():
    model = build_model((1, 28, 28), arch="conv", latent_dim=16)
    assert model.decoder_widths == [256, 64, 32]


def test_bad_layers_and_kinds_are_clear_errors():
    model = build_model((1, 8, 8), latent_dim=4, hidden_sizes=(16,))
    with pytest.raises(ValueError, match="layers 0..0 of widths"):
        embed(model, torch.rand(3, 1, 8, 8), "informative", layers=[3])
    with pytest.raises(ValueError, match="valid embedding kinds are: mean, informative"):
        embed(model, torch.rand(3, 1, 8, 8), "hidden")
    with pytest.raises(ValueError, match="valid classification probes are"):
        probe_scores(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1], EvalConfig(), probes=["svm"])


def test_probes_on_separable_data_are_perfect():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 100)
    x = rng.normal(size=(300, 5)) * 0.1
    x[np.arange(300), y] += 5.0
    scores = probe_scores(x[::2], y[::2], x[1::2], y[1::2], EvalConfig())
    assert all(v >= 0.98 for v in scores.values()), scores


def test_clustering_metrics_separate_good_from_random_codes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 100)
    good = rng.normal(size=(400, 3)) * 0.1 + np.eye(4)[y][:, :3] * 5
    good[y == 3] -= 5
    bad = rng.normal(size=(400, 3))
    g, b = clustering_metrics(good, y), clustering_metrics(bad, y)
    assert g["kmeans_nmi"] > 0.95 and b["kmeans_nmi"] < 0.1
    assert g["silhouette"] > 0.8 and b["silhouette"] < 0.1


def test_baselines_run(digits):
    knn = EvalConfig(probes=("knn-euclidean",))
    pix = baseline_scores(digits, "pixels", knn, n_components=8)
    pca = baseline_scores(digits, "pca", knn, n_components=8)
    assert pix["knn-euclidean"] > 0.9 and pca["knn-euclidean"] > 0.8


def test_zscores_and_ranks_match_a_hand_worked_example():
    # one group with three entries; two seeds each. Seed means: A 0.9, B 0.8, C 0.7.
    rows = []
    for entry, vals in {"A": (0.85, 0.95), "B": (0.8, 0.8), "C": (0.6, 0.8)}.items():
        for seed, v in enumerate(vals):
            rows.append(
                dict(
                    entry=entry, dataset="d", metric="knn", embedding="mean", seed=seed, value=v, higher_is_better=True
                )
            )
    # a lower-is-better group where C is best: nll A 30, B 20, C 10
    for entry, v in {"A": 30.0, "B": 20.0, "C": 10.0}.items():
        rows.append(dict(entry=entry, dataset="d", metric="nll", embedding="", seed=0, value=v, higher_is_better=False))
    z = zscores(pd.DataFrame(rows))
    knn = z[z["metric"] == "knn"].set_index("entry")
    s = np.sqrt(((0.1**2) * 2) / 3)  # population std of (0.9, 0.8, 0.7)
    assert knn.loc["A", "z"] == pytest.approx(0.1 / s)
    assert knn.loc["B", "z"] == pytest.approx(0.0, abs=1e-12)
    assert knn.loc["C", "z"] == pytest.approx(-0.1 / s)
    assert knn.loc["A", "mean"] == pytest.approx(0.9) and knn.loc["C", "std"] == pytest.approx(
        np.std([0.6, 0.8], ddof=1)
    )
    nll = z[z["metric"] == "nll"].set_index("entry")
    assert nll.loc["C", "z"] == pytest.approx(10 / np.std([30, 20, 10]))  # sign flipped: lower is better
    r = ranks(z).set_index("entry")
    # mean z: A (1.2247 - 1.2247)/2 = 0, B 0, C (-1.2247 + 1.2247)/2 = 0 -> all tied at rank 1
    assert r["rank"].tolist() == [1, 1, 1]
    r2 = ranks(z[z["metric"] == "knn"]).set_index("entry")
    assert r2.loc["A", "rank"] == 1 and r2.loc["B", "rank"] == 2 and r2.loc["C", "rank"] == 3


def test_pooled_ranks_let_x_entries_compete_with_plain_ones():
    from cmim_lab.studies.summary import pooled_ranks

    rows = [
        dict(entry=e, dataset="d", metric="knn", embedding=k, seed=0, value=v, higher_is_better=True)
        for (e, k), v in {
            ("A", "mean"): 0.5,
            ("A", "informative"): 0.9,
            ("B", "mean"): 0.7,
            ("B", "informative"): 0.7,
        }.items()
    ]
    r = pooled_ranks(pd.DataFrame(rows)).set_index("entry")
    assert list(r.sort_values("rank").index) == ["A-X", "B", "B-X", "A"] or r.loc["A-X", "rank"] == 1
    s = np.std([0.5, 0.9, 0.7, 0.7])
    assert r.loc["A-X", "mean_z"] == pytest.approx((0.9 - 0.7) / s)
    assert r.loc["A", "mean_z"] == pytest.approx((0.5 - 0.7) / s)
    assert r.loc["B", "rank"] == r.loc["B-X", "rank"] == 2


def test_identical_scores_give_zero_z():
    df = pd.DataFrame(
        [
            dict(entry=e, dataset="d", metric="m", embedding="mean", seed=0, value=0.5, higher_is_better=True)
            for e in "ABC"
        ]
    )
    assert zscores(df)["z"].tolist() == [0.0, 0.0, 0.0]


def test_the_default_protocol_is_torch_probes_on_the_whole_training_split():
    cfg = EvalConfig()
    assert cfg.backend == "torch" and cfg.probe_n_train is None


def test_evaluate_reports_each_probe_and_step_as_it_finishes(trained_cmim, digits):
    lines = []
    ev = evaluate(trained_cmim, digits, probes=("knn-cosine", "linear"), progress=lines.append)
    assert ev.info["probe_n_train"] == len(digits.y_train)  # the whole training split by default
    expected = [
        "mean/knn-cosine",
        "mean/linear",
        "informative/knn-cosine",
        "informative/linear",
        "generative metrics",
        "clustering",
    ]
    assert [next((line for line in lines if line.startswith(e)), None) is not None for e in expected] == [True] * 6
    assert all(line.rstrip().endswith("s)") for line in lines)  # every line carries its time
    assert f"{ev.probes['mean']['linear']:.4f}" in next(line for line in lines if line.startswith("mean/linear"))


def test_evaluation_is_bit_identical_under_machine_load(trained_cmim, digits):
    """The same model scores the same on an idle and on a busy CPU (no load-dependent
    threading or solver paths)."""
    import subprocess
    import sys

    cfg = EvalConfig(seed=3)
    quiet = evaluate(trained_cmim, digits, cfg)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        loaded = evaluate(trained_cmim, digits, cfg)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert loaded.probes == quiet.probes
    assert loaded.metrics == quiet.metrics
