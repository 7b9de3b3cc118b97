"""The scikit-learn reference probes: one factory per probe family (the estimators the
``sklearn`` backend fits, on the CPU) and the fit-and-predict step they share. With the
default EvalConfig they give the scores of the kit's earlier ``cmim_lab.evaluation`` bit for
bit.

``cfg`` is an :class:`~cmim_lab.config.EvalConfig` throughout (checked by the entry points of
:mod:`cmim_lab.probes`; not imported here, which keeps the import chains short).
"""

from __future__ import annotations

import warnings

import numpy as np

from .inputs import MIN_EARLY_STOPPING, Inputs


def knn_classifier(cfg, *, metric: str):
    """``cfg.knn_k`` nearest neighbours, majority vote; ``metric="cosine"``: on L2-normalised rows."""
    from sklearn.neighbors import KNeighborsClassifier

    return _normalised(KNeighborsClassifier(n_neighbors=cfg.knn_k), metric)


def knn_regressor(cfg, standardise: bool, *, metric: str):
    """``cfg.knn_k`` nearest neighbours, mean target (features as given: ``standardise`` is unused)."""
    from sklearn.neighbors import KNeighborsRegressor

    return _normalised(KNeighborsRegressor(n_neighbors=cfg.knn_k), metric)


def _normalised(model, metric: str):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return model if metric == "euclidean" else make_pipeline(Normalizer(), model)


def logistic_classifier(cfg):
    """Standardised features, then ``LogisticRegression(C=cfg.linear_c)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=cfg.linear_c, tol=cfg.linear_tol, max_iter=cfg.linear_max_iter)
    )


def ridge_regressor(cfg, standardise: bool):
    """Features standardised unless ``standardise`` is False, then ``RidgeCV(cfg.ridge_alphas)``."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(with_mean=standardise, with_std=standardise), RidgeCV(alphas=cfg.ridge_alphas))


def mlp_classifier(cfg):
    """Standardised features, then ``MLPClassifier`` with the ``mlp_`` settings of ``cfg``."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MLPClassifier(**_mlp_params(cfg)))


def mlp_regressor(cfg, standardise: bool):
    """Features standardised unless ``standardise`` is False, then ``MLPRegressor``."""
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(with_mean=standardise, with_std=standardise), MLPRegressor(**_mlp_params(cfg)))


def _mlp_params(cfg) -> dict:
    return dict(
        hidden_layer_sizes=(cfg.mlp_hidden,),
        alpha=cfg.mlp_alpha,
        batch_size=cfg.mlp_batch_size,
        learning_rate_init=cfg.mlp_lr,
        validation_fraction=cfg.mlp_val_fraction,
        n_iter_no_change=cfg.mlp_patience,
        max_iter=cfg.mlp_max_epochs,
        early_stopping=True,
        random_state=cfg.seed,
    )


def with_target_scaling(model):
    """``model`` fitted on standardised targets, its predictions mapped back to the original units."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(regressor=model, transformer=StandardScaler())


def fit_quietly(probe, x, y) -> None:
    """``probe.fit(x, y)`` without scikit-learn's ConvergenceWarning (probes stop at their
    iteration cap by design) or its notice that a batch size above N is clipped to N."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
        probe.fit(x, y)


def sklearn_predict(probe, data: Inputs) -> np.ndarray:
    """Fit the scikit-learn estimator ``probe`` on the training codes and predict the test
    codes (numpy [M]). Classification: the arrays as given; regression: float64, and an MLP
    regressor trains without early stopping below :data:`MIN_EARLY_STOPPING` codes."""
    if data.classification:
        train_x, test_x, train_y = data.train_x_np, data.test_x_np, data.train_y
    else:
        if data.n_train < MIN_EARLY_STOPPING and "regressor__mlpregressor__early_stopping" in probe.get_params():
            probe.set_params(regressor__mlpregressor__early_stopping=False)
        train_x, test_x = data.train_x_np.astype(np.float64), data.test_x_np.astype(np.float64)
        train_y = data.train_y.astype(np.float64)
    fit_quietly(probe, train_x, train_y)
    return probe.predict(test_x)
