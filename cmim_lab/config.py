"""The two flat configs (nanoGPT style) that hold every default of the kit once:
:class:`TrainConfig` (what determines a trained model; ``key()`` names its cache entry)
and :class:`EvalConfig` (what determines an evaluation). Command-line flags
(:mod:`cmim_lab.cli.flags`), notebook profiles (:mod:`cmim_lab.profiles`) and study grids
(:mod:`cmim_lab.studies.engine`) override their named fields and never restate a default.

Entry labels: one spelling for a method variant everywhere -- ``cmim`` (the method under
the config's reduction), ``cmim[normalised]`` (method and reduction), and the named
variants of :data:`VARIANTS` such as ``infonce[pure]`` (see :func:`variant_fields`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import ClassVar

from . import methods, registry
from .nets import build_model
from .objectives import METHODS, NEGATIVES, REDUCTIONS, Objective

# the bounds and checks live in cmim_lab.validation; re-exported here for code written against 0.2
from .validation import (  # noqa: F401
    BATCH,
    EPOCHS,
    LATENT_DIM,
    LOGVAR_FLOOR_RANGE,
    LR,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_INPUT_DIM,
    MAX_LATENT_DIM,
    MAX_LAYERS,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_STEPS,
    MAX_WIDTH,
    PROJECTION_DIM,
    SAMPLES,
    SEED,
    STEPS,
    WEIGHT,
    WIDTH,
    Bounds,
    check_bounds,
    check_choice,
    check_hidden_sizes,
    check_list,
    check_names,
    check_seeds,
    check_text,
)

# fields that change nothing for a method (its row's ``unused`` in the table of methods), reset
# before hashing so equal models share a cache entry
_UNUSED = {name: row.unused for name, row in methods.TABLE.items()}

# fields added after kit version 0.1.0: left out of the cache key while at their default, so
# adding a field never invalidates the models already cached
_KEY_WHEN_SET: set[str] = set()


def _without_defaults(d: dict, cls, names) -> dict:
    """``d`` (a config's dict) with each field of ``names`` removed while it holds ``cls``'s
    default: fields added after results were cached stay out of the cache keys until set."""
    fields = cls.__dataclass_fields__
    return {k: v for k, v in d.items() if not (k in names and v == fields[k].default)}


@dataclass
class TrainConfig:
    """Everything that determines a trained model (device and progress bars excluded).

    Data: ``dataset`` name, ``n_train`` subset (None: all), ``data_seed`` of the subset.
    Model: ``arch`` (mlp/conv for images, gru for token sequences), ``hidden_sizes`` (MLP
    widths; GRU layer widths), ``latent_dim``, ``logvar_floor``, ``likelihood``
    (bernoulli/gaussian on intensities in [0, 1]; gaussian-fixed/gaussian-learned on
    real-valued features, see :mod:`cmim_lab.likelihoods`; categorical on tokens),
    ``projection_dim`` (InfoNCE head, 0 = none).
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

    # the valid range of every numeric field (flags show and check the same ranges)
    BOUNDS: ClassVar[dict[str, Bounds]] = {
        "n_train": SAMPLES,
        "data_seed": SEED,
        "latent_dim": LATENT_DIM,
        "logvar_floor": Bounds(float, *LOGVAR_FLOOR_RANGE),
        "projection_dim": PROJECTION_DIM,
        "temperature": Bounds(float, 0.0, 1000.0, open_low=True),
        "recon_weight": WEIGHT,
        "latent_weight": WEIGHT,
        "contrastive_weight": WEIGHT,
        "augment_strength": Bounds(float, 0.0, 10.0),
        "epochs": EPOCHS,
        "max_steps": STEPS,
        "batch_size": BATCH,
        "lr": LR,
        "seed": SEED,
    }
    ITEM_BOUNDS: ClassVar[dict[str, Bounds]] = {"hidden_sizes": WIDTH}
    NULLABLE: ClassVar[tuple[str, ...]] = ("n_train", "max_steps")

    def __post_init__(self):
        # checked and made Python numbers first (numpy scalars would break the JSON cache key)
        for name, bounds in self.BOUNDS.items():
            setattr(self, name, check_bounds(name, getattr(self, name), bounds, nullable=name in self.NULLABLE))
        self.hidden_sizes = check_hidden_sizes("hidden_sizes", self.hidden_sizes, min_len=self._min_hidden_layers())
        self.validate()

    def _min_hidden_layers(self) -> int:
        return 0 if self.arch == "conv" else 1  # the conv arch has fixed widths and ignores hidden_sizes

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the bad value and what is valid: names
        checked against their registries, every number for type, finiteness and range
        (:attr:`BOUNDS`), ``hidden_sizes`` as a list of 1 to 64 widths (may be empty for
        the ``conv`` arch, which ignores it)."""
        for name in ("method", "dataset", "arch", "likelihood", "reduction", "negatives"):
            check_text(name, getattr(self, name))
        check_choice("method", self.method, METHODS)
        arch = registry.arch(self.arch)
        check_choice("reduction", self.reduction, REDUCTIONS)
        check_choice("negatives", self.negatives, NEGATIVES)
        registry.likelihood(self.likelihood)
        if self.likelihood not in arch.likelihoods:
            raise ValueError(
                f"arch {self.arch!r} takes likelihood {' or '.join(map(repr, arch.likelihoods))}, "
                f"not {self.likelihood!r}"
            )
        for name, bounds in self.BOUNDS.items():
            check_bounds(name, getattr(self, name), bounds, nullable=name in self.NULLABLE)
        check_hidden_sizes("hidden_sizes", self.hidden_sizes, min_len=self._min_hidden_layers())
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be a dict of tags, got {self.extra!r}")
        try:
            json.dumps(self.extra, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"extra must hold JSON values (strings, numbers, lists, dicts) with string keys; "
                f"got {self.extra!r} ({exc})"
            ) from None
        if self.method == "infonce" and self.contrastive_weight == 0:
            raise ValueError(
                "contrastive_weight must be > 0 for method infonce, got 0 (infonce without its "
                "NT-Xent term is a plain autoencoder)"
            )
        self.objective()  # the objective's own checks

    def objective(self) -> Objective:
        return Objective(
            self.method,
            reduction=self.reduction,
            temperature=self.temperature,
            recon_weight=self.recon_weight,
            latent_weight=self.latent_weight,
            contrastive_weight=self.contrastive_weight,
            negatives=self.negatives,
            likelihood=self.likelihood,
            augment_strength=self.augment_strength,
        )

    def build_model(self, input_shape, context: dict | None = None):
        """A fresh model (a :class:`~cmim_lab.model.LatentModel`) for samples of
        ``input_shape``; ``context``: the data's model settings (e.g. a token vocabulary)."""
        return build_model(
            input_shape,
            arch=self.arch,
            latent_dim=self.latent_dim,
            hidden_sizes=self.hidden_sizes,
            logvar_floor=self.logvar_floor,
            projection_dim=0 if "projection_dim" in _UNUSED[self.method] else self.projection_dim,
            likelihood=self.likelihood,
            context=context,
        )

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

    @classmethod
    def for_dataset(cls, dataset: str, **fields) -> "TrainConfig":
        """A config for a registered ``dataset`` that starts from the dataset's registered
        defaults (e.g. ``arch="conv"`` for ``cifar10``) and then ``fields``; a name that is
        not registered (your own arrays) starts from the plain defaults."""
        return cls(**{**cls.dataset_defaults(dataset), "dataset": dataset, **fields})

    @staticmethod
    def dataset_defaults(dataset) -> dict:
        """The fields a registered ``dataset`` sets by default (e.g. ``{"arch": "conv"}`` for
        ``cifar10``); ``{}`` for a name that is not registered."""
        spec = registry.datasets().get(dataset) if isinstance(dataset, str) else None
        return dict(getattr(spec, "defaults", None) or {})

    def canonical(self) -> dict:
        """The config with fields the method ignores reset to their defaults."""
        d = self.to_dict()
        default = TrainConfig.__dataclass_fields__
        for name in _UNUSED[self.method]:
            d[name] = default[name].default
        if self.arch == "conv":
            d["hidden_sizes"] = []
        return _without_defaults(d, TrainConfig, _KEY_WHEN_SET)

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
    valid = (
        f"valid are a method ({', '.join(METHODS)}), method[reduction] with a reduction in "
        f"({', '.join(REDUCTIONS)}), or one of {', '.join(VARIANTS)}"
    )
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
MLP_PRECISIONS = ("float32", "bfloat16")
# EvalConfig fields that enter cache keys only when set away from their default (fields
# added later: the results cached before them stay valid)
_EVAL_KEY_WHEN_SET = ("mlp_precision",)
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
    improvement, at most ``mlp_max_epochs`` epochs; ``mlp_precision`` -- ``float32`` (the
    default: the embeddings' own dtype) or ``bfloat16`` (torch backend: the hidden layer's
    products take bfloat16 inputs with float32 accumulation and float32 master weights:
    faster where the hardware multiplies bfloat16 natively, as recent GPUs and some CPUs do;
    a different rounding, so scores differ from float32's; measured speed and scores in
    docs/results.md).

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
    mlp_precision: str = "float32"
    ridge_alphas: tuple[float, ...] = tuple(10.0**k for k in range(-3, 4))
    clustering: bool = True
    seed: int = 0

    # the valid range of every numeric field (flags show and check the same ranges)
    BOUNDS: ClassVar[dict[str, Bounds]] = {
        "probe_n_train": SAMPLES,
        "knn_k": Bounds(int, 1, 10_000),
        "knn_chunk": BATCH,
        "linear_c": Bounds(float, 0.0, 1e12, open_low=True),
        "linear_tol": Bounds(float, 0.0, 1.0, True, True),
        "linear_max_iter": Bounds(int, 1, 10**6),
        "mlp_hidden": WIDTH,
        "mlp_lr": LR,
        "mlp_alpha": WEIGHT,
        "mlp_batch_size": BATCH,
        "mlp_val_fraction": Bounds(float, 0.0, 1.0, True, True),
        "mlp_patience": EPOCHS,
        "mlp_max_epochs": EPOCHS,
        "seed": SEED,
    }
    ITEM_BOUNDS: ClassVar[dict[str, Bounds]] = {
        "ridge_alphas": Bounds(float, 0.0, 1e12, open_low=True),
        "layers": Bounds(int, -MAX_LAYERS, MAX_LAYERS - 1),
    }
    NULLABLE: ClassVar[tuple[str, ...]] = ("probe_n_train", "layers")

    def __post_init__(self):
        self.validate()
        self.probes, self.embeddings = tuple(self.probes), tuple(self.embeddings)
        self.ridge_alphas = tuple(float(a) for a in self.ridge_alphas)
        if self.layers is not None:
            self.layers = check_list("layers", self.layers, self.ITEM_BOUNDS["layers"], distinct=True)
        for name, bounds in self.BOUNDS.items():  # numpy scalars -> Python numbers (JSON cache keys)
            setattr(self, name, check_bounds(name, getattr(self, name), bounds, nullable=name in self.NULLABLE))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what is valid: probe and
        embedding names (non-empty, distinct), every number for type, finiteness and range
        (:attr:`BOUNDS`), ``ridge_alphas`` and ``layers`` element by element."""
        check_names("probes", self.probes, dict.fromkeys(CLASSIFICATION_PROBES + REGRESSION_PROBES), what="probe")
        check_names("embeddings", self.embeddings, EMBEDDING_KINDS, what="embedding kind")
        check_text("backend", self.backend)
        check_choice("probe backend", self.backend, PROBE_BACKENDS)
        check_text("mlp_precision", self.mlp_precision)
        check_choice("mlp_precision", self.mlp_precision, MLP_PRECISIONS)
        if self.mlp_precision != "float32" and self.backend != "torch":
            raise ValueError(
                f"mlp_precision={self.mlp_precision!r} needs backend='torch' (scikit-learn's MLP "
                f"computes in float64 only); got backend={self.backend!r}"
            )
        for name, bounds in self.BOUNDS.items():
            check_bounds(name, getattr(self, name), bounds, nullable=name in self.NULLABLE)
        check_list("ridge_alphas", self.ridge_alphas, self.ITEM_BOUNDS["ridge_alphas"])
        if self.layers is not None:
            check_list("layers", self.layers, self.ITEM_BOUNDS["layers"], distinct=True)
        if not isinstance(self.clustering, bool):
            raise ValueError(f"clustering must be True or False, got {self.clustering!r}")

    def require_probes(self, valid, task: str) -> None:
        """``ValueError`` unless every probe is one of ``valid`` (e.g. the classification
        probes of an image benchmark): checked before any model is trained."""
        bad = [p for p in self.probes if p not in valid]
        if bad:
            raise ValueError(
                f"probes {', '.join(map(repr, bad))} do not apply to {task}; valid probes are: {', '.join(valid)}"
            )

    def replace(self, **changes) -> "EvalConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    def key_dict(self) -> dict:
        """:meth:`to_dict` as cache keys see it: a field added after results were cached
        (``mlp_precision``) appears only when set away from its default."""
        return _without_defaults(self.to_dict(), EvalConfig, _EVAL_KEY_WHEN_SET)
