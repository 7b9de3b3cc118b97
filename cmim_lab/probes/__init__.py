"""Probes on frozen embeddings: fit a simple model on (train_x [N, D], train_y [N]), score it
on (test_x [M, D], test_y [M]), in torch on the device of the embeddings (deterministic on
the CPU) or in scikit-learn (the reference), as ``cfg.backend`` of an
:class:`~cmim_lab.config.EvalConfig` says; every setting comes from that config.
Classification scores are test accuracies in [0, 1]; regression scores are test RMSEs in
the target's units. Bad input raises ValueError before anything is fitted.

The probes, one row each of :data:`PROBES` (torch function / scikit-learn factories):

=================  =====================  ===================================================
probe              torch (module)         scikit-learn (:mod:`.reference`)
=================  =====================  ===================================================
``knn-euclidean``  :mod:`.knn`            ``KNeighborsClassifier`` / ``KNeighborsRegressor``
``knn-cosine``     :mod:`.knn`            the same on L2-normalised rows (``Normalizer``)
``linear``         :mod:`.logistic`       ``StandardScaler`` + ``LogisticRegression``
``ridge``          :mod:`.ridge`          ``StandardScaler`` + ``RidgeCV`` (regression only)
``mlp``            :mod:`.mlp`            ``StandardScaler`` + ``MLPClassifier`` / ``MLPRegressor``
=================  =====================  ===================================================

Codes that carry nothing (constant or all zero: a collapsed model) give chance-level
predictions in both backends, as scikit-learn's: the most frequent class or the mean target
(kNN: the neighbours are the first ``knn_k`` training codes, all equally near).

To add a probe: write its torch function in a module of its own (signature: see
:class:`~.table.Probe`), its scikit-learn factory in :mod:`.reference`, add one row to
:data:`PROBES`, and its name to ``CLASSIFICATION_PROBES`` / ``REGRESSION_PROBES`` in
:mod:`cmim_lab.config`. Inputs are checked in :mod:`.inputs` and run through the table by
:mod:`.run`; solver counts come back in a :class:`Diagnostics` the caller passes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import CLASSIFICATION_PROBES, REGRESSION_PROBES, EvalConfig
from ..errors import check_choice
from . import run
from .diagnostics import Diagnostics
from .inputs import MIN_EARLY_STOPPING, Inputs
from .knn import KNN_METRICS, knn_neighbours
from .logistic import LogisticFit, fit_logistic, logistic_objective
from .ridge import RidgeFit, fit_ridge
from .table import PROBES, Probe, make_probe, make_regressor

__all__ = [
    "Diagnostics",
    "KNN_METRICS",
    "LogisticFit",
    "MIN_EARLY_STOPPING",
    "PROBES",
    "Probe",
    "Progress",
    "RidgeFit",
    "classification_predictions",
    "classification_scores",
    "fit_logistic",
    "fit_ridge",
    "knn_neighbours",
    "logistic_objective",
    "make_probe",
    "make_regressor",
    "regression_predictions",
    "regression_scores",
]

Progress = Callable[[str], None]


def classification_scores(
    train_x,
    train_y,
    test_x,
    test_y,
    cfg: EvalConfig,
    *,
    probes=None,
    device=None,
    progress: Progress | None = None,
    times: dict | None = None,
    diagnostics: Diagnostics | None = None,
) -> dict[str, float]:
    """Test accuracy in [0, 1] of each classification probe fitted on (train_x, train_y).

    Args:
        train_x, test_x: embeddings [N, D] and [M, D] (torch tensors or numpy arrays).
        train_y, test_y: class labels [N] and [M] (integers, strings, or floats with integer
            values); every test label must occur in the training labels, which must hold at
            least two classes.
        cfg: the probe settings and ``cfg.backend`` (``torch`` or ``sklearn``).
        probes: names from :data:`~cmim_lab.config.CLASSIFICATION_PROBES` (None:
            ``cfg.probes``), scored in this order.
        device: where the torch backend computes (None: the device of ``train_x`` if it is
            a tensor, else the CPU).
        progress: called as ``progress("knn-cosine 0.8412 (1.3 s)")`` after each probe
            (name, score, seconds); the two kNN probes share one pass and split its time.
        times: if a dict, filled with the seconds each probe took.
        diagnostics: if given, filled in by the torch probes (see :class:`Diagnostics`).

    Returns:
        {probe name: accuracy}, in the order of ``probes``.
    """
    names = _probe_names(probes, cfg, CLASSIFICATION_PROBES, "classification probe")
    data = Inputs.build(train_x, train_y, test_x, test_y, classification=True)
    _check_knn(names, cfg, data.n_train)

    def score(pred):
        return float(np.mean(pred == data.test_y))

    return run.scores(
        names,
        data,
        cfg,
        score,
        device=device,
        standardise=True,
        progress=progress,
        times=times,
        diagnostics=diagnostics,
    )


def regression_scores(
    train_x,
    train_y,
    test_x,
    test_y,
    cfg: EvalConfig,
    *,
    probes=None,
    standardise: bool = True,
    device=None,
    progress: Progress | None = None,
    times: dict | None = None,
    diagnostics: Diagnostics | None = None,
) -> dict[str, float]:
    """Test RMSE (in the targets' units, lower is better) of each regression probe.

    Args:
        train_x, test_x: embeddings [N, D] and [M, D]; train_y, test_y: real targets [N], [M].
        cfg: the probe settings and backend.
        probes: names from :data:`~cmim_lab.config.REGRESSION_PROBES` (None: ``cfg.probes``
            with ``linear`` read as its regression analogue ``ridge``).
        standardise: False feeds ``ridge`` and ``mlp`` the raw features (for 0/1 fingerprint
            bits, where standardising blows rare bits up to dominate every weight).
        device, progress, times, diagnostics: as in :func:`classification_scores`.

    Targets are standardised with the training mean and std inside every probe and the
    predictions mapped back to the original units.
    """
    names = _probe_names(_regression_default(probes, cfg), cfg, REGRESSION_PROBES, "regression probe")
    data = Inputs.build(train_x, train_y, test_x, test_y, classification=False)
    _check_knn(names, cfg, data.n_train)
    test_y = data.test_y.astype(np.float64)

    def score(pred):
        return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - test_y) ** 2)))

    return run.scores(
        names,
        data,
        cfg,
        score,
        device=device,
        standardise=standardise,
        progress=progress,
        times=times,
        diagnostics=diagnostics,
    )


def classification_predictions(
    train_x, train_y, test_x, cfg: EvalConfig, *, probes=None, device=None, diagnostics: Diagnostics | None = None
) -> dict[str, np.ndarray]:
    """Predicted labels [M] (numpy, the training labels' type) of each classification probe
    for ``test_x`` [M, D]; arguments as in :func:`classification_scores`."""
    names = _probe_names(probes, cfg, CLASSIFICATION_PROBES, "classification probe")
    data = Inputs.build(train_x, train_y, test_x, None, classification=True)
    _check_knn(names, cfg, data.n_train)
    return run.predict(names, data, cfg, device=device, standardise=True, diagnostics=diagnostics)


def regression_predictions(
    train_x,
    train_y,
    test_x,
    cfg: EvalConfig,
    *,
    probes=None,
    standardise: bool = True,
    device=None,
    diagnostics: Diagnostics | None = None,
) -> dict[str, np.ndarray]:
    """Predicted targets [M] (float64 numpy, original units) of each regression probe for
    ``test_x`` [M, D]; arguments as in :func:`regression_scores`."""
    names = _probe_names(_regression_default(probes, cfg), cfg, REGRESSION_PROBES, "regression probe")
    data = Inputs.build(train_x, train_y, test_x, None, classification=False)
    _check_knn(names, cfg, data.n_train)
    return run.predict(names, data, cfg, device=device, standardise=standardise, diagnostics=diagnostics)


def _check_cfg(cfg) -> None:
    if not isinstance(cfg, EvalConfig):
        raise ValueError(f"cfg must be an EvalConfig, got {type(cfg).__name__}")


def _regression_default(probes, cfg):
    """``probes``, or ``cfg.probes`` with ``linear`` read as its regression analogue ``ridge``."""
    _check_cfg(cfg)
    if probes is not None:
        return probes
    return tuple("ridge" if p == "linear" else p for p in cfg.probes)


def _probe_names(probes, cfg: EvalConfig, valid, what: str) -> tuple[str, ...]:
    _check_cfg(cfg)
    names = tuple(cfg.probes if probes is None else ([probes] if isinstance(probes, str) else probes))
    if not names:
        raise ValueError(f"no {what}s to run; valid {what}s are: {', '.join(valid)}")
    for name in names:
        check_choice(what, name, valid)
    if len(set(names)) != len(names):
        raise ValueError(f"{what}s listed twice: {list(names)}")
    return names


def _check_knn(names, cfg: EvalConfig, n_train: int) -> None:
    if any(n in KNN_METRICS for n in names) and cfg.knn_k > n_train:
        raise ValueError(
            f"knn_k={cfg.knn_k} neighbours asked for, but the training set holds only "
            f"{n_train} codes; lower knn_k or fit on more codes"
        )
