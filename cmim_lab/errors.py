"""Errors the kit raises on purpose, each with a message that says what to do next.

Bad parameter values raise the built-in ``ValueError`` (its message lists the valid
values); the classes below cover situations that are not a typo in an argument.
"""

import errno


class DataUnavailableError(RuntimeError):
    """A dataset has no local copy and cannot be downloaded (for example offline)."""


class CheckpointError(RuntimeError):
    """A checkpoint file is corrupt, incomplete, or was written for another config."""


class CacheFolderError(PermissionError):
    """The cache folder belongs to another user or others can write into it."""


class DiskFullError(OSError):
    """A write found no room on its disk; the previous file (if any) is unchanged and no
    partial file is left. ``folder``: where the write went; ``needed``: the bytes it
    needed (None when not known in advance); ``free``: the bytes free there."""

    def __init__(self, message: str, *, folder, needed: int | None, free: int | None):
        super().__init__(message)
        self.errno = errno.ENOSPC
        self.folder, self.needed, self.free = folder, needed, free

    def __str__(self) -> str:  # one line, without OSError's "[Errno 28]" prefix
        return self.args[0]


class SpecialFileError(OSError):
    """A FIFO, device, socket or folder sits where the kit expects a regular file; it is
    never opened (opening a FIFO for reading would wait for a writer forever)."""


class TrainingDivergedError(RuntimeError):
    """A loss term became NaN or infinite; the last good checkpoint (if any) is kept.
    ``epoch`` (from 1), ``term`` and ``step`` (the first optimiser step, from 1, at which
    the term was non-finite; None when unknown)."""

    def __init__(self, message: str, *, epoch: int, term: str, step: int | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.term = term
        self.step = step


# The two checks every layer uses. They are defined here, at the bottom of the import order, and
# gathered with the bounds and the other checks in cmim_lab.validation (one module to read); moving
# them there would put validation under errors and lengthen the deepest import chain past 9.
def check_choice(name: str, value, valid) -> None:
    """Raise ``ValueError`` naming ``name``, the bad ``value`` and the valid choices."""
    valid = list(valid)
    if value not in valid:
        plural = name if name.endswith("s") else f"{name}s"  # "negatives", not "negativess"
        raise ValueError(f"unknown {name} {value!r}; valid {plural} are: {', '.join(map(str, valid))}")


def check_positive(name: str, value, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive (or non-negative) number."""
    kind = "integer" if integer else "number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ValueError(f"{name} must be a {kind}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
