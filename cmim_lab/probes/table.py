"""The probe table: probe name -> its torch function and its scikit-learn factories."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from ..errors import check_choice
from .knn import knn_predict
from .logistic import linear_predict
from .mlp import mlp_predict
from .reference import (
    knn_classifier,
    knn_regressor,
    logistic_classifier,
    mlp_classifier,
    mlp_regressor,
    ridge_regressor,
    with_target_scaling,
)
from .ridge import ridge_predict


@dataclass(frozen=True)
class Probe:
    """One row of :data:`PROBES`.

    Attributes:
        torch: ``torch(fit, cfg, names, *, standardise, diagnostics)`` -> {name: class codes
            [M] or float64 targets [M]} for the requested probes ``names`` that share this
            function (computed by one call: the two kNN metrics share one pass), from a
            :class:`~cmim_lab.probes.inputs.TorchData` ``fit``, an EvalConfig ``cfg`` and a
            :class:`~cmim_lab.probes.diagnostics.Diagnostics` to fill in.
        classifier: ``classifier(cfg)`` -> a fresh scikit-learn classifier (None: not a
            classification probe).
        regressor: ``regressor(cfg, standardise)`` -> a fresh scikit-learn regressor, to be
            fitted on standardised targets (None: not a regression probe).
    """

    torch: Callable
    classifier: Callable | None = None
    regressor: Callable | None = None


PROBES = {
    "knn-euclidean": Probe(
        knn_predict,
        partial(knn_classifier, metric="euclidean"),
        partial(knn_regressor, metric="euclidean"),
    ),
    "knn-cosine": Probe(
        knn_predict,
        partial(knn_classifier, metric="cosine"),
        partial(knn_regressor, metric="cosine"),
    ),
    "linear": Probe(linear_predict, classifier=logistic_classifier),
    "ridge": Probe(ridge_predict, regressor=ridge_regressor),
    "mlp": Probe(mlp_predict, mlp_classifier, mlp_regressor),
}
CLASSIFIERS = tuple(name for name, row in PROBES.items() if row.classifier is not None)
REGRESSORS = tuple(name for name, row in PROBES.items() if row.regressor is not None)


def make_probe(name: str, cfg):
    """A fresh scikit-learn classifier for probe ``name`` with the settings of the
    EvalConfig ``cfg``."""
    check_choice("classification probe", name, CLASSIFIERS)
    return PROBES[name].classifier(cfg)


def make_regressor(name: str, cfg, standardise: bool = True):
    """A fresh scikit-learn regressor for probe ``name`` with the settings of the EvalConfig
    ``cfg``, wrapped in ``TransformedTargetRegressor(StandardScaler())``.
    ``standardise=False`` feeds ``ridge`` and ``mlp`` the raw features."""
    check_choice("regression probe", name, REGRESSORS)
    return with_target_scaling(PROBES[name].regressor(cfg, standardise))
