"""Notebook parameters: profiles, validation, and where figures go.

Every notebook has one ``parameters`` cell of plain literals (the *default* profile) and,
right below it, ``P = cmim_lab.notebook.params.setup(profile=profile, ...)``. ``setup``:

1. takes the profile from ``$CMIM_LAB_PROFILE`` when that is set (CI sets ``smoke``) and
   says so in its printout, naming the notebook's own ``profile`` it overrides;
2. for the ``smoke`` and ``full`` profiles, replaces the sizes listed in
   :mod:`cmim_lab.profiles` (the printout marks each replaced value);
3. validates every value through the config dataclass that owns it (unknown dataset or
   method, bad device, numbers of the wrong type, non-finite or out of range, repeated
   seeds fail with a message naming the parameter, the value and what is valid; a
   parameter no dataclass owns must at least be finite);
4. records the profile, so every model this kernel loads or trains is listed in the
   cache's record for it (:mod:`cmim_lab.cache.index`; ``cmim-lab cache export --profile``);
5. decides where static figures go (:func:`figures_folder`), in the kit's home
   (:func:`cmim_lab.infra.paths.home_dir`): ``runs/figures-<profile>/``
   (ignored by git) unless an explicit export is asked for -- ``figures=True``,
   ``$CMIM_LAB_FIGURES=1``, ``make figures`` or ``cmim-lab notebooks --figures`` -- which
   refreshes the committed ``figures/`` (never under ``smoke``: tiny models would
   overwrite them);
6. refuses a papermill parameter the notebook does not declare (``-p epochz 3``: papermill
   only warns and the notebook would run on its defaults): in a kernel, ``setup`` reads the
   cell papermill injected and the ``parameters`` cell just before it from the kernel's
   input history (:func:`check_injected`);
7. in a Jupyter kernel, makes every plotly figure carry a PNG beside its interactive form
   (:func:`cmim_lab.notebook.static_figures.use_static_renderer`), so saved notebooks show their
   figures in nbconvert HTML, nbviewer and GitHub.

To set a size by hand, keep ``profile = "default"``: it changes nothing.
"""

from __future__ import annotations

import ast
import difflib
import os
import sys
from pathlib import Path

from .. import profiles
from ..infra.paths import home_path
from ..infra.runtime import resolve_device

PROFILE_ENV = profiles.PROFILE_ENV
PROFILE_NAMES = profiles.PROFILE_NAMES
FIGURES_ENV = "CMIM_LAB_FIGURES"
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


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
        """Write a static PNG copy of a plotly figure to ``<figures_dir>/<name>.png``
        (``kwargs``: size and scale, see :func:`cmim_lab.notebook.viz.save_figure`); nothing -- and no
        HTML stand-in -- where static export is unavailable."""
        from .viz import save_figure

        return save_figure(fig, self.figures_dir / name, html_fallback=False, **kwargs)


INJECTED_HEADER = "# Parameters"  # the first line of the cell papermill injects (its Python translator)


def _assigned_names(source: str) -> list[str] | None:
    """Names a cell assigns at its top level, in order (None when it is not valid Python)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = []
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AnnAssign, ast.AugAssign))
            else []
        )
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return list(dict.fromkeys(names))


def check_injected(history) -> None:
    """``ValueError`` for a parameter papermill injected that the notebook does not declare.

    ``history``: the kernel's cell sources, oldest first (IPython's input history). The last
    cell whose first line is papermill's ``# Parameters`` is the injected one; the cell run
    just before it is the notebook's ``parameters`` cell (papermill puts its cell right
    below). The message names the unknown parameter, the notebook's parameters and the
    closest one (``epochz`` -> ``epochs``). Nothing happens without an injected cell (a
    notebook run by hand or by nbval) or when either cell is not plain Python."""
    cells = [str(c) for c in history or []]
    at = next(
        (i for i in range(len(cells) - 1, 0, -1) if cells[i].lstrip().split("\n", 1)[0].strip() == INJECTED_HEADER),
        None,
    )
    if at is None:
        return
    injected, declared = _assigned_names(cells[at]), _assigned_names(cells[at - 1])
    if not injected or not declared:
        return
    unknown = [name for name in injected if name not in declared]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        also = f" (also unknown: {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
        raise ValueError(
            f"unknown notebook parameter {name!r}{also}: papermill was given -p {name} ..., but this "
            f"notebook's parameters are {', '.join(declared)}{hint} (papermill only warns, and the "
            f"notebook would run on its defaults)"
        )


def _kernel_history() -> list[str]:
    """The input history of the IPython kernel this runs in (oldest first), or [] outside one."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    manager = getattr(shell, "history_manager", None)
    return list(getattr(manager, "input_hist_raw", None) or [])


def export_requested(figures: bool | None = None) -> bool:
    """Whether this run refreshes the committed ``figures/``: ``figures`` when given (True
    or False), else ``$CMIM_LAB_FIGURES`` (1/true/yes/on; unset, empty or 0/false/no/off:
    no). ``ValueError`` naming the bad value otherwise."""
    if figures is not None:
        if not isinstance(figures, bool):
            raise ValueError(f"figures must be True or False, got {figures!r}")
        return figures
    raw = os.environ.get(FIGURES_ENV, "").strip().lower()
    if raw not in _YES + _NO:
        raise ValueError(
            f"${FIGURES_ENV}={os.environ[FIGURES_ENV]!r}: use 1 to refresh figures/ (an explicit "
            f"export), 0 or unset to write figures under runs/"
        )
    return raw in _YES


def figures_folder(profile: str, export: bool) -> Path:
    """Where a notebook run writes its PNGs: ``figures/`` for an explicit export, else
    ``runs/figures-<profile>/`` (ignored by git, so a run never changes the checkout).
    ``ValueError`` for an export under ``smoke``, whose tiny models would overwrite the
    committed figures."""
    if not export:
        return home_path("runs", f"figures-{profile}")
    if profile == "smoke":
        raise ValueError(
            f"a figures export (figures=True / ${FIGURES_ENV}=1) needs the default or full profile: "
            f"the smoke profile's tiny models would overwrite the committed figures/"
        )
    return home_path("figures")


def setup(profile: str = "default", *, verbose: bool = True, figures: bool | None = None, **params) -> Params:
    """Resolve a notebook's parameters (see the module docstring) and print them.

    ``ValueError`` naming the parameter for a bad value, or for a papermill parameter the
    notebook does not declare (in a kernel, :func:`check_injected`).

    ``figures``: True refreshes the committed ``figures/``, False writes under ``runs/``,
    None (the default) follows ``$CMIM_LAB_FIGURES``."""
    check_injected(_kernel_history())
    asked = profile
    profile, from_env = profiles.resolve_profile(profile)
    export = export_requested(figures)
    changed = {}
    for key, value in profiles.profile_values(profile).items():
        if key in params and params[key] != value:
            changed[key] = params[key]
            params[key] = value
    profiles.validate(params)
    if "device" in params:
        params["device"] = str(resolve_device(params["device"]))
    out = Params(params, profile=profile)
    from ..cache.index import note_entry, record_usage
    from ..trainer import on_entry_used

    record_usage(profile)  # `cmim-lab cache export --profile` packs the models this kernel uses
    on_entry_used(note_entry)
    out["_figures_dir"] = figures_folder(profile, export)
    from .static_figures import use_static_renderer

    use_static_renderer()
    if verbose:
        width = max(map(len, params), default=0)
        print(
            f"profile: {profile}"
            + (f"   (set by ${PROFILE_ENV}), which overrides the notebook's profile = {asked!r}" if from_env else "")
        )
        for key, value in params.items():
            note = f"   (profile {profile}; notebook default {changed[key]!r})" if key in changed else ""
            print(f"  {key:<{width}} = {value!r}{note}")
        how = "an export" if export else f"figures/ only with ${FIGURES_ENV}=1 or make figures"
        print(f"figures: {out.figures_dir}   ({how})")
    return out
