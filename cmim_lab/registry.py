"""Names the kit looks up: datasets, architectures, likelihoods and command-line commands.

The core never names a domain. Each entry registers itself where it is defined -- the image
datasets in :mod:`cmim_lab.data.sources`, the ``mlp`` and ``conv`` architectures in
:mod:`cmim_lab.nets`, the ``bernoulli`` and ``gaussian`` likelihoods in
:mod:`cmim_lab.objectives` -- and a domain package (for example ``cmim_lab.molecules``)
registers its corpora, model and likelihood from a *plugin*: a ``register()`` function
named in the entry-point group ``cmim_lab.plugins`` (see ``pyproject.toml``), or in
``$CMIM_LAB_PLUGINS`` (comma-separated ``module:function``). Plugins are loaded on the
first lookup, so importing the registry stays cheap. Every callable may be registered as a
``"module:function"`` string, imported on first use, so a plugin imports nothing heavy.

The registry imports nothing from the kit (its messages follow :func:`cmim_lab.errors.check_choice`).

>>> from cmim_lab import registry
>>> sorted(registry.datasets(role="classification"))      # image datasets, and more
>>> registry.dataset("digits").load(n_train=None, seed=0)
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

PLUGIN_GROUP = "cmim_lab.plugins"
PLUGIN_ENV = "CMIM_LAB_PLUGINS"
ROLES = ("classification", "corpus", "regression")


def resolve(target):
    """A callable, or ``"package.module:function"`` imported now."""
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


def _check(kind: str, name: str, table: dict) -> None:
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s are: {', '.join(map(str, table))}")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset by name.

    ``load(n_train=None, seed=0, **kwargs)`` returns the dataset object (``loader``: the
    callable or its ``"module:function"``); ``role`` says what
    it is for: ``classification`` (labelled train/test splits, the image benchmark),
    ``corpus`` (unlabelled pre-training data) or ``regression`` (property tasks probed on
    a pre-trained model). ``defaults`` are the :class:`~cmim_lab.config.TrainConfig`
    fields a model for this dataset starts from (e.g. its architecture). ``locator(name)``
    (optional, a callable or its ``"module:function"``) says where the data is found
    without a download, see :meth:`locate`.
    """

    name: str
    loader: Callable[..., Any] | str
    description: str
    domain: str = "images"
    role: str = "classification"
    defaults: dict = field(default_factory=dict)
    locator: Callable[[str], Any] | str | None = None

    def load(self, **kwargs):
        """Load the dataset (keyword arguments of its loader: ``n_train``, ``seed`` ...)."""
        return resolve(self.loader)(**kwargs)

    def locate(self) -> str | None:
        """Where the data is read from without a download (a path, as text), or None when it
        needs a download on first use (or when the dataset registered no locator). Raises
        :class:`~cmim_lab.errors.DataUnavailableError` naming the install command when it is
        neither installed nor downloadable. Reads no data."""
        return None if self.locator is None else resolve(self.locator)(self.name)


@dataclass(frozen=True)
class ArchSpec:
    """An architecture by name: ``build(input_shape, *, latent_dim, hidden_sizes,
    logvar_floor, projection_dim, context)`` returns a model implementing
    :class:`~cmim_lab.model.LatentModel`; ``likelihoods`` are the decoders it supports
    (the first is its default); ``context`` holds data-specific settings the model needs
    (e.g. a token vocabulary), stored in checkpoints as JSON."""

    name: str
    builder: Callable[..., Any] | str
    description: str
    likelihoods: tuple[str, ...]
    domain: str = "images"

    def build(self, input_shape, **kwargs):
        """A fresh model for samples of ``input_shape`` (see the class docstring)."""
        return resolve(self.builder)(input_shape, **kwargs)


@dataclass(frozen=True)
class LikelihoodSpec:
    """A decoder likelihood by name: ``nll(logits, x)`` -> [B] nats per sample, or None
    when the model computes its own reconstruction term (``model.recon_nll``)."""

    name: str
    nll_fn: Callable[..., Any] | str | None
    description: str
    domain: str = "images"

    @property
    def nll(self) -> Callable[..., Any] | None:
        """``nll(logits, x)`` -> [B] (nats), or None when the model computes the term."""
        return None if self.nll_fn is None else resolve(self.nll_fn)


@dataclass(frozen=True)
class CommandSpec:
    """A ``cmim-lab`` sub-command contributed by a plugin: ``add_arguments(parser)`` fills
    its argparse parser, ``run(args)`` executes it and returns the exit status."""

    name: str
    help: str
    arguments_fn: Callable[[Any], None] | str
    run_fn: Callable[[Any], int] | str
    description: str = ""
    epilog: str = ""

    def add_arguments(self, parser) -> None:
        """Fill the command's argparse parser."""
        resolve(self.arguments_fn)(parser)

    def run(self, args) -> int:
        """Execute the command; returns the exit status."""
        return resolve(self.run_fn)(args)


_DATASETS: dict[str, DatasetSpec] = {}
_ARCHS: dict[str, ArchSpec] = {}
_LIKELIHOODS: dict[str, LikelihoodSpec] = {}
_COMMANDS: dict[str, CommandSpec] = {}
_KNOBS: dict[str, tuple[type, dict]] = {}
_plugins_loaded = False


def _put(table: dict, spec, kind: str) -> None:
    old = table.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"{kind} {spec.name!r} is registered twice ({old.domain} and {spec.domain})")
    table[spec.name] = spec


def register_dataset(
    name: str,
    load: Callable | str,
    description: str,
    *,
    domain: str = "images",
    role: str = "classification",
    defaults: dict | None = None,
    locate: Callable | str | None = None,
) -> None:
    """Make ``name`` loadable by :func:`dataset` (see :class:`DatasetSpec`)."""
    _check("dataset role", role, dict.fromkeys(ROLES))
    _put(_DATASETS, DatasetSpec(name, load, description, domain, role, dict(defaults or {}), locate), "dataset")


def register_arch(name: str, build: Callable | str, description: str, *, likelihoods, domain: str = "images") -> None:
    """Make ``name`` buildable by :func:`arch` (see :class:`ArchSpec`)."""
    _put(_ARCHS, ArchSpec(name, build, description, tuple(likelihoods), domain), "architecture")


def register_likelihood(name: str, nll: Callable | str | None, description: str, *, domain: str = "images") -> None:
    """Make ``name`` a valid ``likelihood`` (see :class:`LikelihoodSpec`)."""
    _put(_LIKELIHOODS, LikelihoodSpec(name, nll, description, domain), "likelihood")


def register_command(
    name: str, help: str, add_arguments: Callable | str, run: Callable | str, *, description: str = "", epilog: str = ""
) -> None:
    """Add a ``cmim-lab <name>`` sub-command (see :class:`CommandSpec`)."""
    _put(_COMMANDS, CommandSpec(name, help, add_arguments, run, description, epilog), "command")


def register_knobs(domain: str, cls: type, profiles: dict) -> None:
    """A domain's notebook sizes: dataclass ``cls`` validates them, ``profiles``
    ({profile: {knob: value}}) are what the smoke and full profiles replace
    (see :mod:`cmim_lab.profiles`)."""
    _KNOBS[domain] = (cls, {name: dict(values) for name, values in profiles.items()})


def knobs() -> dict[str, tuple[type, dict]]:
    """Every domain's notebook sizes: {domain: (dataclass, {profile: {knob: value}})}."""
    load_plugins()
    return dict(_KNOBS)


def load_plugins() -> None:
    """Run every plugin's ``register()`` once (entry points, then ``$CMIM_LAB_PLUGINS``).

    A plugin that fails to load is reported with a warning and skipped: the core keeps
    working without that domain."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    targets = []
    try:
        from importlib.metadata import entry_points

        targets += [(ep.name, ep.value) for ep in entry_points(group=PLUGIN_GROUP)]
    except Exception:  # broken package metadata must not break the core
        pass
    targets += [(t.strip(), t.strip()) for t in os.environ.get(PLUGIN_ENV, "").split(",") if t.strip()]
    for name, target in dict.fromkeys(targets):
        module, _, func = target.partition(":")
        try:
            getattr(importlib.import_module(module), func or "register")()
        except Exception as exc:
            warnings.warn(
                f"cmim_lab plugin {name!r} ({target}) failed to load and is skipped: {type(exc).__name__}: {exc}",
                stacklevel=2,
            )


def _filtered(table: dict, **where) -> dict:
    load_plugins()
    return {k: v for k, v in table.items() if all(v_ is None or getattr(v, a) == v_ for a, v_ in where.items())}


def datasets(*, domain: str | None = None, role: str | None = None) -> dict[str, DatasetSpec]:
    """Registered datasets (optionally of one domain or role), by name."""
    return _filtered(_DATASETS, domain=domain, role=role)


def archs(*, domain: str | None = None) -> dict[str, ArchSpec]:
    """Registered architectures, by name."""
    return _filtered(_ARCHS, domain=domain)


def likelihoods(*, domain: str | None = None) -> dict[str, LikelihoodSpec]:
    """Registered likelihoods, by name."""
    return _filtered(_LIKELIHOODS, domain=domain)


def commands() -> dict[str, CommandSpec]:
    """Plugin sub-commands of ``cmim-lab``, by name."""
    return _filtered(_COMMANDS)


def dataset(name: str, *, role: str | None = None) -> DatasetSpec:
    """The dataset ``name``; ``ValueError`` listing the valid names if unknown (or of
    another ``role`` than asked for, naming the command of its domain when there is one)."""
    table = datasets(role=role)
    if name not in table and name in _DATASETS:
        spec = _DATASETS[name]
        command = f" (use: cmim-lab {spec.domain} --datasets {name})" if spec.domain in _COMMANDS else ""
        raise ValueError(
            f"dataset {name!r} is a {spec.domain} {spec.role} dataset, not a {role} one{command}; "
            f"valid datasets here are: {', '.join(table)}"
        )
    _check("dataset", name, table)
    return table[name]


def arch(name: str) -> ArchSpec:
    """The architecture ``name``; ``ValueError`` listing the valid names if unknown."""
    table = archs()
    _check("arch", name, table)
    return table[name]


def likelihood(name: str) -> LikelihoodSpec:
    """The likelihood ``name``; ``ValueError`` listing the valid names if unknown."""
    table = likelihoods()
    _check("likelihood", name, table)
    return table[name]
