"""The two flat configs (nanoGPT style) that hold every default of the kit once:
:class:`TrainConfig` (what determines a trained model; ``key()`` names its cache entry)
and :class:`EvalConfig` (what determines an evaluation). Command-line flags
(:mod:`cmim_lab.flags`), notebook profiles (:mod:`cmim_lab.profiles`) and study grids
(:mod:`cmim_lab.study`) override their named fields and never restate a default.

Entry labels: one spelling for a method variant everywhere -- ``cmim`` (the method under
the config's reduction), ``cmim[normalised]`` (method and reduction), and the named
variants of :data:`VARIANTS` such as ``infonce[pure]`` (see :func:`variant_fields`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from . import registry
from .errors import check_choice, check_positive
from .nets import build_model
from .objectives import METHODS, NEGATIVES, REDUCTIONS, Objective

# fields that change nothing for a method, reset before hashing so equal models share a cache entry
_UNUSED = {
    "vae": ("temperature", "negatives", "contrastive_weight", "projection_dim", "augment_strength"),
    "mim": ("temperature", "negatives", "contrastive_weight", "projection_dim", "augment_strength"),
    "cvae": ("projection_dim", "augment_strength"),
    "cmim": ("projection_dim", "augment_strength"),
    "infonce": ("negatives", "latent_weight"),
}

# fields added after kit version 0.1.0: left out of the cache key while at their default, so
# adding a field never invalidates the models already cached
_KEY_WHEN_SET: set[str] = set()


@dataclass
class TrainConfig:
    """Everything that determines a trained model (device and progress bars excluded).

    Data: ``dataset`` name, ``n_train`` subset (None: all), ``data_seed`` of the subset.
    Model: ``arch`` (mlp/conv for images, gru for token sequences), ``hidden_sizes`` (MLP
    widths; GRU layer widths), ``latent_dim``, ``logvar_floor``, ``likelihood``
    (bernoulli/gaussian on pixels, categorical on tokens), ``projection_dim`` (InfoNCE
    head, 0 = none).
    Objective: ``method``, ``reduction`` (sum/normalised), ``temperature``, ``negatives``
    (mean/sum), term weights, ``augment_strength`` (InfoNCE).
    Optimisation: ``epochs`` or ``max_steps`` (optimiser steps; overrides epochs when set),
    ``batch_size``, ``lr`` (Adam), ``seed``.
    """
    method: str = "cmim"
    dataset: str = "fashion-mnist"
    n_train: int | None = None
    data_seed: int = 0
    arch: str = "mlp"
    hidden_sizes: tuple[int, ...] = (512, 512)
    latent_dim: int = 16
    logvar_floor: float = -6.0
    likelihood: str = "bernoulli"
    projection_dim: int = 0
    reduction: str = "sum"
    temperature: float = 0.1
    negatives: str = "mean"
    recon_weight: float = 1.0
    latent_weight: float = 1.0
    contrastive_weight: float = 1.0
    augment_strength: float = 1.0
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    extra: dict = field(default_factory=dict)  # free-form tags (e.g. a sweep name); part of the key

    def __post_init__(self):
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` with the valid values for any bad field."""
        check_choice("method", self.method, METHODS)
        arch = registry.arch(self.arch)
        check_choice("reduction", self.reduction, REDUCTIONS)
        check_choice("negatives", self.negatives, NEGATIVES)
        registry.likelihood(self.likelihood)
        if self.likelihood not in arch.likelihoods:
            raise ValueError(f"arch {self.arch!r} takes likelihood {' or '.join(map(repr, arch.likelihoods))}, "
                             f"not {self.likelihood!r}")
        check_positive("epochs", self.epochs, integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("lr", self.lr)
        check_positive("latent_dim", self.latent_dim, integer=True)
        check_positive("projection_dim", self.projection_dim, integer=True, allow_zero=True)
        if self.max_steps is not None:
            check_positive("max_steps", self.max_steps, integer=True)
        if self.n_train is not None:
            check_positive("n_train", self.n_train, integer=True)
        self.objective()  # validates weights and temperature

    def objective(self) -> Objective:
        return Objective(self.method, reduction=self.reduction, temperature=self.temperature,
                         recon_weight=self.recon_weight, latent_weight=self.latent_weight,
                         contrastive_weight=self.contrastive_weight, negatives=self.negatives,
                         likelihood=self.likelihood, augment_strength=self.augment_strength)

    def build_model(self, input_shape, context: dict | None = None):
        """A fresh model (a :class:`~cmim_lab.model.LatentModel`) for samples of
        ``input_shape``; ``context``: the data's model settings (e.g. a token vocabulary)."""
        return build_model(input_shape, arch=self.arch, latent_dim=self.latent_dim,
                           hidden_sizes=self.hidden_sizes, logvar_floor=self.logvar_floor,
                           projection_dim=self.projection_dim if self.method == "infonce" else 0,
                           context=context)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}; valid fields: {sorted(names)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def canonical(self) -> dict:
        """The config with fields the method ignores reset to their defaults."""
        d = self.to_dict()
        default = TrainConfig.__dataclass_fields__
        for name in _UNUSED[self.method]:
            d[name] = default[name].default
        if self.arch == "conv":
            d["hidden_sizes"] = []
        for name in _KEY_WHEN_SET:
            if d[name] == default[name].default:
                del d[name]
        return d

    def key(self, version: str, salt: str = "") -> str:
        """Cache key: readable prefix + hash of the canonical config, the kit version and
        ``salt`` (the provenance of user-supplied data)."""
        blob = json.dumps({"config": self.canonical(), "version": version, "salt": salt}, sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return f"{self.dataset}-{self.method}-{self.reduction}-s{self.seed}-{digest}"

    @property
    def label(self) -> str:
        """Short name used in tables, e.g. ``cmim[sum]``."""
        return f"{self.method}[{self.reduction}]"


# named variants beyond method[reduction]: TrainConfig fields each one sets
VARIANTS = {
    "infonce[recon]": dict(method="infonce", reduction="sum"),
    "infonce[pure]": dict(method="infonce", recon_weight=0.0, projection_dim=128),
}


def variant_fields(label: str) -> dict:
    """The :class:`TrainConfig` fields an entry label sets: ``cmim`` -> {method},
    ``cmim[normalised]`` -> {method, reduction}, ``infonce[pure]`` -> :data:`VARIANTS`.
    ``ValueError`` naming the valid spellings otherwise."""
    label = str(label).strip()
    if label in VARIANTS:
        return dict(VARIANTS[label])
    method, _, rest = label.partition("[")
    valid = (f"valid are a method ({', '.join(METHODS)}), method[reduction] with a reduction in "
             f"({', '.join(REDUCTIONS)}), or one of {', '.join(VARIANTS)}")
    if method not in METHODS or (rest and (not rest.endswith("]") or rest[:-1] not in REDUCTIONS)):
        raise ValueError(f"unknown method or variant {label!r}; {valid}")
    return {"method": method, **({"reduction": rest[:-1]} if rest else {})}


def expand_entries(labels, reductions=None) -> dict[str, dict]:
    """Entry labels -> {label: TrainConfig fields}; a bare method is crossed with every
    reduction in ``reductions`` (None: the label stays bare and uses the base config's)."""
    out = {}
    for label in labels:
        fields = variant_fields(label)
        if reductions and set(fields) == {"method"}:
            for r in reductions:
                check_choice("reduction", r, REDUCTIONS)
                out[f"{label}[{r}]"] = {**fields, "reduction": r}
        else:
            out[label] = fields
    return out


CLASSIFICATION_PROBES = ("knn-euclidean", "knn-cosine", "linear", "mlp")
REGRESSION_PROBES = ("knn-euclidean", "knn-cosine", "ridge", "mlp")
PROBE_BACKENDS = ("torch", "sklearn")
EMBEDDING_KINDS = ("mean", "informative")


@dataclass
class EvalConfig:
    """Everything that determines an evaluation of a frozen model (device excluded).

    Protocol: probes are fitted on the train split's embeddings (``probe_n_train``: a
    stratified subset, None = the whole split) and scored on the whole test split.

    Probes (``probes``; classification: accuracy, regression: RMSE):
    ``knn-euclidean`` / ``knn-cosine`` -- k nearest neighbours (``knn_k``), majority vote
    with ties to the lowest label (regression: mean of the neighbours' targets);
    ``linear`` -- multinomial logistic regression on standardised features, L2 penalty
    1 / (2 ``linear_c``) per weight as in scikit-learn, solved to ``linear_tol`` or
    ``linear_max_iter`` iterations; ``ridge`` (regression) -- standardised features,
    penalty chosen from ``ridge_alphas`` by exact leave-one-out error; ``mlp`` -- one
    hidden layer of ``mlp_hidden`` ReLU units on standardised features, Adam (``mlp_lr``,
    L2 ``mlp_alpha``, batches of ``mlp_batch_size``), early stopping on a held-out
    ``mlp_val_fraction`` of the training codes after ``mlp_patience`` epochs without
    improvement, at most ``mlp_max_epochs`` epochs.

    ``backend``: ``torch`` (the default: on the device of the embeddings, CPU or CUDA) or
    ``sklearn`` (the reference implementation, on the CPU; same definitions, kept for
    checking). ``knn_chunk``: test rows per distance block
    (bounds memory at knn_chunk x n_train floats). ``embeddings`` and ``layers`` choose
    the embeddings (``layers``: decoder layers of the informative one, None = all).
    ``clustering``: add k-means NMI and silhouette on mu. ``seed``: probe subsets, MLP
    initialisation, k-means.
    """
    probes: tuple[str, ...] = CLASSIFICATION_PROBES
    embeddings: tuple[str, ...] = EMBEDDING_KINDS
    layers: tuple[int, ...] | None = None
    probe_n_train: int | None = None
    backend: str = "torch"
    knn_k: int = 5
    knn_chunk: int = 2048
    linear_c: float = 1.0
    linear_tol: float = 1e-4
    linear_max_iter: int = 1000
    mlp_hidden: int = 256
    mlp_lr: float = 1e-3
    mlp_alpha: float = 1e-4
    mlp_batch_size: int = 200
    mlp_val_fraction: float = 0.1
    mlp_patience: int = 10
    mlp_max_epochs: int = 200
    ridge_alphas: tuple[float, ...] = tuple(10.0 ** k for k in range(-3, 4))
    clustering: bool = True
    seed: int = 0

    def __post_init__(self):
        self.probes = tuple(self.probes)
        self.embeddings = tuple(self.embeddings)
        self.ridge_alphas = tuple(float(a) for a in self.ridge_alphas)
        if self.layers is not None:
            self.layers = tuple(int(i) for i in self.layers)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what is valid."""
        for probe in self.probes:
            check_choice("probe", probe, dict.fromkeys(CLASSIFICATION_PROBES + REGRESSION_PROBES))
        for kind in self.embeddings:
            check_choice("embedding kind", kind, EMBEDDING_KINDS)
        check_choice("probe backend", self.backend, PROBE_BACKENDS)
        if self.probe_n_train is not None:
            check_positive("probe_n_train", self.probe_n_train, integer=True)
        for name in ("knn_k", "knn_chunk", "linear_max_iter", "mlp_hidden", "mlp_batch_size", "mlp_patience",
                     "mlp_max_epochs"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("linear_c", "linear_tol", "mlp_lr"):
            check_positive(name, getattr(self, name))
        check_positive("mlp_alpha", self.mlp_alpha, allow_zero=True)
        if not 0 < self.mlp_val_fraction < 1:
            raise ValueError(f"mlp_val_fraction must lie in (0, 1), got {self.mlp_val_fraction!r}")
        if not self.ridge_alphas:
            raise ValueError("ridge_alphas must hold at least one penalty")
        for a in self.ridge_alphas:
            check_positive("each of ridge_alphas", a)
        check_positive("seed", self.seed, integer=True, allow_zero=True)

    def replace(self, **changes) -> "EvalConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
