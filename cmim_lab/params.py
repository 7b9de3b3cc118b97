"""Notebook parameters: profiles, validation, and where figures go.

Every notebook has one ``parameters`` cell of plain literals (the *default* profile) and,
right below it, ``P = cmim_lab.params.setup(profile=profile, ...)``. ``setup``:

1. takes the profile from ``$CMIM_LAB_PROFILE`` when that is set (CI sets ``smoke``) and
   says so in its printout, naming the notebook's own ``profile`` it overrides;
2. for the ``smoke`` and ``full`` profiles, replaces the sizes listed in
   :mod:`cmim_lab.profiles` (the printout marks each replaced value);
3. validates every value through the config dataclass that owns it (unknown dataset or
   method, bad device, numbers of the wrong type, non-finite or out of range, repeated
   seeds fail with a message naming the parameter, the value and what is valid; a
   parameter no dataclass owns must at least be finite);
4. decides where static figures go: ``figures/`` in the kit's home
   (:func:`cmim_lab.paths.home_dir`: the checkout, or ``$CMIM_LAB_HOME``, or the current
   directory after a plain ``pip install``), except under ``smoke``, which writes no PNGs at
   all (CI must not overwrite the committed figures).

To set a size by hand, keep ``profile = "default"``: it changes nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import profiles
from .paths import home_path
from .runtime import resolve_device

PROFILE_ENV = profiles.PROFILE_ENV
PROFILE_NAMES = profiles.PROFILE_NAMES
NO_FIGURES_ENV = "CMIM_LAB_NO_FIGURES"


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
    asked = profile
    profile, from_env = profiles.resolve_profile(profile)
    changed = {}
    for key, value in profiles.profile_values(profile).items():
        if key in params and params[key] != value:
            changed[key] = params[key]
            params[key] = value
    profiles.validate(params)
    if "device" in params:
        params["device"] = str(resolve_device(params["device"]))
    out = Params(params, profile=profile)
    no_figures = profile == "smoke" or os.environ.get(NO_FIGURES_ENV)
    out["_figures_dir"] = None if no_figures else home_path("figures")
    if verbose:
        width = max(map(len, params), default=0)
        print(f"profile: {profile}" + (f"   (set by ${PROFILE_ENV}), which overrides the notebook's "
                                       f"profile = {asked!r}" if from_env else ""))
        for key, value in params.items():
            note = f"   (profile {profile}; notebook default {changed[key]!r})" if key in changed else ""
            print(f"  {key:<{width}} = {value!r}{note}")
    return out
