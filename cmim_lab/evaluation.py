"""Evaluation: probes on frozen embeddings, generative and clustering metrics.

Protocol: probes are fitted on train-split embeddings (a stratified
subset of ``probe_n_train`` samples, None = all) and scored on the whole test split. Every
setting is a field of :class:`~cmim_lab.config.EvalConfig`; :func:`evaluate` takes one
(plus keyword overrides of its fields).

Probes (:mod:`cmim_lab.probes`, in torch or scikit-learn by ``backend``): ``knn-euclidean``
and ``knn-cosine`` (k nearest neighbours), ``linear`` (logistic regression on standardised
features) and ``mlp`` (one hidden layer, early stopping); scores are accuracies in [0, 1].
Regression probes (``ridge`` instead of ``linear``) report test RMSE and are used by
domains with regression tasks.

Generative metrics on the test split, decoding from mu: ``recon_nll`` (-log p(x|mu), nats
per image, summed over pixels whatever the training reduction), ``mse`` (per pixel, of the
decoder mean), ``mean_sigma`` (posterior std averaged over samples and dimensions),
``frac_logvar_at_floor`` (share of log-variances within 0.01 of the floor),
``active_units`` (dimensions with Var_x[mu_j] > 0.01). Clustering on mu: ``kmeans_nmi``
(k-means with one cluster per class vs labels) and ``silhouette`` (of the class labels,
Euclidean, on up to 5,000 test samples).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import registry
from .config import CLASSIFICATION_PROBES, EvalConfig
from .embeddings import check_input, embed
from .errors import check_choice
from .probes import classification_scores

PROBES = CLASSIFICATION_PROBES
ACTIVE_UNIT_THRESHOLD = 0.01
FLOOR_TOLERANCE = 0.01
SILHOUETTE_MAX = 5000
CONSTANT_RTOL = 1e-5  # a code column varying by less than this share of its magnitude counts as constant
CONSTANT_NOTE = "codes are constant: probes at chance"


def probe_scores(
    train_x, train_y, test_x, test_y, cfg: EvalConfig, *, probes=None, device=None, progress=None
) -> dict[str, float]:
    """Fit each classification probe (``probes``, default ``cfg.probes``) on (train_x [N, D],
    train_y [N]) and return the test accuracy per probe, with the backend ``cfg.backend``
    (see :mod:`cmim_lab.probes`)."""
    return classification_scores(train_x, train_y, test_x, test_y, cfg, probes=probes, device=device, progress=progress)


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


@torch.no_grad()
def generative_metrics(
    model, x: torch.Tensor, likelihood: str = "bernoulli", batch_size: int = 2048, device=None
) -> dict[str, float]:
    """Reconstruction and posterior statistics on ``x`` [N, *input_shape] (see module docstring)."""
    device = device or next(model.parameters()).device
    model.eval()
    nll, sq, mus, logvars = 0.0, 0.0, [], []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        post = model.encode(xb)
        nll += model.recon_nll(post.mu, xb, likelihood).sum().item()
        sq += ((model.reconstruct(xb) - xb) ** 2).sum().item()
        mus.append(post.mu.cpu())
        logvars.append(post.logvar.cpu())
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    n = len(x)
    return {"recon_nll": nll / n, "mse": sq / (n * x[0].numel()), **posterior_stats(mu, logvar, model.logvar_floor)}


def posterior_stats(mu: torch.Tensor, logvar: torch.Tensor, logvar_floor: float) -> dict[str, float]:
    """``mean_sigma``, ``frac_logvar_at_floor``, ``active_units`` and ``latent_dim`` of the
    posteriors ``mu``, ``logvar`` [N, d] (see the module docstring)."""
    return {
        "mean_sigma": float(torch.exp(0.5 * logvar).mean()),
        "frac_logvar_at_floor": float((logvar <= logvar_floor + FLOOR_TOLERANCE).float().mean()),
        "active_units": int((mu.var(dim=0) > ACTIVE_UNIT_THRESHOLD).sum()),
        "latent_dim": int(mu.shape[1]),
    }


def clustering_metrics(z, y, seed: int = 0) -> dict[str, float]:
    """k-means NMI (one cluster per class) and class-label silhouette of codes ``z`` [N, d]."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score

    z, y = _np(z).astype(np.float64), _np(y)
    n_classes = len(np.unique(y))
    clusters = KMeans(n_clusters=n_classes, n_init=4, random_state=seed).fit_predict(z)
    sample = min(len(y), SILHOUETTE_MAX)
    return {
        "kmeans_nmi": float(normalized_mutual_info_score(y, clusters)),
        "silhouette": float(silhouette_score(z, y, sample_size=sample, random_state=seed)),
    }


def codes_constant(z, rtol: float = CONSTANT_RTOL) -> bool:
    """True when the codes ``z`` [N, d] (N >= 2) are constant or nearly so: in every column
    the spread max - min is at most ``rtol`` times the column's largest magnitude (an
    all-zero column counts). Such codes carry no information about the samples, so every
    probe fitted on them scores at chance (the majority class or a tie-break)."""
    z = torch.as_tensor(_np(z)).reshape(len(z), -1).double()
    if len(z) < 2:
        return False
    high, low = z.max(0).values, z.min(0).values
    return bool(((high - low) <= rtol * torch.maximum(high.abs(), low.abs())).all())


@dataclass
class EvalResult:
    """``probes``: {embedding kind: {probe: score}}; ``metrics``: generative + clustering.

    Probe scores are accuracies (higher is better) unless ``info["higher_is_better"]`` is
    False (regression RMSE). :func:`evaluate` sets ``info["constant_codes"]``: True when the
    model's codes mu of the probe training samples are constant (:func:`codes_constant`, a
    collapsed model), and then ``info["note"]`` = :data:`CONSTANT_NOTE`; the scores are
    reported as the probes give them (chance level)."""

    probes: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """Long format: one dict per (embedding, metric) with ``value`` and ``higher_is_better``."""
        better = bool(self.info.get("higher_is_better", True))
        out = [
            {"embedding": kind, "metric": probe, "value": acc, "higher_is_better": better}
            for kind, scores in self.probes.items()
            for probe, acc in scores.items()
        ]
        lower = {"recon_nll", "mse"}
        out += [
            {"embedding": "", "metric": k, "value": v, "higher_is_better": k not in lower}
            for k, v in self.metrics.items()
            if k != "latent_dim"
        ]
        return out

    @property
    def note(self) -> str:
        """``"codes are constant: probes at chance"`` for a collapsed model, else ``""``
        (also for evaluations cached before the check existed)."""
        return str(self.info.get("note", ""))

    def table(self):
        """Probe accuracies as a DataFrame: rows = probes, columns = embedding kinds."""
        import pandas as pd

        return pd.DataFrame(self.probes)


def probe_subset(y: torch.Tensor, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified subset of ``n`` labels (all indices when n is None or >= N)."""
    y = _np(y)
    if n is None or n >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


def check_evaluate_inputs(model, data, cfg: EvalConfig, likelihood: str) -> None:
    """What :func:`evaluate` checks before any computation: classification probes, a
    registered ``likelihood``, labelled train and test splits of matching lengths whose
    samples the model encodes (:func:`~cmim_lab.embeddings.check_input`), and probe
    settings the data can satisfy (``probe_n_train`` at least one sample per class,
    ``knn_k`` at most the probe's training samples). ``ValueError`` naming the field."""
    for probe in cfg.probes:
        check_choice("probe", probe, PROBES)
    if not isinstance(likelihood, str):
        raise ValueError(f"likelihood must be a registered likelihood name, got {likelihood!r}")
    registry.likelihood(likelihood)
    missing = [a for a in ("x_train", "y_train", "x_test", "y_test") if not hasattr(data, a)]
    if missing:
        raise ValueError(
            f"data must be a labelled dataset with x_train, y_train, x_test, y_test (a "
            f"cmim_lab.data.Dataset); {type(data).__name__} has no {', '.join(missing)}"
        )
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                f"data's {split} split must hold samples with one label each, got {len(x)} samples and {len(y)} labels"
            )
        check_input(model, x)
    n_fit = len(data.y_train) if cfg.probe_n_train is None else min(cfg.probe_n_train, len(data.y_train))
    n_classes = len(np.unique(_np(data.y_train)))
    if cfg.probe_n_train is not None and n_fit < len(data.y_train) and n_fit < n_classes:
        raise ValueError(
            f"probe_n_train={cfg.probe_n_train} is smaller than the {n_classes} classes of "
            f"{getattr(data, 'name', 'the data')}: a stratified probe subset needs one sample per class"
        )
    if any(p.startswith("knn") for p in cfg.probes) and cfg.knn_k > n_fit:
        raise ValueError(
            f"knn_k={cfg.knn_k} exceeds the {n_fit} samples the probes are fitted on "
            f"(probe_n_train={cfg.probe_n_train}); use knn_k <= {n_fit}"
        )


def evaluate(
    model,
    data,
    config: EvalConfig | None = None,
    *,
    likelihood: str = "bernoulli",
    device=None,
    progress: Callable[[str], None] | None = None,
    **overrides,
) -> EvalResult:
    """Probes on frozen embeddings plus generative and clustering metrics.

    Args:
        model: a trained model (:class:`~cmim_lab.model.LatentModel`).
        data: a :class:`~cmim_lab.data.Dataset`; probes train on ``probe_n_train`` samples of
            its train split (stratified, None = all) and score on its whole test split.
        config: an :class:`~cmim_lab.config.EvalConfig` (default: its defaults);
            ``overrides`` replace named fields (``evaluate(m, ds, probes=["linear"])``).
        likelihood: the decoder likelihood for the reconstruction NLL (the model's config).
        progress: called with one line per step as it finishes: each probe
            (``mean/linear 0.7912 (2.3 s)``), the generative metrics and the clustering;
            first ``codes are constant: probes at chance ...`` for a collapsed model.

    Codes mu of the probe training samples that are constant (:func:`codes_constant`: a
    collapsed model, e.g. after too large a learning rate) are evaluated all the same; the
    result says so (``info["constant_codes"]``, ``info["note"]``, :attr:`EvalResult.note`).
    """
    if config is not None and not isinstance(config, EvalConfig):
        raise ValueError(f"config must be an EvalConfig or None, got {type(config).__name__}")
    cfg = (config or EvalConfig()).replace(**overrides)
    check_evaluate_inputs(model, data, cfg, likelihood)
    idx = probe_subset(data.y_train, cfg.probe_n_train, cfg.seed)
    x_fit, y_fit = data.x_train[idx], data.y_train[idx]
    result = EvalResult(
        info={"probe_n_train": len(idx), "n_test": len(data.y_test), "dataset": data.name, "backend": cfg.backend}
    )
    say = progress or (lambda line: None)
    fitted = {kind: embed(model, x_fit, kind, layers=cfg.layers, device=device) for kind in cfg.embeddings}
    mu_fit = fitted["mean"] if "mean" in fitted else embed(model, x_fit, "mean", device=device)
    result.info["constant_codes"] = codes_constant(mu_fit)
    if result.info["constant_codes"]:
        result.info["note"] = CONSTANT_NOTE
        say(f"{CONSTANT_NOTE} (mu does not vary over the {len(idx)} probe training samples: a collapsed model)")
    for kind, train_e in fitted.items():
        test_e = embed(model, data.x_test, kind, layers=cfg.layers, device=device)
        result.probes[kind] = probe_scores(
            train_e,
            y_fit,
            test_e,
            data.y_test,
            cfg,
            device=device,
            progress=lambda line, kind=kind: say(f"{kind}/{line}"),
        )
    start = time.perf_counter()
    result.metrics = generative_metrics(model, data.x_test, likelihood, device=device)
    say(f"generative metrics ({time.perf_counter() - start:.1f} s)")
    if cfg.clustering:
        start = time.perf_counter()
        with warnings.catch_warnings():
            if result.info["constant_codes"]:  # k-means finds one distinct point: already said in the note
                warnings.filterwarnings("ignore", message="Number of distinct clusters")
            result.metrics.update(
                clustering_metrics(embed(model, data.x_test, "mean", device=device), data.y_test, cfg.seed)
            )
        say(f"clustering: k-means NMI {result.metrics['kmeans_nmi']:.4f} ({time.perf_counter() - start:.1f} s)")
    return result


def baseline_scores(data, kind: str, config: EvalConfig | None = None, *, n_components: int) -> dict[str, float]:
    """Probe accuracies of a no-learning baseline: ``pixels`` (raw inputs, flattened) or
    ``pca`` (``n_components`` principal components fitted on the probe training subset)."""
    cfg = config or EvalConfig()
    check_choice("baseline", kind, ("pixels", "pca"))
    idx = probe_subset(data.y_train, cfg.probe_n_train, cfg.seed)
    train_x = data.x_train[idx].flatten(1).numpy()
    test_x = data.x_test.flatten(1).numpy()
    if kind == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(n_components, train_x.shape[1]), random_state=cfg.seed).fit(train_x)
        train_x, test_x = pca.transform(train_x), pca.transform(test_x)
    return probe_scores(train_x, data.y_train[idx], test_x, data.y_test, cfg)


def pair_cosines(z, y, n_pairs: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of random pairs of codes ``z`` [N, d]: (same-class, different-class).

    Pairs (i, j), i != j, are drawn uniformly with ``seed``; the two arrays hold the pairs
    whose labels agree and disagree respectively (about n_pairs in total).
    """
    z, y = torch.as_tensor(_np(z)).float(), _np(y)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(y), n_pairs)
    j = rng.integers(0, len(y), n_pairs)
    keep = i != j
    i, j = i[keep], j[keep]
    zn = torch.nn.functional.normalize(z, dim=1)
    cos = (zn[i] * zn[j]).sum(1).numpy()
    same = y[i] == y[j]
    return cos[same], cos[~same]
