"""The probe table (cmim_lab.probes.PROBES): it agrees with the config's probe names, and a
probe added as one row runs through both backends and every entry point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmim_lab import probes
from cmim_lab.config import CLASSIFICATION_PROBES, REGRESSION_PROBES, EvalConfig
from cmim_lab.probes import table


def test_table_rows_are_the_configs_probes_in_order():
    assert table.CLASSIFIERS == CLASSIFICATION_PROBES
    assert table.REGRESSORS == REGRESSION_PROBES
    assert set(probes.PROBES) == set(CLASSIFICATION_PROBES) | set(REGRESSION_PROBES)


def _majority_torch(fit, cfg, names, *, standardise, diagnostics):
    return {name: fit.chance() for name in names}


def _majority_classifier(cfg):
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="most_frequent")


def _mean_regressor(cfg, standardise):
    from sklearn.dummy import DummyRegressor

    return DummyRegressor()


def test_a_probe_added_as_one_row_runs_on_both_backends(monkeypatch):
    """A planted probe ``majority`` (most frequent class / mean target): one table row and its
    name in the config's lists, nothing else."""
    row = probes.Probe(_majority_torch, _majority_classifier, _mean_regressor)
    monkeypatch.setitem(probes.PROBES, "majority", row)
    monkeypatch.setattr(table, "CLASSIFIERS", table.CLASSIFIERS + ("majority",))
    monkeypatch.setattr(table, "REGRESSORS", table.REGRESSORS + ("majority",))
    monkeypatch.setattr(probes, "CLASSIFICATION_PROBES", CLASSIFICATION_PROBES + ("majority",))
    monkeypatch.setattr(probes, "REGRESSION_PROBES", REGRESSION_PROBES + ("majority",))
    rng = np.random.default_rng(0)
    x, labels, targets = rng.normal(size=(80, 5)), rng.choice(3, 80, p=[0.2, 0.5, 0.3]), rng.normal(size=80)
    for backend in ("torch", "sklearn"):
        cfg = EvalConfig(backend=backend)
        pred = probes.classification_predictions(x[:60], labels[:60], x[60:], cfg, probes=["majority"])["majority"]
        assert (pred == np.bincount(labels[:60]).argmax()).all()
        rmse = probes.regression_scores(x[:60], targets[:60], x[60:], targets[60:], cfg, probes=["majority"])
        assert rmse["majority"] == pytest.approx(np.sqrt(np.mean((targets[60:] - targets[:60].mean()) ** 2)))


def test_knn_probes_share_one_pass_and_split_its_time(monkeypatch):
    calls = []
    original = probes.PROBES["knn-cosine"].torch

    def counted(fit, cfg, names, **kwargs):
        calls.append(list(names))
        return original(fit, cfg, names, **kwargs)

    for name in probes.KNN_METRICS:
        monkeypatch.setitem(probes.PROBES, name, probes.Probe(counted, probes.PROBES[name].classifier))
    x, y = torch.randn(50, 4, generator=torch.Generator().manual_seed(0)), np.arange(50) % 2
    times = {}
    probes.classification_scores(
        x[:40],
        y[:40],
        x[40:],
        y[40:],
        EvalConfig(backend="torch"),
        probes=["knn-cosine", "linear", "knn-euclidean"],
        times=times,
    )
    assert calls == [["knn-cosine", "knn-euclidean"]]
    assert list(times) == ["knn-cosine", "knn-euclidean", "linear"] and times["knn-cosine"] == times["knn-euclidean"]
