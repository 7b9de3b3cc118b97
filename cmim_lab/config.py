"""One flat training config (nanoGPT style): every field is a command-line flag and a
papermill parameter. ``TrainConfig.key()`` names the checkpoint cache entry.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from .errors import check_choice, check_positive
from .nets import ARCHS
from .objectives import LIKELIHOODS, METHODS, NEGATIVES, REDUCTIONS, Objective

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
        check_choice("arch", self.arch, ARCHS)
        check_choice("reduction", self.reduction, REDUCTIONS)
        check_choice("negatives", self.negatives, NEGATIVES)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        if (self.arch == "gru") != (self.likelihood == "categorical"):
            raise ValueError(f"arch {self.arch!r} with likelihood {self.likelihood!r}: token sequences (arch gru) "
                             f"take likelihood 'categorical', pixels (mlp, conv) take bernoulli or gaussian")
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

    def build_model(self, input_shape, vocab=None):
        """A fresh :class:`~cmim_lab.nets.EncoderDecoder` for samples of ``input_shape``
        (arch gru: a sequence model over ``vocab``, the data's vocabulary)."""
        from .nets import build_model

        return build_model(input_shape, arch=self.arch, latent_dim=self.latent_dim,
                           hidden_sizes=self.hidden_sizes, logvar_floor=self.logvar_floor,
                           projection_dim=self.projection_dim if self.method == "infonce" else 0,
                           vocab=vocab)

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
