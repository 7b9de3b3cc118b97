"""Command-line flags generated from the config dataclasses (nanoGPT's flat config).

Every field of :class:`~cmim_lab.config.TrainConfig` / :class:`~cmim_lab.config.EvalConfig`
becomes ``--field-name``, with the field's default, its choices and what ``none`` means in
the help; :func:`from_args` builds the dataclass back, so the dataclass validates every value
and no default is restated here. A command that starts models from other defaults (a
domain's, say) passes them as ``defaults``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable

# what "none" means for optional fields
NONE_MEANS = {
    "n_train": "all training samples",
    "max_steps": "epochs decide",
    "probe_n_train": "the whole train split",
    "layers": "every decoder layer",
}

# what each config field is, in a few words (the dataclasses' docstrings say more)
MEANING = {
    "method": "objective",
    "dataset": "training data",
    "n_train": "training subset size",
    "data_seed": "seed of the training subset",
    "arch": "encoder/decoder architecture (when not given: the dataset's own default, conv for colour and 64-px "
    "images such as cifar10, colour-digits, pathmnist-64; mlp otherwise)",
    "hidden_sizes": "hidden layer widths",
    "latent_dim": "latent code size",
    "logvar_floor": "lower clamp of the posterior log-variance",
    "likelihood": "decoder likelihood",
    "projection_dim": "InfoNCE projection head width, 0 = no head",
    "reduction": "loss convention: sum (over pixels and latent dims) or normalised (per-pixel mean, "
    "latent terms / latent size)",
    "temperature": "contrastive temperature tau",
    "negatives": "contrastive negatives averaged (mean) or summed",
    "recon_weight": "weight of the reconstruction term",
    "latent_weight": "weight of the latent (prior/posterior) terms",
    "contrastive_weight": "weight of the contrastive term",
    "augment_strength": "InfoNCE augmentation strength",
    "epochs": "training epochs",
    "max_steps": "optimiser steps, overriding epochs",
    "batch_size": "batch size",
    "lr": "Adam learning rate",
    "seed": "model seed",
    "probes": "probes fitted on frozen codes",
    "embeddings": "embeddings probed: mean (mu) and/or informative (-X)",
    "layers": "decoder layers of the informative embedding",
    "probe_n_train": "training codes the probes are fitted on",
    "backend": "probe implementation",
    "knn_k": "neighbours of the kNN probes",
    "knn_chunk": "test rows per distance block",
    "linear_c": "inverse L2 strength of the linear probe",
    "linear_tol": "linear probe tolerance",
    "linear_max_iter": "linear probe iterations",
    "mlp_hidden": "MLP probe hidden units",
    "mlp_lr": "MLP probe learning rate",
    "mlp_alpha": "MLP probe L2 weight",
    "mlp_batch_size": "MLP probe batch size",
    "mlp_val_fraction": "MLP probe early-stopping fraction",
    "mlp_patience": "MLP probe patience (epochs)",
    "mlp_max_epochs": "MLP probe epochs at most",
    "mlp_precision": "MLP probe hidden-layer precision (bfloat16: faster where the hardware has it)",
    "ridge_alphas": "ridge penalties tried (regression)",
    "clustering": "k-means NMI and silhouette on mu",
}


def csv(kind: Callable = str, *, distinct: bool = False, name: str = "values") -> Callable[[str], list]:
    """argparse type: a comma-separated list of ``kind`` values (``0,1,2``); ``distinct``:
    refuse repeated values (the message calls them ``name``)."""

    def parse(text: str):
        items = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not t for t in items):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list without empty items, got {text!r}")
        try:
            values = [kind(t) for t in items]
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise argparse.ArgumentTypeError(f"bad list {text!r}: {exc}") from None
        if distinct and len(set(values)) != len(values):
            repeated = sorted({str(v) for v in values if values.count(v) > 1})
            raise argparse.ArgumentTypeError(f"{name} must be distinct, got {text!r} ({', '.join(repeated)} repeated)")
        return values

    parse.__name__ = f"list of {getattr(kind, '__name__', 'values')}"
    return parse


def bounded(bounds, name: str = "the value") -> Callable[[str], Any]:
    """argparse type: one number within ``bounds`` (a :class:`~cmim_lab.config.Bounds`);
    the message names ``name``, the value and what is valid."""

    def parse(text: str):
        try:
            value = int(text.strip()) if bounds.kind is int else float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {bounds.describe()}, got {text!r}") from None
        try:
            return bounds.check(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "integer" if bounds.kind is int else "number"
    return parse


def bounded_list(bounds, name: str, *, distinct: bool = False) -> Callable[[str], list]:
    """argparse type: a comma-separated list of numbers within ``bounds`` (``distinct``:
    no repeats)."""
    return csv(bounded(bounds, f"each of {name}"), distinct=distinct, name=name)


def seeds(name: str = "seeds") -> Callable[[str], list]:
    """argparse type: distinct seeds, each an integer from 0 to 2**32 - 1 (``0,1,2``)."""
    from ..config import SEED

    return bounded_list(SEED, name, distinct=True)


def names(valid, what: str, *, check: Callable[[str], Any] | None = None) -> Callable[[str], list]:
    """argparse type: distinct comma-separated names, each in ``valid`` (or accepted by
    ``check``, which raises ``ValueError`` with its own message, e.g. for method variants)."""
    from ..errors import check_choice

    def one(text: str) -> str:
        if check is not None:
            check(text)
        else:
            check_choice(what, text, valid)
        return text

    return csv(one, distinct=True, name=f"{what}s")


def choice(valid, what: str) -> Callable[[str], str]:
    """argparse type: one name in ``valid``; the message lists the valid names."""
    from ..errors import check_choice

    def parse(text: str) -> str:
        try:
            check_choice(what, text, valid)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def optional(kind: Callable) -> Callable[[str], Any]:
    """argparse type: ``kind`` or ``none``/``all``/empty (None)."""

    def parse(text: str):
        if text.strip().lower() in ("none", "all", ""):
            return None
        try:
            return kind(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (or 'none')") from None
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__} or 'none', got {text!r}") from None

    parse.__name__ = f"{getattr(kind, '__name__', 'value')} or none"
    return parse


def _kind(hint) -> tuple[Callable, bool, bool]:
    """(element parser, is a list, may be None) of a field's type hint."""
    args = typing.get_args(hint)
    nullable = type(None) in args
    if nullable:
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return typing.get_args(hint)[0], True, nullable
    return hint, False, nullable


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "(empty)"
    return str(value)


def add_flags(
    parser: argparse.ArgumentParser,
    cls,
    *,
    defaults: dict | None = None,
    skip=(),
    choices: dict | None = None,
    loose=("dataset",),
    types: dict | None = None,
    title: str | None = None,
    notes: dict | None = None,
) -> None:
    """Add ``--<field>`` for every field of dataclass ``cls`` except ``skip``.

    ``defaults`` replace the dataclass defaults shown and used; ``choices`` ({field: valid
    values}) are listed in the help and checked while parsing, except for the fields in
    ``loose`` (listed only: the command checks them, e.g. a dataset name against the
    registry). Numbers are checked against ``cls.BOUNDS`` / ``cls.ITEM_BOUNDS`` (see the
    module docstring). Each help reads ``<meaning>: <what is valid>[, or none = <meaning of
    None>][; <note>] (default <value>)``; ``notes`` ({field: text}) add to it."""
    group = parser.add_argument_group(title) if title else parser
    hints = typing.get_type_hints(cls)
    bounds = {**getattr(cls, "BOUNDS", {}), **getattr(cls, "ITEM_BOUNDS", {})}
    base = {
        f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        for f in dataclasses.fields(cls)
    }
    base.update(defaults or {})
    for f in dataclasses.fields(cls):
        if f.name in skip or hints[f.name] is dict:
            continue
        element, is_list, nullable = _kind(hints[f.name])
        default = base[f.name]
        valid = (choices or {}).get(f.name)
        if types and f.name in types:
            element = types[f.name]
        elif f.name in bounds:
            element = bounded(bounds[f.name], f.name if not is_list else f"each of {f.name}")
        elif element is bool:
            element = _bool
        elif valid is not None and f.name not in loose:
            element = choice(valid, f.name.rstrip("s") if is_list else f.name)
        parse = csv(element, distinct=f.name not in bounds or f.name == "layers", name=f.name) if is_list else element
        if nullable:
            parse = optional(parse)
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=parse,
            default=default,
            metavar=f.name.upper(),
            help=_help(
                f.name,
                valid,
                bounds.get(f.name),
                is_list,
                nullable,
                element is _bool,
                (notes or {}).get(f.name),
                default,
            ),
        )


def _help(name: str, valid, bounds, is_list: bool, nullable: bool, is_bool: bool, note: str | None, default) -> str:
    """``<meaning>: <valid values>[, or none = ...][; note] (default ...)`` (see :func:`add_flags`)."""
    if valid is not None:
        what = f"{'any' if is_list else 'one'} of {', '.join(map(str, valid))}"
    elif bounds is not None:
        what = bounds.describe() + (" each" if is_list else "")
    else:
        what = "true or false" if is_bool else "a value"
    what += " (comma-separated)" if is_list else ""
    if nullable:
        what += f", or none = {NONE_MEANS.get(name, 'unset')}"
    meaning = MEANING.get(name)
    text = f"{meaning}: {what}" if meaning else what
    return f"{text}{f'; {note}' if note else ''} (default {_show(default)})"


def device(text: str) -> str:
    """argparse type of ``--device``: a device that exists here (see :mod:`cmim_lab.infra.runtime`)."""
    from ..infra.runtime import resolve_device

    try:
        resolve_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def out_default(name: str) -> str:
    """The default ``--out`` folder of a command: ``runs/<name>`` in the kit's home (the
    checkout, ``$CMIM_LAB_HOME`` or the current directory: :func:`cmim_lab.infra.paths.home_dir`),
    as an absolute path."""
    from ..infra.paths import home_path

    return str(home_path("runs", name))


def out_help(name: str) -> str:
    """Help of a command's ``--out``: its default folder and where relative paths start."""
    from ..infra.paths import HOME_ENV

    return (
        f"output folder (default {out_default(name)}: runs/{name} in the kit's home -- the source checkout, "
        f"${HOME_ENV}, or the current directory after a plain pip install; a relative --out starts from the "
        f"current directory)"
    )


def variants_help() -> str:
    """The spellings of a method or variant, in words (one spelling in every command)."""
    from ..config import METHODS, REDUCTIONS, VARIANTS

    named = ", ".join(
        f"{label} = {' '.join(f'{k}={v}' for k, v in fields.items())}" for label, fields in VARIANTS.items()
    )
    return (
        f"a method ({', '.join(METHODS)}), a method with its reduction (method[{'|'.join(REDUCTIONS)}], "
        f"e.g. cmim[normalised]) or a named variant ({named})"
    )


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def from_args(cls, args: argparse.Namespace, *, skip=(), **fixed):
    """The dataclass ``cls`` from parsed ``args`` (fields in ``skip`` keep their defaults;
    ``fixed`` fields are set directly)."""
    values = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in skip and hasattr(args, f.name)
    }
    return cls(**{**values, **fixed})
