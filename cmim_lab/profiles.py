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
import math
import numbers
import os
from dataclasses import dataclass
from typing import ClassVar

from . import data as _data  # noqa: F401  (data registers the image datasets)
from . import registry
from .config import REDUCTIONS, EvalConfig, TrainConfig, expand_entries
from .validation import (
    BATCH,
    LATENT_DIM,
    SAMPLES,
    STEPS,
    Bounds,
    check_bounds,
    check_choice,
    check_list,
    check_names,
    check_seeds,
    check_text,
)

PROFILE_ENV = "CMIM_LAB_PROFILE"
SWITCHES = ("search",)  # notebook parameters that turn a section on or off: True or False only
PROFILE_NAMES = ("smoke", "default", "full")


@dataclass
class StudySizes:
    """The sizes and grids of the notebook studies (besides TrainConfig and EvalConfig).

    ``n_test``: test subset (None: all); ``seeds``: model seeds; ``n_umap``: codes in a UMAP
    map; ``n_explore``: test images that define the explorer's directions; ``latent_sizes``,
    ``temperatures``, ``weights``: ablation grids; ``batch_sizes`` and ``samples_seen``: the
    batch-size study; ``datasets``, ``methods``, ``reductions``: benchmark grids;
    ``ablation_methods`` (a subset of ``methods``; None: no ablation) and
    ``ablation_probe_n_train``: the -X layer ablation; ``curve_steps``: optimiser steps at
    which a budget curve scores its models (besides the end of training); ``search_budgets``:
    the two budgets (steps) of a fair search over both sides' settings."""

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
    curve_steps: tuple[int, ...] = (200,)
    search_budgets: tuple[int, ...] = (200, 800)

    BOUNDS: ClassVar[dict[str, Bounds]] = {
        "n_test": SAMPLES,
        "n_umap": Bounds(int, 1, 10**6),
        "n_explore": Bounds(int, 1, 10**6),
        "samples_seen": SAMPLES,
        "ablation_probe_n_train": SAMPLES,
    }
    ITEM_BOUNDS: ClassVar[dict[str, Bounds]] = {
        "latent_sizes": LATENT_DIM,
        "batch_sizes": BATCH,
        "temperatures": TrainConfig.BOUNDS["temperature"],
        "weights": Bounds(float, 0.0, 1e6, open_low=True),
        "curve_steps": STEPS,
        "search_budgets": STEPS,
    }
    NULLABLE: ClassVar[tuple[str, ...]] = ("n_test", "ablation_probe_n_train")

    def __post_init__(self):
        for name, bounds in self.BOUNDS.items():
            check_bounds(name, getattr(self, name), bounds, nullable=name in self.NULLABLE)
        for name in (
            "seeds",
            "latent_sizes",
            "batch_sizes",
            "temperatures",
            "weights",
            "datasets",
            "methods",
            "reductions",
            "curve_steps",
            "search_budgets",
        ):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"{name} must be a non-empty list, got {values!r}")
        check_seeds("seeds", self.seeds)
        for name, bounds in self.ITEM_BOUNDS.items():
            check_list(name, getattr(self, name), bounds, distinct=name != "weights")
        for ds in self.datasets:
            registry.dataset(check_text("each of datasets", ds), role="classification")
        check_names("reductions", self.reductions, REDUCTIONS, what="reduction")
        for name in ("methods", "ablation_methods"):
            values = getattr(self, name)
            listed = isinstance(values, (list, tuple))
            if values is not None and (not listed or len(set(map(str, values))) != len(values)):
                raise ValueError(f"{name} must be a list of distinct methods or variants, got {values!r}")
        expand_entries(self.methods, self.reductions)
        expand_entries(self.ablation_methods or ())
        extra = [m for m in self.ablation_methods or () if m not in self.methods]
        if extra:
            raise ValueError(
                f"ablation_methods {extra} are not among methods {list(self.methods)}; "
                "the ablation reuses the models trained for methods"
            )


# the sizes each profile replaces (only those a notebook has); "default" is the notebooks' own
PROFILES = {
    "smoke": {
        "n_train": 600,
        "n_test": 300,
        "epochs": 1,
        "seeds": [0, 1],
        "n_umap": 300,
        "n_explore": 300,
        "probe_n_train": 600,
        "latent_sizes": [2, 8],
        "temperatures": [0.1, 1.0],
        "weights": [1.0, 100.0],
        "batch_sizes": [32, 128],
        "samples_seen": 3_000,
        "ablation_probe_n_train": 600,
        "curve_steps": [1, 2],
        "search_budgets": [2, 4],
    },
    "default": {},
    "full": {
        "n_train": None,
        "n_test": None,
        "epochs": 30,
        "seeds": [0, 1, 2],
        "n_umap": 5000,
        "probe_n_train": None,
        "samples_seen": 600_000,
        "batch_sizes": [16, 32, 64, 128, 256, 512, 1024],
        "ablation_probe_n_train": None,
        "curve_steps": [200, 500, 1000, 2000, 5000],
        "search_budgets": [500, 2000],
    },
}


def profile_values(profile: str) -> dict:
    """Every knob the profile replaces (core and plugins); ``ValueError`` if one is not a size
    (see :func:`is_size`): a profile never changes which methods or datasets a notebook shows."""
    check_choice("profile", profile, PROFILE_NAMES)
    out = dict(PROFILES[profile])
    for _cls, profiles in registry.knobs().values():
        out.update(profiles.get(profile, {}))
    names = sorted(k for k, v in out.items() if not is_size(v))
    if names:
        raise ValueError(
            f"profile {profile!r} sets {names} to values that are not sizes (numbers, none, or lists "
            f"of numbers); profiles change sizes only, never which methods or datasets a notebook shows"
        )
    return out


def is_size(value) -> bool:
    """Whether ``value`` is a size a profile may set: a number, None, or a list of numbers
    (sample counts, epochs, seeds, grid values) -- never a name or a list of names."""

    def number(v):
        return v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool))

    if isinstance(value, (list, tuple)):
        return all(number(v) for v in value)
    return number(value)


def resolve_profile(profile: str) -> tuple[str, bool]:
    """(the profile in force, whether ``$CMIM_LAB_PROFILE`` overrode ``profile`` -- set and
    different from it)."""
    env = os.environ.get(PROFILE_ENV)
    chosen = env or profile
    check_choice("profile", chosen, PROFILE_NAMES)
    return chosen, bool(env) and env != profile


def validate(values: dict) -> None:
    """Validate every knob by the dataclass that owns it; ``ValueError`` names the knob.

    Knobs owned by no dataclass (a notebook's own choices, e.g. ``query``) are only checked
    to be finite where they are numbers (a NaN or infinite parameter is never meant)."""
    registry.load_plugins()
    for key in SWITCHES:
        if key in values and not isinstance(values[key], bool):
            raise ValueError(f"parameter {key} must be True or False, got {values[key]!r}")
    for key, value in values.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and not math.isfinite(v):
                raise ValueError(f"parameter {key} must be finite, got {value!r}")
    if "dataset" in values:
        registry.dataset(check_text("dataset", values["dataset"]))
    owners = [TrainConfig, EvalConfig, StudySizes] + [cls for cls, _ in registry.knobs().values()]
    for cls in owners:
        names = {f.name for f in dataclasses.fields(cls)}
        mine = {k: _tuple(v) for k, v in values.items() if k in names}
        if mine:
            cls(**mine)


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v
