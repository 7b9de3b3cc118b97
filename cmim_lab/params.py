"""Notebook parameters: profiles, validation, and where figures go.

Every notebook has one ``parameters`` cell of plain literals (the *default* profile) and,
right below it, ``P = cmim_lab.params.setup(profile=profile, ...)``. ``setup``:

1. takes the profile from ``$CMIM_LAB_PROFILE`` when that is set (CI sets ``smoke``);
2. for the ``smoke`` and ``full`` profiles, replaces the size knobs listed in
   :data:`PROFILES` (the printout marks each replaced value);
3. validates every value and fails with a clear message (unknown dataset or method, bad
   device, non-positive sizes);
4. decides where static figures go: ``figures/`` in the repository, except under
   ``smoke``, which writes no PNGs at all (CI must not overwrite the committed figures).

To set a size knob by hand, keep ``profile = "default"``: it changes nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import check_choice, check_positive
from .paths import repo_path

PROFILE_ENV = "CMIM_LAB_PROFILE"
PROFILE_NAMES = ("smoke", "default", "full")

# size knobs each profile replaces (only those a notebook actually has)
PROFILES = {
    "smoke": {"n_train": 600, "n_test": 300, "epochs": 1, "seeds": [0], "n_umap": 300, "probe_n_train": 600,
              "latent_sizes": [2, 8], "temperatures": [0.1, 1.0], "weights": [1.0, 100.0],
              "batch_sizes": [32, 128], "samples_seen": 3_000, "datasets": ["mnist-5k"], "bench_epochs": 1,
              "bench_n_train": 600, "reductions": ["sum"], "methods": ["vae", "cmim", "infonce"],
              "pretrain_size": 600, "mol_epochs": 1, "mol_datasets": ["esol"], "split_seeds": [0],
              "ablation_methods": ["cmim"], "ablation_probe_n_train": 600},
    "default": {},
    "full": {"n_train": None, "n_test": None, "epochs": 30, "seeds": [0, 1, 2], "n_umap": 5000,
             "probe_n_train": 10_000, "samples_seen": 600_000, "batch_sizes": [16, 32, 64, 128, 256, 512, 1024],
             "datasets": ["fashion-mnist", "mnist-5k"], "bench_epochs": 20, "bench_n_train": None,
             "reductions": ["sum", "normalised"], "methods": ["vae", "cvae", "mim", "cmim", "infonce"],
             "pretrain_size": 200_000, "mol_epochs": 20, "mol_datasets": ["esol", "freesolv", "lipophilicity"],
             "split_seeds": [0, 1, 2], "ablation_methods": ["vae", "cvae", "mim", "cmim", "infonce"],
             "ablation_probe_n_train": 10_000},
}

_POSITIVE_INT = {"epochs", "n_umap", "samples_seen", "bench_epochs", "latent_dim", "batch_size", "n_explore",
                 "mol_epochs"}
_OPTIONAL_POSITIVE_INT = {"n_train", "n_test", "probe_n_train", "bench_n_train", "pretrain_size",
                          "ablation_probe_n_train"}


class Params(dict):
    """The resolved parameters; read them as ``P.epochs`` or ``P["epochs"]``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(f"no parameter {name!r}; parameters are {sorted(self)}") from exc

    @property
    def figures_dir(self) -> Path | None:
        return self["_figures_dir"]

    def save(self, fig, name: str, **kwargs) -> list[Path]:
        """Write a static PNG copy of a plotly figure to ``figures/<name>.png`` (not under smoke)."""
        if self.figures_dir is None:
            return []
        from .viz import save_figure

        return save_figure(fig, self.figures_dir / name, **kwargs)


def setup(profile: str = "default", *, verbose: bool = True, **params) -> Params:
    """Resolve a notebook's parameters (see the module docstring) and print them."""
    profile = os.environ.get(PROFILE_ENV) or profile
    check_choice("profile", profile, PROFILE_NAMES)
    changed = {}
    for key, value in PROFILES[profile].items():
        if key in params and params[key] != value:
            changed[key] = params[key]
            params[key] = value
    _validate(params)
    if "device" in params:
        from .trainer import resolve_device

        params["device"] = str(resolve_device(params["device"]))
    out = Params(params, profile=profile)
    no_figures = profile == "smoke" or os.environ.get("CMIM_LAB_NO_FIGURES")
    out["_figures_dir"] = None if no_figures else repo_path("figures")
    if verbose:
        width = max(map(len, params), default=0)
        print(f"profile: {profile}")
        for key, value in params.items():
            note = f"   (profile {profile}; notebook default {changed[key]!r})" if key in changed else ""
            print(f"  {key:<{width}} = {value!r}{note}")
    return out


def _validate(p: dict) -> None:
    from . import data
    from .objectives import METHODS, REDUCTIONS

    if "dataset" in p:
        check_choice("dataset", p["dataset"], data.available())
    for ds in p.get("datasets", []):
        check_choice("dataset", ds, data.available())
    for key in ("method", "methods", "ablation_methods"):
        for m in ([p[key]] if isinstance(p.get(key), str) else p.get(key, [])):
            check_choice("method", m, METHODS)
    extra = [m for m in p.get("ablation_methods", []) if m not in p.get("methods", [])]
    if extra:
        raise ValueError(f"ablation_methods {extra} are not among methods {p.get('methods')}; "
                         "the ablation reuses the models trained for methods")
    for r in p.get("reductions", []):
        check_choice("reduction", r, REDUCTIONS)
    for key in _POSITIVE_INT & set(p):
        check_positive(key, p[key], integer=True)
    for key in _OPTIONAL_POSITIVE_INT & set(p):
        if p[key] is not None:
            check_positive(key, p[key], integer=True)
    for key in ("seeds", "latent_sizes", "batch_sizes", "split_seeds", "mol_datasets"):
        values = p.get(key, [1])
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{key} must be a non-empty list, got {values!r}")
        if key == "mol_datasets":
            continue
        for v in values:
            check_positive(f"each of {key}", v, integer=True, allow_zero=(key in ("seeds", "split_seeds")))
    if "mol_datasets" in p or "pretrain" in p or "split" in p:
        from .molecules.data import CORPORA, PROPERTIES, SPLITS

        for ds in p.get("mol_datasets", []):
            check_choice("molecule dataset", ds, PROPERTIES)
        if "pretrain" in p:
            check_choice("pre-training dataset", p["pretrain"], CORPORA)
        if "split" in p:
            check_choice("split", p["split"], SPLITS)
    for key in ("temperatures",):
        for v in p.get(key, []):
            check_positive(f"each of {key}", v)
