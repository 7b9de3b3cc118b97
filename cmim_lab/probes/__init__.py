"""Probes on frozen embeddings, in torch on the device of the embeddings or in scikit-learn.

Every probe is fitted on (train_x [N, D], train_y [N]) and scored on (test_x [M, D],
test_y [M]); all settings come from an :class:`~cmim_lab.config.EvalConfig` (``cfg``), none
is restated here. Classification scores are test accuracies in [0, 1] (higher is better);
regression scores are test RMSEs in the target's units (lower is better).

Probes (the same definitions in both backends, ``cfg.backend``):

* ``knn-euclidean`` / ``knn-cosine``: the ``cfg.knn_k`` nearest training codes, exact;
  cosine distance is the Euclidean distance between L2-normalised vectors (zero vectors
  stay zero, as scikit-learn's ``Normalizer``). Classification: majority vote, a tie goes
  to the lowest label (scikit-learn's rule); regression: the mean of the neighbours'
  targets. Exactly tied distances go to the lower training index.
* ``linear`` (classification): features standardised with the training mean and
  population std (a zero std counts as 1), then multinomial logistic regression with
  scikit-learn's default objective ``C * sum_i CE_i + 0.5 * ||W||^2`` (``C =
  cfg.linear_c``, intercept unpenalised; two classes: one weight vector, binomial loss),
  solved until the largest gradient entry of the per-sample-mean objective
  ``mean_i CE_i + ||W||^2 / (2 C N)`` is at most ``cfg.linear_tol`` (scikit-learn's
  ``gtol``) or after ``cfg.linear_max_iter`` iterations.
* ``ridge`` (regression): features standardised (unless ``standardise=False``), penalty
  chosen from ``cfg.ridge_alphas`` by the exact leave-one-out squared error (scikit-learn's
  ``RidgeCV``), intercept unpenalised.
* ``mlp``: standardised features (regression: unless ``standardise=False``), one hidden
  layer of ``cfg.mlp_hidden`` ReLU units, softmax output (two classes: one logistic unit;
  regression: one linear unit), Adam (``cfg.mlp_lr``) on mini-batches of
  ``cfg.mlp_batch_size``, loss = batch-mean cross-entropy (regression: half the batch-mean
  squared error) + ``cfg.mlp_alpha / (2 B) * ||W||^2`` (weights only, B = the batch's
  size), Glorot-uniform initialisation. Early stopping: a held-out ``cfg.mlp_val_fraction``
  of the training codes (stratified for classification) is scored after every epoch
  (accuracy; regression: R^2), training stops once the score has not improved for more
  than ``cfg.mlp_patience`` epochs in a row (scikit-learn's rule) or after
  ``cfg.mlp_max_epochs`` epochs, and the best epoch's weights are kept. With fewer than
  :data:`MIN_EARLY_STOPPING` training codes the torch MLP trains all ``cfg.mlp_max_epochs``
  epochs on everything (the scikit-learn regressor turns early stopping off there too).

Regression targets are standardised with the training mean and std before fitting and the
predictions mapped back (scikit-learn's ``TransformedTargetRegressor(StandardScaler())``),
so RMSEs are in the original units.

The torch backend computes on ``device`` (default: the device of ``train_x`` when it is a
tensor, else the CPU; float32 products are kept at full IEEE precision on CUDA, no TF32) and
is deterministic on the CPU, also under machine load:

* kNN: per chunk of ``cfg.knn_chunk`` test rows, one float32 product with the training
  codes serves both metrics (memory: two ``knn_chunk x N`` float32 blocks) and yields
  ``k + 16`` candidates; a row is certified when its float32 distances separate the k-th
  neighbour from the next by more than twice the worst-case rounding error, otherwise its
  candidates are re-ranked with float64 distances (and, if the candidates cannot be shown
  to hold the k nearest, the row is recomputed in float64 against every training row). So
  the neighbours are those of exact arithmetic (see :func:`knn_neighbours`).
* logistic: full-batch L-BFGS (``torch.optim.LBFGS``, strong Wolfe line search) on
  weights reparametrised by the eigendecomposition of the features' second moment (a change
  of variables that leaves the objective unchanged; on a 1,040-d informative embedding of
  60,000 codes it reaches the tolerance in about 70 iterations, where scikit-learn stops at
  its 1,000-iteration cap); the two products with the feature matrix per evaluation run in
  the embeddings' dtype, all else in float64 (see :func:`fit_logistic`).
* ridge: one eigendecomposition, float64 (see :func:`fit_ridge`).
* MLP: in the embeddings' dtype (``cfg.mlp_precision="bfloat16"``: the hidden layer's
  products in bfloat16 with float32 accumulation, master weights in the embeddings' dtype),
  fused Adam, a local ``torch.Generator`` seeded with
  ``cfg.seed`` for initialisation, hold-out and shuffling (the global RNG is never
  touched).

The ``sklearn`` backend is the reference implementation (the estimators of
:func:`make_probe` / :func:`make_regressor`, on the CPU); with the default EvalConfig it
gives the scores of the kit's earlier ``cmim_lab.evaluation`` bit for bit.

Bad input raises ``ValueError`` before anything is fitted: arrays of the wrong rank, empty
train or test sets, mismatched lengths or feature widths, NaN or infinite values, fewer
than two training classes, test labels never seen in training, more neighbours than
training codes, unknown probe names.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import CLASSIFICATION_PROBES, REGRESSION_PROBES, EvalConfig
from ..errors import check_choice, check_positive

MIN_EARLY_STOPPING = 50  # fewer training codes than this: no held-out split for the MLP
KNN_METRICS = {"knn-euclidean": "euclidean", "knn-cosine": "cosine"}
_KNN_EXTRA = 16  # candidates re-ranked exactly per test row beyond the k needed
_REFINE_ROWS = 256  # test rows per exact re-ranking block (memory: rows x candidates x D)
_F32_EPS = float(torch.finfo(torch.float32).eps) / 2  # unit roundoff u
_F64_EPS = float(torch.finfo(torch.float64).eps) / 2

Progress = Callable[[str], None]
_DIAGNOSTICS: dict = {}  # the last run's L-BFGS iterations and evaluations, MLP epochs, kNN features and rows
# recomputed (benchmarks)


# --- public entry points ------------------------------------------------------------------

def classification_scores(train_x, train_y, test_x, test_y, cfg: EvalConfig, *, probes=None, device=None,
                          progress: Progress | None = None, times: dict | None = None) -> dict[str, float]:
    """Test accuracy in [0, 1] of each classification probe fitted on (train_x, train_y).

    Args:
        train_x, test_x: embeddings [N, D] and [M, D] (torch tensors or numpy arrays).
        train_y, test_y: labels [N] and [M] (any sortable type); every test label must occur
            in the training labels, which must hold at least two classes.
        cfg: the probe settings and ``cfg.backend`` (``torch`` or ``sklearn``).
        probes: names from :data:`~cmim_lab.config.CLASSIFICATION_PROBES` (None:
            ``cfg.probes``), scored in this order.
        device: where the torch backend computes (None: the device of ``train_x`` if it is
            a tensor, else the CPU).
        progress: called as ``progress("knn-cosine 0.8412 (1.3 s)")`` after each probe
            (name, score, seconds); the two kNN probes share one pass and split its time.
        times: if a dict, filled with the seconds each probe took.

    Returns:
        {probe name: accuracy}, in the order of ``probes``.
    """
    names = _probe_names(probes, cfg, CLASSIFICATION_PROBES, "classification probe")
    data = _Inputs.build(train_x, train_y, test_x, test_y, classification=True)
    _check_knn(names, cfg, data.n_train)

    def score(pred):
        return float(np.mean(pred == data.test_y))

    return _run(names, data, cfg, score, device, progress, times, classification=True, standardise=True)


def regression_scores(train_x, train_y, test_x, test_y, cfg: EvalConfig, *, probes=None, standardise: bool = True,
                      device=None, progress: Progress | None = None, times: dict | None = None) -> dict[str, float]:
    """Test RMSE (in the targets' units, lower is better) of each regression probe.

    Args:
        train_x, test_x: embeddings [N, D] and [M, D]; train_y, test_y: real targets [N], [M].
        cfg: the probe settings and backend.
        probes: names from :data:`~cmim_lab.config.REGRESSION_PROBES` (None: ``cfg.probes``
            with ``linear`` read as its regression analogue ``ridge``).
        standardise: False feeds ``ridge`` and ``mlp`` the raw features (for 0/1 fingerprint
            bits, where standardising blows rare bits up to dominate every weight).
        device, progress, times: as in :func:`classification_scores`.

    Targets are standardised with the training mean and std inside every probe and the
    predictions mapped back to the original units.
    """
    names = _probe_names(_regression_default(probes, cfg), cfg, REGRESSION_PROBES, "regression probe")
    data = _Inputs.build(train_x, train_y, test_x, test_y, classification=False)
    _check_knn(names, cfg, data.n_train)
    test_y = data.test_y.astype(np.float64)

    def score(pred):
        return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - test_y) ** 2)))

    return _run(names, data, cfg, score, device, progress, times, classification=False, standardise=standardise)


def classification_predictions(train_x, train_y, test_x, cfg: EvalConfig, *, probes=None,
                               device=None) -> dict[str, np.ndarray]:
    """Predicted labels [M] (numpy, the training labels' type) of each classification probe
    for ``test_x`` [M, D]; arguments as in :func:`classification_scores`."""
    names = _probe_names(probes, cfg, CLASSIFICATION_PROBES, "classification probe")
    data = _Inputs.build(train_x, train_y, test_x, None, classification=True)
    _check_knn(names, cfg, data.n_train)
    return _predict(names, data, cfg, device, None, classification=True, standardise=True)


def regression_predictions(train_x, train_y, test_x, cfg: EvalConfig, *, probes=None, standardise: bool = True,
                           device=None) -> dict[str, np.ndarray]:
    """Predicted targets [M] (float64 numpy, original units) of each regression probe for
    ``test_x`` [M, D]; arguments as in :func:`regression_scores`."""
    names = _probe_names(_regression_default(probes, cfg), cfg, REGRESSION_PROBES, "regression probe")
    data = _Inputs.build(train_x, train_y, test_x, None, classification=False)
    _check_knn(names, cfg, data.n_train)
    return _predict(names, data, cfg, device, None, classification=False, standardise=standardise)


# --- scikit-learn reference ---------------------------------------------------------------

def make_probe(name: str, cfg: EvalConfig):
    """A fresh scikit-learn classifier for probe ``name`` with the settings of ``cfg``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    check_choice("classification probe", name, CLASSIFICATION_PROBES)
    if name == "knn-euclidean":
        return KNeighborsClassifier(n_neighbors=cfg.knn_k)
    if name == "knn-cosine":
        return make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=cfg.knn_k))
    if name == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(C=cfg.linear_c, tol=cfg.linear_tol,
                                                                  max_iter=cfg.linear_max_iter))
    return make_pipeline(StandardScaler(), MLPClassifier(**_sklearn_mlp_params(cfg)))


def make_regressor(name: str, cfg: EvalConfig, standardise: bool = True):
    """A fresh scikit-learn regressor for probe ``name`` with the settings of ``cfg``, wrapped
    in ``TransformedTargetRegressor(StandardScaler())``. ``standardise=False`` feeds
    ``ridge`` and ``mlp`` the raw features."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    check_choice("regression probe", name, REGRESSION_PROBES)
    if name == "knn-euclidean":
        model = KNeighborsRegressor(n_neighbors=cfg.knn_k)
    elif name == "knn-cosine":
        model = make_pipeline(Normalizer(), KNeighborsRegressor(n_neighbors=cfg.knn_k))
    elif name == "ridge":
        model = make_pipeline(StandardScaler(with_mean=standardise, with_std=standardise),
                              RidgeCV(alphas=cfg.ridge_alphas))
    else:
        model = make_pipeline(StandardScaler(with_mean=standardise, with_std=standardise),
                              MLPRegressor(**_sklearn_mlp_params(cfg)))
    return TransformedTargetRegressor(regressor=model, transformer=StandardScaler())


def _sklearn_mlp_params(cfg: EvalConfig) -> dict:
    return dict(hidden_layer_sizes=(cfg.mlp_hidden,), alpha=cfg.mlp_alpha, batch_size=cfg.mlp_batch_size,
                learning_rate_init=cfg.mlp_lr, validation_fraction=cfg.mlp_val_fraction,
                n_iter_no_change=cfg.mlp_patience, max_iter=cfg.mlp_max_epochs, early_stopping=True,
                random_state=cfg.seed)


def _fit_quietly(probe, x, y) -> None:
    """``probe.fit(x, y)`` without scikit-learn's ConvergenceWarning (probes stop at their
    iteration cap by design) or its notice that a batch size above N is clipped to N."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
        probe.fit(x, y)


def _sklearn_predict(name: str, data: "_Inputs", cfg: EvalConfig, classification: bool, standardise: bool):
    """Fit the scikit-learn probe ``name`` and predict the test codes (numpy [M])."""
    if classification:  # as evaluation.probe_scores: the arrays as given
        probe = make_probe(name, cfg)
        train_x, test_x = data.train_x_np, data.test_x_np
    else:  # as evaluation.regression_scores: float64
        probe = make_regressor(name, cfg, standardise)
        if name == "mlp" and data.n_train < MIN_EARLY_STOPPING:
            probe.set_params(regressor__mlpregressor__early_stopping=False)
        train_x, test_x = data.train_x_np.astype(np.float64), data.test_x_np.astype(np.float64)
    train_y = data.train_y if classification else data.train_y.astype(np.float64)
    _fit_quietly(probe, train_x, train_y)
    return probe.predict(test_x)


# --- running probes -----------------------------------------------------------------------

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
        raise ValueError(f"knn_k={cfg.knn_k} neighbours asked for, but the training set holds only "
                         f"{n_train} codes; lower knn_k or fit on more codes")


def _run(names, data, cfg, score, device, progress, times, *, classification, standardise) -> dict[str, float]:
    scores = {}

    def done(name, pred, seconds):
        scores[name] = score(pred)
        if times is not None:
            times[name] = seconds
        if progress is not None:
            progress(f"{name} {scores[name]:.4f} ({seconds:.1f} s)")

    _predict(names, data, cfg, device, done, classification=classification, standardise=standardise)
    return {name: scores[name] for name in names}


def _predict(names, data, cfg, device, done, *, classification, standardise) -> dict[str, np.ndarray]:
    """Predictions of each probe (numpy [M]); ``done(name, pred, seconds)`` after each."""
    preds = {}
    if cfg.backend == "sklearn":
        for name in names:
            start = time.perf_counter()
            preds[name] = _sklearn_predict(name, data, cfg, classification, standardise)
            if done is not None:
                done(name, preds[name], time.perf_counter() - start)
        return preds
    dev = torch.device(device) if device is not None else data.device
    with _ieee_float32(dev):
        _torch_predict(names, data, cfg, dev, done, preds, classification, standardise)
    return preds


@contextlib.contextmanager
def _ieee_float32(device: torch.device):
    """Full-precision float32 matrix products on CUDA for the duration (no TF32: the kNN
    error bounds and the logistic probe's gradients assume IEEE float32)."""
    matmul = torch.backends.cuda.matmul
    if device.type != "cuda":
        yield
        return
    flag = "fp32_precision" if hasattr(matmul, "fp32_precision") else "allow_tf32"  # torch >= 2.9 / older
    old = getattr(matmul, flag)
    setattr(matmul, flag, "ieee" if flag == "fp32_precision" else False)
    try:
        yield
    finally:
        setattr(matmul, flag, old)


def _torch_predict(names, data, cfg, dev, done, preds, classification, standardise) -> None:
    fit = _TorchData(data, dev, classification)
    for name in names:
        if name in preds:  # the second kNN probe, computed together with the first
            continue
        start = time.perf_counter()
        if name in KNN_METRICS:
            wanted = [n for n in names if n in KNN_METRICS]
            out = _knn_predictions(fit, cfg, [KNN_METRICS[n] for n in wanted])
            seconds = (time.perf_counter() - start) / len(wanted)
            for n in wanted:
                preds[n] = fit.decode(out[KNN_METRICS[n]])
                if done is not None:
                    done(n, preds[n], seconds)
            continue
        if name == "linear":
            train, test = fit.standardised()
            model = _fit_logistic_standardised(train, fit.train_codes, fit.n_classes, cfg, fit.stats)
            pred = model.predict_codes(test, standardised=True)
        elif name == "ridge":
            pred = _ridge_predict(fit, cfg, standardise)
        else:
            pred = _mlp_predict(fit, cfg, classification, standardise)
        preds[name] = fit.decode(pred)
        if done is not None:
            done(name, preds[name], time.perf_counter() - start)


# --- input checks -------------------------------------------------------------------------

def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


@dataclass
class _Inputs:
    """Checked inputs: features as given (tensor or array), labels as numpy."""
    train_x: object
    test_x: object
    train_y: np.ndarray
    test_y: np.ndarray | None
    device: torch.device

    @property
    def n_train(self) -> int:
        return len(self.train_y)

    @property
    def train_x_np(self) -> np.ndarray:
        return _np(self.train_x)

    @property
    def test_x_np(self) -> np.ndarray:
        return _np(self.test_x)

    @classmethod
    def build(cls, train_x, train_y, test_x, test_y, *, classification: bool) -> "_Inputs":
        arrays = {"train_x": train_x, "test_x": test_x}
        shapes = {}
        for what, x in arrays.items():
            if not isinstance(x, torch.Tensor):
                x = np.asarray(x)
                if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
                    raise ValueError(f"{what} must hold numbers, got dtype {x.dtype}")
            elif x.is_complex():
                raise ValueError(f"{what} must hold real numbers, got dtype {x.dtype}")
            if x.ndim != 2:
                raise ValueError(f"{what} must be a 2-D array [N, D] of embeddings, got shape {tuple(x.shape)}")
            arrays[what] = x
            shapes[what] = tuple(x.shape)
        labels = {"train_y": _np(train_y)}
        if test_y is not None:
            labels["test_y"] = _np(test_y)
        for what, y in labels.items():
            if y.ndim != 1:
                raise ValueError(f"{what} must be a 1-D array [N] of "
                                 f"{'labels' if classification else 'targets'}, got shape {y.shape}")
        if shapes["train_x"][0] == 0:
            raise ValueError("the training set is empty (train_x has 0 rows)")
        if shapes["test_x"][0] == 0:
            raise ValueError("the test set is empty (test_x has 0 rows)")
        for split in ("train", "test"):
            if f"{split}_y" in labels and len(labels[f"{split}_y"]) != shapes[f"{split}_x"][0]:
                raise ValueError(f"mismatched lengths: {split}_x has {shapes[f'{split}_x'][0]} rows but {split}_y "
                                 f"has {len(labels[f'{split}_y'])} entries")
        if shapes["train_x"][1] != shapes["test_x"][1]:
            raise ValueError(f"train_x has {shapes['train_x'][1]} features per row but test_x has "
                             f"{shapes['test_x'][1]}; embed both splits the same way")
        if shapes["train_x"][1] == 0:
            raise ValueError("the embeddings have 0 features (train_x has shape "
                             f"{shapes['train_x']})")
        for what, x in arrays.items():
            finite = torch.isfinite(x) if isinstance(x, torch.Tensor) else np.isfinite(x)
            if not bool(finite.all()):
                bad = int((~finite).sum())
                raise ValueError(f"{what} holds {bad} NaN or infinite values; the embeddings are broken "
                                 f"(a diverged model?) and cannot be probed")
        if classification:
            classes = np.unique(labels["train_y"])
            if len(classes) < 2:
                raise ValueError(f"train_y holds fewer than two classes ({classes.tolist()}); a classifier "
                                 f"needs at least two")
            if "test_y" in labels:
                unseen = np.setdiff1d(np.unique(labels["test_y"]), classes)
                if len(unseen):
                    raise ValueError(f"test labels {unseen.tolist()} never occur in train_y; no probe can "
                                     f"predict them (fit on a training set that holds every class)")
        else:
            for what, y in labels.items():
                if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
                    raise ValueError(f"{what} must hold real targets, got dtype {y.dtype}")
                bad = int((~np.isfinite(y)).sum())
                if bad:
                    raise ValueError(f"{what} holds {bad} NaN or infinite targets")
        device = train_x.device if isinstance(train_x, torch.Tensor) else torch.device("cpu")
        return cls(arrays["train_x"], arrays["test_x"], labels["train_y"], labels.get("test_y"), device)


class _TorchData:
    """The inputs as tensors on ``device``: features float32 (or float64 if given so),
    class codes 0..K-1 (classification) or float64 targets (regression)."""

    def __init__(self, data: _Inputs, device: torch.device, classification: bool):
        self.device = device
        self.train_x = _tensor(data.train_x, device)
        self.test_x = _tensor(data.test_x, device)
        self.classification = classification
        if classification:
            self.classes, codes = np.unique(data.train_y, return_inverse=True)
            self.train_codes = torch.as_tensor(codes.reshape(-1), dtype=torch.long, device=device)
            self.n_classes = len(self.classes)
        else:
            self.train_t = torch.as_tensor(data.train_y.astype(np.float64), device=device)
        self._standardised = {}

    def standardised(self, dtype=None):
        """(train, test) standardised with the training statistics (see :func:`_standardise`),
        in ``dtype`` (None: the embeddings' dtype); computed once per dtype and shared by the
        probes of one call."""
        dtype = dtype or self.train_x.dtype
        if dtype not in self._standardised:
            (train, test), self.stats = _standardise(self.train_x, self.test_x, dtype=dtype)
            self._standardised[dtype] = (train, test)
        return self._standardised[dtype]

    def decode(self, pred: torch.Tensor) -> np.ndarray:
        """Class codes -> labels, or float64 predictions, as numpy."""
        pred = pred.detach().cpu().numpy()
        return self.classes[pred] if self.classification else pred.astype(np.float64)


def _tensor(x, device) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.to(device)


def _standardise(train: torch.Tensor, *others: torch.Tensor, dtype=None):
    """(x - mean) / std with the training mean and population std, both in float64 (a
    zero std counts as 1, as scikit-learn's StandardScaler); each tensor is standardised in
    float64 and stored in ``dtype`` (None: its own dtype), in blocks of rows, without a
    float64 copy of the whole matrix. Returns ([train, *others], (mean [D], scale [D]))."""
    step = _ROW_BLOCK
    n = len(train)
    mean = train.sum(0, dtype=torch.float64) / n
    # one float64 block reused by every pass: fresh 30 MB temporaries per block cost page
    # faults that took longer than the arithmetic
    buf = torch.empty(min(step, max(len(x) for x in (train, *others))), train.shape[1], dtype=torch.float64,
                      device=train.device)
    var = 0
    for i in range(0, n, step):
        rows = train[i:i + step]
        var = var + buf[:len(rows)].copy_(rows).sub_(mean).pow_(2).sum(0)
    scale = (var / n).sqrt()
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    out = []
    for x in (train, *others):
        y = torch.empty(x.shape, dtype=dtype or x.dtype, device=x.device)
        for i in range(0, len(x), step):
            rows = x[i:i + step]
            y[i:i + step] = buf[:len(rows)].copy_(rows).sub_(mean).div_(scale)
        out.append(y)
    return out, (mean, scale)


_ROW_BLOCK = 4096  # rows per block of the row-wise passes (bounds the float64 temporaries)


# --- kNN ----------------------------------------------------------------------------------

def knn_neighbours(train_x: torch.Tensor, test_x: torch.Tensor, k: int, chunk: int,
                   metrics=("euclidean", "cosine"), *, ordered: bool = True) -> dict[str, torch.Tensor]:
    """Indices [M, k] (long, nearest first) of the ``k`` nearest rows of ``train_x`` [N, D]
    for each row of ``test_x`` [M, D], per metric (``euclidean``, ``cosine``), exact: the
    neighbours of exact arithmetic, equal distances going to the lower training index.

    Per chunk of ``chunk`` test rows one float32 product [chunk, N] serves every metric and
    gives the ``k + 16`` best candidates. A row whose float32 distances separate the k-th
    from the (k+1)-th candidate (and, when ``ordered``, each of the first k from the next)
    by more than twice the worst-case float32 rounding error is certified as it is; the
    other rows re-rank their candidates with float64 distances computed directly, and are
    recomputed with a float64 product over all training rows (then, for exact ties, with
    direct float64 distances to every training row) when the candidates cannot be shown to
    hold the k nearest. ``ordered=False`` certifies the set only (its order may follow the
    float32 distances), which is all a vote or a mean needs. Features that are 0 in every
    training and test row are left out first (they change no distance).
    """
    for m in metrics:
        check_choice("kNN metric", m, ("euclidean", "cosine"))
    check_positive("k", k, integer=True)
    check_positive("chunk", chunk, integer=True)
    n, d = train_x.shape
    if k > n:
        raise ValueError(f"k={k} neighbours asked for, but train_x holds only {n} rows")
    used = (train_x != 0).any(0) | (test_x != 0).any(0)
    if not bool(used.all()):  # features that are 0 in every row (dead ReLU units) add nothing to any distance
        train_x, test_x = train_x[:, used], test_x[:, used]
        d = train_x.shape[1]
    _DIAGNOSTICS["knn_features"] = d
    ref = train_x if train_x.dtype == torch.float64 else train_x.to(torch.float32)
    train32 = ref.to(torch.float32)
    norm = torch.linalg.vector_norm(ref, dim=1, dtype=torch.float64)  # float64 norms, no float64 copy
    inv = torch.where(norm > 0, 1.0 / norm, torch.zeros_like(norm))
    unit = (norm > 0).to(torch.float64)  # |b / |b||^2: 1, or 0 for a zero row
    sq32, inv32, unit32 = (norm ** 2).to(torch.float32), inv.to(torch.float32), unit.to(torch.float32)
    bmax = float(norm.max())
    n_cand = min(n, k + _KNN_EXTRA)
    # worst-case float32 error of an inner product of rounded vectors, per |a||b|
    gamma = (d + 4) * _F32_EPS / (1 - (d + 4) * _F32_EPS)
    out = {m: [] for m in metrics}
    gram_buf = torch.empty(min(chunk, len(test_x)), n, dtype=torch.float32, device=ref.device)
    score_buf = torch.empty_like(gram_buf)  # both reused across chunks (no fresh pages per chunk)
    for start in range(0, len(test_x), chunk):
        a64 = test_x[start:start + chunk].to(torch.float64)
        m = len(a64)
        a_norm = torch.linalg.vector_norm(a64, dim=1)
        a_inv = torch.where(a_norm > 0, 1.0 / a_norm, torch.zeros_like(a_norm))
        # one product with the normalised test rows serves both metrics: g = (a / |a|) . b
        gram = torch.matmul((a64 * a_inv[:, None]).to(torch.float32), train32.T, out=gram_buf[:m])  # [m, N]
        for metric in metrics:
            if metric == "euclidean":  # |a - b|^2 = |a|^2 + (|b|^2 - 2 |a| g)
                score = torch.addcmul(sq32, gram, a_norm.to(torch.float32)[:, None], value=-2, out=score_buf[:m])
                err = 2.2 * gamma * a_norm * bmax + 8 * _F32_EPS * (bmax ** 2 + 2 * a_norm * bmax)
                offset = a_norm ** 2
            else:  # |a/|a| - b/|b||^2 = |a/|a||^2 + (|b/|b||^2 - 2 g / |b|)
                score = torch.addcmul(unit32, gram, inv32, value=-2, out=score_buf[:m])
                err = torch.full_like(a_norm, 2.2 * gamma + 16 * _F32_EPS)
                offset = (a_norm > 0).to(torch.float64)
            cand_score, cand = torch.topk(score, n_cand, dim=1, largest=False, sorted=True)
            approx = cand_score.to(torch.float64) + offset[:, None]  # distances, ascending
            idx = cand[:, :k].clone()
            if n_cand > k:  # certified rows: the float32 gaps exceed twice the error bound
                gaps = approx[:, 1:k + 1] - approx[:, :k] if ordered else approx[:, k] - approx[:, k - 1]
                sure = (gaps if gaps.dim() == 1 else gaps.min(1).values) > 2 * err
            else:  # every training row is a candidate: the set is certain, the order is not
                sure = torch.full_like(a_norm, not ordered, dtype=torch.bool)
            unsure = (~sure).nonzero().flatten()
            _DIAGNOSTICS["knn_rows_refined"] = _DIAGNOSTICS.get("knn_rows_refined", 0) + len(unsure)
            if len(unsure):
                bound = approx[unsure, -1] - err[unsure]  # no non-candidate is nearer than this
                idx[unsure] = _refine(a64[unsure], a_inv[unsure], ref, norm, inv, cand[unsure], bound, k, metric, n)
            out[metric].append(idx)
    return {m: torch.cat(v) for m, v in out.items()}


def _exact_dist(a64, a_inv, rows, b_inv, metric):
    """Squared distances [m, c] between a [m, D] (float64) and rows [m, c, D] (any float
    dtype), from float64 differences (no cancellation: relative error ~ D * 1e-16)."""
    if metric == "cosine":
        a64 = a64 * a_inv[:, None]
        rows = rows * b_inv[..., None]
    diff = rows - a64[:, None, :]  # float64 by type promotion
    return diff.mul_(diff).sum(-1)


def _sort_by_distance_then_index(dist, idx):
    """Sort candidates [m, c] by (distance, index)."""
    idx, order = idx.sort(dim=1)
    dist = dist.gather(1, order)
    dist, order = dist.sort(dim=1, stable=True)
    return dist, idx.gather(1, order)


def _refine(a64, a_inv, ref, norm, inv, cand, bound, k, metric, n):
    """Re-rank candidates [m, c] exactly; rows whose k-th exact distance is not below
    ``bound`` [m] (the least distance a non-candidate can have) are recomputed."""
    result = torch.empty(len(cand), k, dtype=torch.long, device=cand.device)
    ok = torch.empty(len(cand), dtype=torch.bool, device=cand.device)
    for s in range(0, len(cand), _REFINE_ROWS):
        c = cand[s:s + _REFINE_ROWS]
        rows = ref[c]
        dist = _exact_dist(a64[s:s + _REFINE_ROWS], a_inv[s:s + _REFINE_ROWS], rows, inv[c], metric)
        dist, idx = _sort_by_distance_then_index(dist, c)
        result[s:s + _REFINE_ROWS] = idx[:, :k]
        ok[s:s + _REFINE_ROWS] = (dist[:, k - 1] < bound[s:s + _REFINE_ROWS]) | (c.shape[1] == n)
    bad = (~ok).nonzero().flatten()
    _DIAGNOSTICS["knn_rows_recomputed"] = _DIAGNOSTICS.get("knn_rows_recomputed", 0) + len(bad)
    for s in range(0, len(bad), _REFINE_ROWS):
        rows = bad[s:s + _REFINE_ROWS]
        result[rows] = _knn_float64(a64[rows], a_inv[rows], ref, norm, inv, k, metric)
    return result


def _knn_float64(a64, a_inv, ref, norm, inv, k, metric):
    """The slow, certain path for a few rows a [r, D]: a float64 Gram matrix, then exact
    distances to every training row where rounding could still matter."""
    n, d = ref.shape
    b_blocks = _ROW_BLOCK
    if metric == "cosine":
        a = a64 * a_inv[:, None]
        unit = (norm > 0).to(torch.float64)
        offset = (a_inv > 0).to(torch.float64)
        score = torch.cat([unit[j:j + b_blocks] - 2 * (a @ (ref[j:j + b_blocks].to(torch.float64)
                                                             * inv[j:j + b_blocks, None]).T)
                           for j in range(0, n, b_blocks)], dim=1)
        err = 2.2 * (d + 4) * _F64_EPS * 3 + 12 * _F64_EPS
    else:
        a = a64
        sq = norm ** 2
        offset = (a64 ** 2).sum(1)
        score = torch.cat([sq[j:j + b_blocks] - 2 * (a @ ref[j:j + b_blocks].to(torch.float64).T)
                           for j in range(0, n, b_blocks)], dim=1)
        bmax = float(norm.max())
        an = a64.norm(dim=1)
        err = 2.2 * (d + 4) * _F64_EPS * an * bmax + 4 * _F64_EPS * (bmax ** 2 + 2 * an * bmax)
    n_cand = min(n, k + _KNN_EXTRA)
    cand_score, cand = torch.topk(score, n_cand, dim=1, largest=False, sorted=True)
    dist = _exact_dist(a64, a_inv, ref[cand], inv[cand], metric)
    dist, idx = _sort_by_distance_then_index(dist, cand)
    bound = cand_score[:, -1] + offset - err
    ok = (dist[:, k - 1] < bound) | (n_cand == n)
    result = idx[:, :k].clone()
    for r in (~ok).nonzero().flatten().tolist():  # exact ties: every training row, exactly
        full = torch.cat([_exact_dist(a64[r:r + 1], a_inv[r:r + 1], ref[None, j:j + b_blocks],
                                      inv[None, j:j + b_blocks], metric)[0] for j in range(0, n, b_blocks)])
        order = torch.sort(full, stable=True).indices
        result[r] = order[:k]
    return result


def _knn_predictions(fit: _TorchData, cfg: EvalConfig, metrics) -> dict[str, torch.Tensor]:
    """Class codes (majority vote, ties to the lowest code) or mean targets per metric."""
    _DIAGNOSTICS["knn_rows_recomputed"] = _DIAGNOSTICS["knn_rows_refined"] = 0
    neighbours = knn_neighbours(fit.train_x, fit.test_x, cfg.knn_k, cfg.knn_chunk, metrics, ordered=False)
    out = {}
    for metric, idx in neighbours.items():
        if fit.classification:
            out[metric] = _vote(fit.train_codes[idx], fit.n_classes)
        else:
            out[metric] = fit.train_t[idx].mean(1)
    return out


def _vote(codes: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Majority class code per row of ``codes`` [M, k]; a tie goes to the lowest code, as
    scikit-learn's vote (made explicit: count * n_classes - code has a unique maximum)."""
    counts = torch.zeros(len(codes), n_classes, dtype=torch.long, device=codes.device)
    counts.scatter_add_(1, codes, torch.ones_like(codes))
    return (counts * n_classes - torch.arange(n_classes, device=codes.device)).argmax(1)


# --- logistic regression ------------------------------------------------------------------

@dataclass
class LogisticFit:
    """A fitted logistic probe: ``coef`` [K, D] and ``intercept`` [K] (float64; K = 1 for
    two classes, the binomial form) on features standardised with ``mean`` [D] and
    ``scale`` [D]; ``n_iter`` L-BFGS iterations; ``grad_max`` the largest entry of the
    final gradient of the per-sample-mean objective."""
    coef: torch.Tensor
    intercept: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    n_iter: int
    grad_max: float

    def decision(self, x: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """Logits [M, K] (float64) of features ``x`` [M, D]: raw, or already standardised
        with ``mean`` and ``scale``."""
        xs = x.to(torch.float64) if standardised else (x.to(torch.float64) - self.mean) / self.scale
        return xs @ self.coef.T + self.intercept

    def predict_codes(self, x: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """Class codes [M] (0..n_classes-1) of features ``x`` [M, D] (see :meth:`decision`)."""
        z = self.decision(x, standardised)
        return (z[:, 0] > 0).long() if z.shape[1] == 1 else z.argmax(1)


def fit_logistic(train_x, train_y, cfg: EvalConfig, *, device=None) -> LogisticFit:
    """Fit the ``linear`` probe on ``train_x`` [N, D] and labels ``train_y`` [N] (codes
    follow the sorted unique labels, as scikit-learn's ``classes_``); see the module
    docstring for the objective and the stopping rule."""
    x = _tensor(train_x, torch.device(device) if device is not None else
                (train_x.device if isinstance(train_x, torch.Tensor) else torch.device("cpu")))
    classes, codes = np.unique(_np(train_y), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"train_y holds fewer than two classes ({classes.tolist()})")
    (xs,), stats = _standardise(x)
    return _fit_logistic_standardised(xs, torch.as_tensor(codes.reshape(-1), device=x.device), len(classes), cfg,
                                      stats)


def logistic_objective(coef, intercept, x, codes, c: float) -> float:
    """scikit-learn's objective ``C * sum_i CE_i + 0.5 * ||coef||^2`` (nats; float64) of the
    weights ``coef`` [K, D], ``intercept`` [K] on standardised features ``x`` [N, D] with
    class codes ``codes`` [N] (K = 1: binomial loss for two classes)."""
    coef = torch.as_tensor(np.asarray(_np(coef)), dtype=torch.float64)
    intercept = torch.as_tensor(np.asarray(_np(intercept)), dtype=torch.float64)
    x = torch.as_tensor(np.asarray(_np(x)), dtype=torch.float64)
    codes = torch.as_tensor(np.asarray(_np(codes))).long()
    z = x @ coef.T + intercept
    if coef.shape[0] == 1:
        ce = F.binary_cross_entropy_with_logits(z[:, 0], codes.to(torch.float64), reduction="sum")
    else:
        ce = F.cross_entropy(z, codes, reduction="sum")
    return float(c * ce + 0.5 * (coef ** 2).sum())


def _fit_logistic_standardised(xs: torch.Tensor, codes: torch.Tensor, n_classes: int, cfg: EvalConfig,
                               stats) -> LogisticFit:
    """The ``linear`` probe on standardised features ``xs`` [N, D] (``stats``: their
    (mean, scale)) and class codes [N] (0..n_classes-1); see :func:`fit_logistic`.

    Minimises f(W, b) = C sum_i CE_i + 1/2 ||W||^2 over W' with W = W' A^T, where
    A = V (E + 1/(C N))^-1/2 comes from the eigendecomposition V E V^T of the standardised
    features' second moment X^T X / N: the same objective in better-conditioned coordinates
    (its minimiser is unique, whatever the coordinates). Stops when the largest entry of
    df/dW, df/db divided by C N (the gradient of scikit-learn's per-sample-mean objective)
    is at most ``cfg.linear_tol``. The products with X [N, D] (two per evaluation) run in
    the embeddings' dtype, everything else in float64. Constant features (zero std) are
    left out: their standardised values are 0, so their optimal weights are exactly 0."""
    mean, scale = stats
    n, d_all = xs.shape
    live = (xs != 0).any(0)
    if not bool(live.all()):
        xs = xs[:, live]
    n, d = xs.shape
    c = float(cfg.linear_c)
    gram = (xs.T @ xs).to(torch.float64) / n
    evals, evecs = torch.linalg.eigh(gram)
    root = (evals.clamp_min(0) + 1.0 / (c * n)).sqrt()
    a_mat = evecs / root  # A [D, D]
    k = 1 if n_classes == 2 else n_classes
    w = torch.zeros(k, d + 1, dtype=torch.float64, device=xs.device, requires_grad=True)
    rows = torch.arange(n, device=xs.device)
    target = codes.to(torch.float64)
    cache = {}

    def weights(wp):
        return wp[:, :d] @ a_mat.T, wp[:, d]

    def objective():
        key = w.detach().clone()
        if "key" in cache and torch.equal(cache["key"], key):
            w.grad = cache["grad"].clone()
            return cache["loss"]
        with torch.no_grad():
            coef, b = weights(w)
            z = (xs @ coef.T.to(xs.dtype)).to(torch.float64) + b  # logits [N, k]
            if k == 1:
                ce = F.binary_cross_entropy_with_logits(z[:, 0], target, reduction="sum")
                resid = torch.sigmoid(z) - target[:, None]  # dCE_i/dz_i [N, 1]
            else:
                logp = torch.log_softmax(z, dim=1)
                ce = -logp[rows, codes].sum()
                resid = logp.exp_()
                resid[rows, codes] -= 1  # dCE_i/dz_i [N, k]
            data_grad = (resid.T.to(xs.dtype) @ xs).to(torch.float64)  # [k, D]
            loss = c * ce + 0.5 * (coef ** 2).sum()
            grad_coef = c * data_grad + coef  # df/dW [k, D]
            grad = torch.empty_like(w)
            grad[:, :d] = grad_coef @ a_mat  # df/dW'
            grad[:, d] = c * resid.sum(0)
        w.grad = grad
        grad_max = max(float(grad_coef.abs().max()), float(grad[:, d].abs().max())) / (c * n)
        cache.update(key=key, grad=grad.clone(), loss=loss, grad_max=grad_max)
        _DIAGNOSTICS["linear_evaluations"] += 1  # two products with the features each
        return loss

    opt = torch.optim.LBFGS([w], lr=1, max_iter=1, max_eval=1 + _LINE_SEARCH_EVALS, tolerance_grad=0.0,
                            tolerance_change=0.0, history_size=_LBFGS_HISTORY,
                            line_search_fn="strong_wolfe")
    n_iter = 0
    _DIAGNOSTICS["linear_evaluations"] = 0
    # products too small to share between threads run on one (faster, and no stalls when
    # other processes hold the cores)
    with _single_thread(xs.device.type == "cpu" and n * d * k < _SMALL_PASS_MACS):
        objective()
        while cache["grad_max"] > cfg.linear_tol and n_iter < cfg.linear_max_iter:
            before = w.detach().clone()
            opt.step(objective)
            n_iter += 1
            objective()  # the gradient at the accepted point (cached)
            if torch.equal(before, w.detach()):  # the line search made no progress: converged to rounding
                break
    with torch.no_grad():
        coef, b = weights(w)
        full = torch.zeros(k, d_all, dtype=torch.float64, device=xs.device)
        full[:, live] = coef
        _DIAGNOSTICS["linear_iterations"] = n_iter
        return LogisticFit(full, b.clone(), mean, scale, n_iter, cache["grad_max"])


_LBFGS_HISTORY = 20  # pairs of L-BFGS memory (the cost per iteration is dominated by the two products with X)
_LINE_SEARCH_EVALS = 50  # at most this many evaluations per line search (scikit-learn's maxls)


# --- ridge --------------------------------------------------------------------------------

@dataclass
class RidgeFit:
    """A fitted ridge probe: ``alpha`` chosen from the candidates, ``loo_mse`` [n_alphas]
    (mean squared leave-one-out error of each candidate, in squared units of the targets
    as fitted), ``coef`` [D] and ``intercept`` for the features as fitted."""
    alpha: float
    loo_mse: torch.Tensor
    coef: torch.Tensor
    intercept: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions [M] (float64) for features ``x`` [M, D] prepared as in the fit."""
        return x.to(torch.float64) @ self.coef + self.intercept


def fit_ridge(x, y, alphas) -> RidgeFit:
    """Ridge regression of targets ``y`` [N] on features ``x`` [N, D] (used as given), the
    penalty chosen from ``alphas`` by exact leave-one-out squared error, the intercept
    unpenalised (features and targets centred), all from one eigendecomposition of the
    centred Gram matrix (D x D when N > D, else N x N), as scikit-learn's ``RidgeCV``;
    ties between penalties go to the first in ``alphas``."""
    x = _tensor(x, x.device if isinstance(x, torch.Tensor) else torch.device("cpu")).to(torch.float64)
    y = torch.as_tensor(_np(y), dtype=torch.float64, device=x.device)
    alphas = [float(a) for a in alphas]
    n, d = x.shape
    x_mean, y_mean = x.mean(0), y.mean()
    xc, yc = x - x_mean, y - y_mean
    if n > d:  # xc = U S V^T via the eigendecomposition of xc^T xc = V S^2 V^T
        evals, v = torch.linalg.eigh(xc.T @ xc)
        evals = evals.clamp_min(0)
        p = xc @ v  # U S, [N, D]
        py = p.T @ yc  # S U^T y
        p2 = p ** 2
    else:  # xc xc^T = Q L Q^T
        evals, q = torch.linalg.eigh(xc @ xc.T)
        evals = evals.clamp_min(0)
        qy = q.T @ yc
    loo = []
    for alpha in alphas:
        if n > d:
            fitted = p @ (py / (evals + alpha))
            hat = p2 @ (1.0 / (evals + alpha))
        else:
            shrink = evals / (evals + alpha)
            fitted = q @ (shrink * qy)
            hat = (q ** 2) @ shrink
        hat = hat + 1.0 / n  # the unpenalised intercept
        loo.append((((yc - fitted) / (1 - hat)) ** 2).mean())
    loo = torch.stack(loo)
    best = int(torch.argmin(loo))  # first minimum
    alpha = alphas[best]
    if n > d:
        coef = v @ (py / (evals + alpha))
    else:
        coef = xc.T @ (q @ (qy / (evals + alpha)))
    return RidgeFit(alpha, loo, coef, float(y_mean - x_mean @ coef))


def _ridge_predict(fit: _TorchData, cfg: EvalConfig, standardise: bool) -> torch.Tensor:
    y, (y_mean, y_scale) = _standardise_targets(fit.train_t)
    if standardise:
        train, test = fit.standardised(torch.float64)
    else:
        train, test = fit.train_x.to(torch.float64), fit.test_x.to(torch.float64)
    model = fit_ridge(train, y, cfg.ridge_alphas)
    return model.predict(test) * y_scale + y_mean


def _standardise_targets(t: torch.Tensor):
    (y,), (mean, scale) = _standardise(t[:, None])
    return y[:, 0], (mean[0], scale[0])


# --- MLP ----------------------------------------------------------------------------------

def _mlp_predict(fit: _TorchData, cfg: EvalConfig, classification: bool, standardise: bool) -> torch.Tensor:
    """Train the MLP probe (module docstring) and predict the test codes or targets."""
    dev = fit.device
    gen = torch.Generator().manual_seed(cfg.seed)  # CPU generator: the same draws on every device
    dtype = fit.train_x.dtype  # float32 embeddings train in float32, float64 ones in float64
    # bfloat16: the codes are stored, and the hidden layer's products computed, in bfloat16
    # (float32 accumulation); weights, Adam and everything after the hidden layer stay in dtype
    low = torch.bfloat16 if cfg.mlp_precision == "bfloat16" else None
    if classification or standardise:
        train, test = fit.standardised(low)
    else:
        train, test = fit.train_x.to(low or dtype), fit.test_x.to(low or dtype)
    n, d = train.shape
    if classification:
        n_out = 1 if fit.n_classes == 2 else fit.n_classes
        target = fit.train_codes
    else:
        n_out = 1
        target, (t_mean, t_scale) = _standardise_targets(fit.train_t)
        target = target.to(dtype)
    if n >= MIN_EARLY_STOPPING:
        val_idx, fit_idx = _holdout(fit.train_codes.cpu() if classification else None, n, cfg.mlp_val_fraction, gen)
        x_val, t_val = train[val_idx.to(dev)], target[val_idx.to(dev)]
    else:
        x_val = t_val = None
        fit_idx = torch.arange(n)
    params = _glorot([(d, cfg.mlp_hidden), (cfg.mlp_hidden, n_out)], gen, dev, dtype)
    w1, b1, w2, b2 = params
    n_fit = len(fit_idx)
    batch = min(cfg.mlp_batch_size, n_fit)
    # L2 as Adam's (coupled) weight decay on the weights: grad += mlp_alpha / B * W, the
    # gradient of mlp_alpha / (2 B) * ||W||^2; fused: one kernel per tensor and step
    opt = _adam([{"params": [w1, w2], "weight_decay": cfg.mlp_alpha / batch}, {"params": [b1, b2]}], cfg.mlp_lr)

    def forward(x):
        if low is None:
            return torch.addmm(b2, torch.relu(torch.addmm(b1, x, w1)), w2)
        hidden = torch.relu(torch.addmm(b1.to(low), x, w1.to(low))).to(dtype)
        return torch.addmm(b2, hidden, w2)

    def loss_fn(out, t):
        if not classification:
            return 0.5 * F.mse_loss(out[:, 0], t)
        if n_out == 1:
            return F.binary_cross_entropy_with_logits(out[:, 0], t.to(out.dtype))
        return F.cross_entropy(out, t)

    @torch.no_grad()
    def val_score():
        out = forward(x_val)
        if classification:
            pred = (out[:, 0] > 0).long() if n_out == 1 else out.argmax(1)
            return float((pred == t_val).double().mean())
        resid = ((out[:, 0].double() - t_val.double()) ** 2).sum()
        total = ((t_val.double() - t_val.double().mean()) ** 2).sum()
        return float(1 - resid / total) if total > 0 else (1.0 if resid == 0 else 0.0)

    best, best_params, stale, epochs = -math.inf, None, 0, 0
    # a small network's steps are too small to share between threads: one thread is faster
    # and does not stall when other processes hold the cores
    small = dev.type == "cpu" and batch * (d * cfg.mlp_hidden + cfg.mlp_hidden * n_out) < _SMALL_STEP_MACS
    with _single_thread(small):
        for epochs in range(1, cfg.mlp_max_epochs + 1):
            order = fit_idx[torch.randperm(n_fit, generator=gen)].to(dev)
            xs, ts = train[order], target[order]  # one gather per epoch, then contiguous batches
            for s in range(0, n_fit, batch):
                xb, tb = xs[s:s + batch], ts[s:s + batch]
                opt.param_groups[0]["weight_decay"] = cfg.mlp_alpha / len(xb)  # the last batch may be smaller
                loss = loss_fn(forward(xb), tb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if x_val is None:
                continue
            score = val_score()
            if score > best:
                best, best_params, stale = score, [p.detach().clone() for p in params], 0
            else:
                stale += 1
                if stale > cfg.mlp_patience:
                    break
    _DIAGNOSTICS["mlp_epochs"] = epochs
    if best_params is not None:
        with torch.no_grad():
            for p, q in zip(params, best_params):
                p.copy_(q)
    with torch.no_grad():
        out = forward(test)
    if classification:
        return (out[:, 0] > 0).long() if n_out == 1 else out.argmax(1)
    return out[:, 0].double() * t_scale + t_mean


_SMALL_STEP_MACS = 1 << 22  # multiply-adds per MLP step below which it trains single-threaded


def _adam(groups, lr: float) -> torch.optim.Adam:
    """Adam with its fused kernel where this torch has one for the device (CPU: torch >= 2.4)."""
    try:
        return torch.optim.Adam(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(groups, lr=lr)
_SMALL_PASS_MACS = 1 << 26  # multiply-adds per logistic product below which L-BFGS runs single-threaded


@contextlib.contextmanager
def _single_thread(active: bool):
    """torch's intra-op threads set to 1 for the duration (restored after) when ``active``."""
    threads = torch.get_num_threads()
    if not active or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _holdout(codes, n: int, fraction: float, gen: torch.Generator):
    """(validation indices, training indices): ``ceil(fraction * n)`` codes held out
    (at least 1, at most n - 1), stratified by class when ``codes`` [n] is given (each
    class's share by largest remainder)."""
    n_val = min(max(math.ceil(fraction * n), 1), n - 1)
    perm = torch.randperm(n, generator=gen)
    if codes is None:
        return perm[:n_val].sort().values, perm[n_val:].sort().values
    codes = codes[perm]
    order = torch.sort(codes, stable=True).indices  # by class, random within a class
    counts = torch.bincount(codes).double()
    share = counts * n_val / n
    take = share.floor().long()
    extra = n_val - int(take.sum())
    if extra > 0:
        rema = share - take
        take[torch.sort(rema, descending=True, stable=True).indices[:extra]] += 1
    starts = torch.cumsum(counts.long(), 0) - counts.long()
    pos = torch.arange(n) - starts[codes[order]]
    is_val = pos < take[codes[order]]
    sel = perm[order]
    return sel[is_val].sort().values, sel[~is_val].sort().values


def _glorot(shapes, gen, device, dtype):
    """Weights and biases, uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot, as
    scikit-learn's MLP), drawn on the CPU from ``gen``: [w1, b1, w2, b2, ...]."""
    weights, biases = [], []
    for fan_in, fan_out in shapes:
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weights.append((torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float32) * 2 - 1) * bound)
        biases.append((torch.rand(fan_out, generator=gen, dtype=torch.float32) * 2 - 1) * bound)
    params = []
    for w, b in zip(weights, biases):
        params += [w.to(device, dtype).requires_grad_(), b.to(device, dtype).requires_grad_()]
    return params
