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
NONE_MEANS = {"n_train": "all training samples", "max_steps": "epochs decide", "probe_n_train": "the whole train split",
              "layers": "every decoder layer"}


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
    from .config import SEED

    return bounded_list(SEED, name, distinct=True)


def names(valid, what: str, *, check: Callable[[str], Any] | None = None) -> Callable[[str], list]:
    """argparse type: distinct comma-separated names, each in ``valid`` (or accepted by
    ``check``, which raises ``ValueError`` with its own message, e.g. for method variants)."""
    from .errors import check_choice

    def one(text: str) -> str:
        if check is not None:
            check(text)
        else:
            check_choice(what, text, valid)
        return text
    return csv(one, distinct=True, name=f"{what}s")


def choice(valid, what: str) -> Callable[[str], str]:
    """argparse type: one name in ``valid``; the message lists the valid names."""
    from .errors import check_choice

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
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "(empty)"
    return str(value)


def add_flags(parser: argparse.ArgumentParser, cls, *, defaults: dict | None = None, skip=(),
              choices: dict | None = None, loose=("dataset",), types: dict | None = None,
              title: str | None = None) -> None:
    """Add ``--<field>`` for every field of dataclass ``cls`` except ``skip``.

    ``defaults`` replace the dataclass defaults shown and used; ``choices`` ({field: valid
    values}) are listed in the help and checked while parsing, except for the fields in
    ``loose`` (listed only: the command checks them, e.g. a dataset name against the
    registry). Numbers are checked against ``cls.BOUNDS`` / ``cls.ITEM_BOUNDS`` (see the
    module docstring)."""
    group = parser.add_argument_group(title) if title else parser
    hints = typing.get_type_hints(cls)
    bounds = {**getattr(cls, "BOUNDS", {}), **getattr(cls, "ITEM_BOUNDS", {})}
    base = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls)}
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
        text = f"(default {_show(default)})"
        if f.name in NONE_MEANS:
            text = f"none = {NONE_MEANS[f.name]} {text}"
        if f.name in bounds:
            text = f"{bounds[f.name].describe()}{' each (comma-separated)' if is_list else ''} {text}"
        if valid is not None:
            text = f"one of {', '.join(map(str, valid))}{' (comma-separated)' if is_list else ''} {text}"
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=parse, default=default,
                           metavar=f.name.upper(), help=text)


def device(text: str) -> str:
    """argparse type of ``--device``: a device that exists here (see :mod:`cmim_lab.runtime`)."""
    from .runtime import resolve_device

    try:
        resolve_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def out_default(name: str) -> str:
    """The default ``--out`` folder of a command: ``runs/<name>`` in the repository, as an
    absolute path (never resolved against the current directory)."""
    from .paths import repo_path

    return str(repo_path("runs", name))


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def from_args(cls, args: argparse.Namespace, *, skip=(), **fixed):
    """The dataclass ``cls`` from parsed ``args`` (fields in ``skip`` keep their defaults;
    ``fixed`` fields are set directly)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if f.name not in skip and hasattr(args, f.name)}
    return cls(**{**values, **fixed})
