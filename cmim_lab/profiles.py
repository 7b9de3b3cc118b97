"""Notebook profiles: named sizes that override fields of the config dataclasses.

Every knob a profile sets is a field of exactly one dataclass, which validates it:
:class:`~cmim_lab.config.TrainConfig` (``n_train``, ``epochs``, ``latent_dim`` ...),
:class:`~cmim_lab.config.EvalConfig` (``probe_n_train``), :class:`StudySizes` (the grids
and sample counts of the notebook studies), or a domain plugin's knobs dataclass
(:func:`cmim_lab.registry.register_knobs`). The ``default`` profile is each notebook's own
``parameters`` cell (plain literals, for papermill); ``smoke`` (CI) and ``full`` (a GPU)
replace sizes only -- never which methods or datasets a notebook shows.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from . import data as _data, registry  # noqa: F401  (data registers the image datasets)
from .config import EvalConfig, TrainConfig, expand_entries
from .errors import check_choice, check_positive

PROFILE_ENV = "CMIM_LAB_PROFILE"
PROFILE_NAMES = ("smoke", "default", "full")


@dataclass
class StudySizes:
    """The sizes and grids of the notebook studies (besides TrainConfig and EvalConfig).

    ``n_test``: test subset (None: all); ``seeds``: model seeds; ``n_umap``: codes in a UMAP
    map; ``n_explore``: test images that define the explorer's directions; ``latent_sizes``,
    ``temperatures``, ``weights``: ablation grids; ``batch_sizes`` and ``samples_seen``: the
    batch-size study; ``datasets``, ``methods``, ``reductions``: benchmark grids;
    ``ablation_methods`` (a subset of ``methods``; None: no ablation) and
    ``ablation_probe_n_train``: the -X layer ablation."""
    n_test: int | None = None
    seeds: tuple[int, ...] = (0,)
    n_umap: int = 2000
    n_explore: int = 1000
    latent_sizes: tuple[int, ...] = (16,)
    temperatures: tuple[float, ...] = (0.1,)
    weights: tuple[float, ...] = (1.0,)
    batch_sizes: tuple[int, ...] = (128,)
    samples_seen: int = 30_000
    datasets: tuple[str, ...] = ("mnist-5k",)
    methods: tuple[str, ...] = ("cmim",)
    reductions: tuple[str, ...] = ("sum",)
    ablation_methods: tuple[str, ...] | None = None
    ablation_probe_n_train: int | None = None

    def __post_init__(self):
        for name in ("n_umap", "n_explore", "samples_seen"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("n_test", "ablation_probe_n_train"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name), integer=True)
        for name in ("seeds", "latent_sizes", "batch_sizes", "temperatures", "weights", "datasets", "methods",
                     "reductions"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"{name} must be a non-empty list, got {values!r}")
        for s in self.seeds:
            check_positive("each of seeds", s, integer=True, allow_zero=True)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        for name in ("latent_sizes", "batch_sizes"):
            for v in getattr(self, name):
                check_positive(f"each of {name}", v, integer=True)
        for name in ("temperatures", "weights"):
            for v in getattr(self, name):
                check_positive(f"each of {name}", v)
        for ds in self.datasets:
            registry.dataset(ds, role="classification")
        expand_entries(self.methods, self.reductions)
        expand_entries(self.ablation_methods or ())
        extra = [m for m in self.ablation_methods or () if m not in self.methods]
        if extra:
            raise ValueError(f"ablation_methods {extra} are not among methods {list(self.methods)}; "
                             "the ablation reuses the models trained for methods")


# the sizes each profile replaces (only those a notebook has); "default" is the notebooks' own
PROFILES = {
    "smoke": {"n_train": 600, "n_test": 300, "epochs": 1, "seeds": [0], "n_umap": 300, "probe_n_train": 600,
              "latent_sizes": [2, 8], "temperatures": [0.1, 1.0], "weights": [1.0, 100.0],
              "batch_sizes": [32, 128], "samples_seen": 3_000, "ablation_probe_n_train": 600},
    "default": {},
    "full": {"n_train": None, "n_test": None, "epochs": 30, "seeds": [0, 1, 2], "n_umap": 5000,
             "probe_n_train": None, "samples_seen": 600_000, "batch_sizes": [16, 32, 64, 128, 256, 512, 1024],
             "ablation_probe_n_train": None},
}

def profile_values(profile: str) -> dict:
    """Every knob the profile replaces (core and plugins)."""
    check_choice("profile", profile, PROFILE_NAMES)
    out = dict(PROFILES[profile])
    for cls, profiles in registry.knobs().values():
        out.update(profiles.get(profile, {}))
    return out


def resolve_profile(profile: str) -> tuple[str, bool]:
    """(the profile in force, whether ``$CMIM_LAB_PROFILE`` chose it)."""
    env = os.environ.get(PROFILE_ENV)
    chosen = env or profile
    check_choice("profile", chosen, PROFILE_NAMES)
    return chosen, bool(env) and env != profile


def validate(values: dict) -> None:
    """Validate every knob by the dataclass that owns it; ``ValueError`` names the knob.

    Knobs owned by no dataclass (a notebook's own choices, e.g. ``query``) pass through."""
    registry.load_plugins()
    if "dataset" in values:
        registry.dataset(values["dataset"])
    owners = [TrainConfig, EvalConfig, StudySizes] + [cls for cls, _ in registry.knobs().values()]
    for cls in owners:
        names = {f.name for f in dataclasses.fields(cls)}
        mine = {k: _tuple(v) for k, v in values.items() if k in names}
        if mine:
            cls(**mine)


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v
