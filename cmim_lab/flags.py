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


def csv(kind: Callable = str) -> Callable[[str], list]:
    """argparse type: a comma-separated list of ``kind`` values (``0,1,2``)."""
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        try:
            return [kind(t) for t in items]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad list {text!r}: {exc}") from exc
    return parse


def optional(kind: Callable) -> Callable[[str], Any]:
    """argparse type: ``kind`` or ``none``/``all`` (None)."""
    def parse(text: str):
        if text.lower() in ("none", "all", ""):
            return None
        try:
            return kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__} or 'none', got {text!r}") from exc
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
              choices: dict | None = None, title: str | None = None) -> None:
    """Add ``--<field>`` for every field of dataclass ``cls`` except ``skip``.

    ``defaults`` replace the dataclass defaults shown and used; ``choices`` ({field: valid
    values}) are listed in the help (the dataclass validates them)."""
    group = parser.add_argument_group(title) if title else parser
    hints = typing.get_type_hints(cls)
    base = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls)}
    base.update(defaults or {})
    for f in dataclasses.fields(cls):
        if f.name in skip or hints[f.name] is dict:
            continue
        element, is_list, nullable = _kind(hints[f.name])
        default = base[f.name]
        parse = csv(element) if is_list else (_bool if element is bool else element)
        if nullable:
            parse = optional(parse)
        text = f"(default {_show(default)})"
        if f.name in NONE_MEANS:
            text = f"none = {NONE_MEANS[f.name]} {text}"
        if choices and f.name in choices:
            text = f"one of {', '.join(map(str, choices[f.name]))}{' (comma-separated)' if is_list else ''} {text}"
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=parse, default=default,
                           metavar=f.name.upper(), help=text)


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
