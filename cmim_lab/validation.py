"""Validation: the valid range of every numeric setting and the checks that enforce it.

One set of limits for every place a value enters the kit: the configs
(:class:`~cmim_lab.config.TrainConfig`, :class:`~cmim_lab.config.EvalConfig`), notebook
profiles, study specifications, the headers of stored checkpoints and the command-line flags
(:meth:`Bounds.parse`). Every check raises ``ValueError`` naming the setting, the bad value
and what is valid. :func:`check_choice` and :func:`check_positive` are defined in
:mod:`cmim_lab.errors` (the bottom of the import order, so every module can reach them) and
gathered here with the others; ``cmim_lab.config`` re-exports the names below for code
written against 0.2.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .errors import check_choice, check_positive  # noqa: F401  (gathered here with the other checks)

# --- the valid range of every numeric setting ------------------------------------------
# Upper bounds are sanity limits: far beyond any run the kit is meant for, low enough that a
# typo (an extra zero, 1e14) is refused before memory is allocated or a run starts.
MAX_LATENT_DIM = 4096
MAX_WIDTH = 65_536  # hidden widths, projection head, probe MLP
MAX_LAYERS = 64  # hidden layers of a model; decoder layers an evaluation may name
MAX_INPUT_DIM = 65_536  # each dimension of one sample (channels, height, width, features, tokens)
MAX_EPOCHS = 100_000
MAX_STEPS = 10_000_000
MAX_BATCH = 2**20
MAX_SAMPLES = 10**9  # n_train, probe_n_train and other sample counts
MAX_SEED = 2**32 - 1  # numpy and scikit-learn seeds are 32-bit
LOGVAR_FLOOR_RANGE = (-20.0, 5.0)


@dataclass(frozen=True)
class Bounds:
    """The valid values of one numeric setting: ``kind`` (``int`` or ``float``) between
    ``low`` and ``high`` (None: unbounded; an end is excluded where ``open_low`` /
    ``open_high``). Floats must be finite; bools are never numbers; numpy scalars are
    accepted and returned as Python numbers.

    >>> Bounds(int, 1, 4096).check("latent_dim", 0)
    Traceback (most recent call last):
    ValueError: latent_dim must be > 0, got 0; valid: an integer from 1 to 4096
    """

    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def describe(self) -> str:
        """What is valid, in words: ``an integer from 1 to 4096``, ``a finite number in (0, 10]``."""
        lo, hi = _num(self.low), _num(self.high)
        if self.kind is int:
            if self.low is not None and self.high is not None:
                return f"an integer from {lo} to {hi}"
            return f"an integer >= {lo}" if self.low is not None else f"an integer <= {hi}"
        if self.low is not None and self.high is not None:
            return f"a finite number in {'(' if self.open_low else '['}{lo}, {hi}{')' if self.open_high else ']'}"
        if self.low is not None:
            return f"a finite number {'>' if self.open_low else '>='} {lo}"
        return "a finite number" if self.high is None else f"a finite number {'<' if self.open_high else '<='} {hi}"

    def check(self, name: str, value):
        """``value`` as a Python int/float if valid; else ``ValueError`` naming ``name``, the
        value and what is valid."""
        valid = f"valid: {self.describe()}"
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.kind is int else numbers.Real):
            kind = "an integer" if self.kind is int else "a number"
            raise ValueError(f"{name} must be {kind}, got {value!r} ({type(value).__name__}); {valid}")
        value = int(value) if self.kind is int else (value if type(value) in (int, float) else float(value))
        if self.kind is float and not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}; {valid}")
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            relation = (
                "> 0" if self.kind is int and self.low == 1 else f"{'>' if self.open_low else '>='} {_num(self.low)}"
            )
            raise ValueError(f"{name} must be {relation}, got {value!r}; {valid}")
        if self.high is not None and (value >= self.high if self.open_high else value > self.high):
            raise ValueError(
                f"{name} must be {'<' if self.open_high else '<='} {_num(self.high)}, got {value!r}; {valid}"
            )
        return value

    def parse(self, text: str):
        """A command-line value: the number in ``text`` if valid, else ``ValueError`` saying
        what is valid (used by :mod:`cmim_lab.cli.flags`; the caller names the flag)."""
        try:
            value = int(text) if self.kind is int else float(text)
        except ValueError:
            raise ValueError(f"expected {self.describe()}, got {text!r}") from None
        return self.check("the value", value)


def _num(x) -> str:
    if x is None:
        return ""
    if float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:g}"


def check_bounds(name: str, value, bounds: Bounds, *, nullable: bool = False):
    """:meth:`Bounds.check`, letting None through when ``nullable``."""
    return None if (nullable and value is None) else bounds.check(name, value)


def check_list(
    name: str, values, bounds: Bounds, *, min_len: int = 1, max_len: int | None = None, distinct: bool = False
) -> tuple:
    """A list/tuple of numbers, each within ``bounds``, as a tuple of Python numbers;
    ``ValueError`` naming ``name`` otherwise (a string or a bare number is not a list; a 1-D
    numpy array, a tensor or a ``range`` is)."""
    if hasattr(values, "tolist") and not isinstance(values, (str, bytes)):
        values = values.tolist()
    elif isinstance(values, range):
        values = list(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise ValueError(f"{name} must be a list of values, each {bounds.describe()}; got {values!r}")
    if len(values) < min_len or (max_len is not None and len(values) > max_len):
        size = f"{min_len} to {max_len}" if max_len is not None else f"at least {min_len}"
        raise ValueError(f"{name} must hold {size} values, got {len(values)}: {list(values)!r}")
    out = tuple(bounds.check(f"each of {name}", v) for v in values)
    if distinct and len(set(out)) != len(out):
        repeated = sorted({v for v in out if out.count(v) > 1})
        raise ValueError(f"{name} must be distinct, got {list(out)} ({', '.join(map(str, repeated))} repeated)")
    return out


def check_names(name: str, values, valid, *, what: str | None = None) -> tuple[str, ...]:
    """A non-empty list of distinct names, each in ``valid``, as a tuple; ``ValueError``
    naming ``name``, the bad value and the valid names otherwise (``what``: the noun of one
    item in the message, default ``name``)."""
    valid = list(valid)
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise ValueError(
            f"{name} must be a list of names (e.g. [{valid[0]!r}]), got {values!r}; valid: {', '.join(map(str, valid))}"
        )
    if not values:
        raise ValueError(f"{name} must name at least one of: {', '.join(map(str, valid))}")
    for v in values:
        if not isinstance(v, str):
            raise ValueError(f"{name} must hold names (strings), got {v!r}; valid: {', '.join(map(str, valid))}")
        check_choice(what or name, v, valid)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must be distinct, got {list(values)}")
    return tuple(values)


def check_seeds(name: str, seeds) -> tuple[int, ...]:
    """A non-empty list of distinct seeds, each an integer from 0 to :data:`MAX_SEED`."""
    return check_list(name, seeds, SEED, distinct=True)


def check_text(name: str, value, *, empty: bool = False) -> str:
    """``value`` if it is a string (non-empty unless ``empty``); ``ValueError`` otherwise."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValueError(f"{name} must be a {'' if empty else 'non-empty '}string, got {value!r}")
    return value


SEED = Bounds(int, 0, MAX_SEED)
WIDTH = Bounds(int, 1, MAX_WIDTH)
EPOCHS = Bounds(int, 1, MAX_EPOCHS)
STEPS = Bounds(int, 1, MAX_STEPS)
BATCH = Bounds(int, 1, MAX_BATCH)
SAMPLES = Bounds(int, 1, MAX_SAMPLES)
LR = Bounds(float, 0.0, 10.0, open_low=True)
WEIGHT = Bounds(float, 0.0, 1e6)
LATENT_DIM = Bounds(int, 1, MAX_LATENT_DIM)
PROJECTION_DIM = Bounds(int, 0, MAX_WIDTH)  # 0: no projection head


def check_hidden_sizes(name: str, values, *, min_len: int = 1) -> tuple[int, ...]:
    """A model's hidden widths: at most :data:`MAX_LAYERS` integers, each from 1 to
    :data:`MAX_WIDTH` (``min_len`` 0 where the architecture ignores them), as a tuple;
    ``ValueError`` naming ``name`` otherwise. Configs and checkpoint headers check the same."""
    return check_list(name, values, WIDTH, min_len=min_len, max_len=MAX_LAYERS)
