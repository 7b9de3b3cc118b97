"""Degenerate codes (issue #30, item 1): the codes of a collapsed model -- every row the same,
all zero, or a single varying column among dead ones -- through every probe and both
backends. Each torch probe must predict what scikit-learn's reference predicts (computed
here, from scikit-learn's own estimators), never crash: for codes that carry nothing that
is chance, the most frequent class or the mean target. And class labels such as 0.5, which
scikit-learn refuses, are refused with a clear error by both backends.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from cmim_lab import probes
from cmim_lab.config import CLASSIFICATION_PROBES, REGRESSION_PROBES, EvalConfig

TORCH = EvalConfig(backend="torch")
SKLEARN = EvalConfig(backend="sklearn")
N_TRAIN, N_TEST, D = 600, 90, 16
KINDS = ("constant", "zero", "one-live")


def _labels(n_classes: int, n: int, seed: int) -> np.ndarray:
    """Labels with one clear majority class: class 1 (of 2 or 3) is the most frequent."""
    p = [0.3, 0.7] if n_classes == 2 else [0.2, 0.55, 0.25]
    return np.random.default_rng(seed).choice(n_classes, size=n, p=p)


def _codes(kind: str, signal: np.ndarray, seed: int) -> np.ndarray:
    """Codes [len(signal), D] float32: ``constant`` (each column its own value, every row the
    same), ``zero``, or ``one-live`` (15 dead columns, zero or constant, and column 3 =
    ``signal`` plus a little noise)."""
    n = len(signal)
    if kind == "constant":
        return np.tile(np.linspace(-1.5, 2.0, D, dtype=np.float32), (n, 1))
    x = np.zeros((n, D), np.float32)
    if kind == "one-live":
        x[:, 1] = 0.25  # a dead unit that is constant but not zero
        x[:, 3] = signal + np.random.default_rng(seed).uniform(-0.3, 0.3, n)
    return x


def _sklearn_classifier(name: str):
    """scikit-learn's estimator for ``name`` with the kit's default settings, built here."""
    return {
        "knn-euclidean": KNeighborsClassifier(n_neighbors=5),
        "knn-cosine": make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=5)),
        "linear": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "mlp": make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(256,), early_stopping=True, max_iter=200, random_state=0),
        ),
    }[name]


def _fit_predict(model, train_x, train_y, test_x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(train_x, train_y).predict(test_x)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_classification_on_degenerate_codes_as_sklearn(kind, n_classes):
    train_y, test_y = _labels(n_classes, N_TRAIN, 0), _labels(n_classes, N_TEST, 1)
    train_x, test_x = _codes(kind, train_y, 2), _codes(kind, test_y, 3)
    majority = np.bincount(train_y).argmax()
    assert majority == 1
    torch_pred = probes.classification_predictions(train_x, train_y, test_x, TORCH, probes=CLASSIFICATION_PROBES)
    sk_pred = probes.classification_predictions(train_x, train_y, test_x, SKLEARN, probes=CLASSIFICATION_PROBES)
    for name in CLASSIFICATION_PROBES:
        ref = _fit_predict(_sklearn_classifier(name), train_x, train_y, test_x)
        np.testing.assert_array_equal(sk_pred[name], ref, err_msg=f"sklearn backend {name}")
        np.testing.assert_array_equal(torch_pred[name], ref, err_msg=f"torch {name}")
        if kind == "one-live":  # the live column separates the classes: every probe finds it
            np.testing.assert_array_equal(ref, test_y, err_msg=name)
        elif name in probes.KNN_METRICS:  # all codes equally near: the first k training codes vote
            vote = np.bincount(train_y[:5], minlength=n_classes)
            np.testing.assert_array_equal(ref, np.full(N_TEST, vote.argmax()), err_msg=name)
        else:  # chance: the most frequent class
            np.testing.assert_array_equal(ref, np.full(N_TEST, majority), err_msg=name)


@pytest.mark.parametrize("standardise", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_regression_on_degenerate_codes_as_sklearn(kind, standardise):
    rng = np.random.default_rng(4)
    signal = rng.normal(size=N_TRAIN + N_TEST)
    y = 3.0 * signal + rng.normal(scale=0.1, size=len(signal)) + 40.0
    x = _codes(kind, signal, 5)
    train_x, test_x, train_y, test_y = x[:N_TRAIN], x[N_TRAIN:], y[:N_TRAIN], y[N_TRAIN:]
    torch_pred = probes.regression_predictions(
        train_x, train_y, test_x, TORCH, probes=REGRESSION_PROBES, standardise=standardise
    )
    sk_pred = probes.regression_predictions(
        train_x, train_y, test_x, SKLEARN, probes=REGRESSION_PROBES, standardise=standardise
    )
    ys = (train_y - train_y.mean()) / train_y.std()
    x64, t64 = train_x.astype(np.float64), test_x.astype(np.float64)
    knn = {
        "knn-euclidean": KNeighborsRegressor(n_neighbors=5),
        "knn-cosine": make_pipeline(Normalizer(), KNeighborsRegressor(n_neighbors=5)),
    }
    for name, model in knn.items():
        ref = _fit_predict(model, x64, ys, t64) * train_y.std() + train_y.mean()
        np.testing.assert_allclose(sk_pred[name], ref, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(torch_pred[name], ref, rtol=1e-12, err_msg=name)
    scaler = StandardScaler(with_mean=standardise, with_std=standardise)
    ref = _fit_predict(make_pipeline(scaler, RidgeCV(alphas=TORCH.ridge_alphas)), x64, ys, t64)
    ref = ref * train_y.std() + train_y.mean()
    np.testing.assert_allclose(sk_pred["ridge"], ref, rtol=1e-12)
    np.testing.assert_allclose(torch_pred["ridge"], ref, rtol=1e-9)
    rmse = {
        b: float(np.sqrt(np.mean((p["mlp"] - test_y) ** 2))) for b, p in (("torch", torch_pred), ("sklearn", sk_pred))
    }
    if kind == "one-live":
        assert rmse["torch"] < 0.25 * test_y.std() and rmse["sklearn"] < 0.25 * test_y.std(), rmse
        return
    np.testing.assert_allclose(ref, train_y.mean(), rtol=1e-12)  # ridge: chance is the training mean
    np.testing.assert_array_equal(torch_pred["mlp"], np.full(N_TEST, train_y.mean()))
    assert np.ptp(sk_pred["mlp"]) < 1e-9 * abs(train_y.mean())  # scikit-learn's: one value too, near the mean
    assert rmse["torch"] == pytest.approx(rmse["sklearn"], rel=0.01), rmse


def test_mlp_on_constant_codes_trains_nothing_and_reports_it():
    train_y = _labels(3, N_TRAIN, 0)
    diagnostics = probes.Diagnostics()
    probes.classification_scores(
        _codes("zero", train_y, 0),
        train_y,
        _codes("zero", train_y[:9], 0),
        train_y[:9],
        TORCH,
        probes=["mlp", "linear"],
        diagnostics=diagnostics,
    )
    assert diagnostics.mlp_epochs == 0
    assert diagnostics.linear_iterations >= 1  # the intercepts are fitted
    live = probes.Diagnostics()
    probes.classification_scores(
        _codes("one-live", train_y, 0),
        train_y,
        _codes("one-live", train_y[:9], 1),
        train_y[:9],
        TORCH.replace(mlp_max_epochs=3),
        probes=["mlp"],
        diagnostics=live,
    )
    assert live.mlp_epochs == 3


def test_linear_on_constant_codes_fits_the_class_frequencies():
    """No feature left: the intercepts converge to the log class frequencies (scikit-learn's
    optimum too), the weights stay exactly 0."""
    train_y = _labels(3, N_TRAIN, 0)
    fit = probes.fit_logistic(_codes("constant", train_y, 0), train_y, TORCH)
    assert fit.coef.shape == (3, D) and not fit.coef.any()
    freq = np.bincount(train_y) / N_TRAIN
    np.testing.assert_allclose(np.exp(fit.intercept.numpy()) / np.exp(fit.intercept.numpy()).sum(), freq, atol=1e-3)
    assert fit.grad_max <= TORCH.linear_tol


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_with_zero_rows_among_live_ones_as_sklearn(metric):
    """Cosine of a zero vector: scikit-learn's Normalizer leaves it zero, at distance 1 from
    every nonzero row and 0 from the other zero rows; half the rows here are zero. (Euclidean:
    zero test rows only -- a zero training row is equally far from many test rows, and among
    such exact ties scikit-learn's brute-force search keeps an order of its own.)"""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, D)).astype(np.float32)
    x[(rng.random(300) < 0.5) & ((np.arange(300) >= 200) | (metric == "cosine"))] = 0.0
    y = rng.integers(0, 3, 300)
    name = f"knn-{metric}"
    ours = probes.classification_predictions(x[:200], y[:200], x[200:], TORCH, probes=[name])[name]
    np.testing.assert_array_equal(ours, _fit_predict(_sklearn_classifier(name), x[:200], y[:200], x[200:]))


# --- class labels ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
@pytest.mark.parametrize("split", ["train_y", "test_y"])
def test_non_integer_class_labels_refused(backend, split):
    train_y, test_y = _labels(2, N_TRAIN, 0).astype(float), _labels(2, N_TEST, 1).astype(float)
    x = _codes("one-live", train_y, 0), _codes("one-live", test_y, 1)
    (train_y if split == "train_y" else test_y)[7] = 0.5
    with pytest.raises(ValueError, match=rf"{split} holds 1 non-integer class labels such as 0\.5.*must be integers"):
        probes.classification_scores(x[0], train_y, x[1], test_y, EvalConfig(backend=backend))


def test_float_labels_with_integer_values_work_as_integers():
    """scikit-learn accepts 0.0 / 1.0 labels (and refuses 0.5, which the kit now refuses first)."""
    train_y, test_y = _labels(2, N_TRAIN, 0), _labels(2, N_TEST, 1)
    x = _codes("one-live", train_y, 0), _codes("one-live", test_y, 1)
    with pytest.raises(ValueError, match="Unknown label type"):
        LogisticRegression().fit(x[0], np.where(train_y == 1, 0.5, 0.0))
    as_float = probes.classification_predictions(x[0], train_y.astype(float), x[1], TORCH, probes=CLASSIFICATION_PROBES)
    as_int = probes.classification_predictions(x[0], train_y, x[1], TORCH, probes=CLASSIFICATION_PROBES)
    for name in CLASSIFICATION_PROBES:
        np.testing.assert_array_equal(as_float[name], as_int[name].astype(float))
        assert as_float[name].dtype == np.float64
