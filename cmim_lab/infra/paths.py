"""Where the kit keeps its files: the cache directory, the kit's home (notebooks, figures,
runs) and the source checkout.

Paths are not resolved against the current working directory where that can be avoided,
because papermill, nbval and the CLI all run from different places: the home is
``$CMIM_LAB_HOME`` when set, else the source checkout the package runs from; only after a
plain (non-editable) ``pip install`` without ``$CMIM_LAB_HOME`` is it the current directory.

The cache folder is private: created with owner-only permissions (``0o700``), and refused
when it belongs to another user or others may write into it -- whoever can write there
could plant files the kit reads back.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import CacheFolderError

CACHE_ENV = "CMIM_LAB_CACHE"
HOME_ENV = "CMIM_LAB_HOME"

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # cmim_lab/ (this file is cmim_lab/infra/paths.py)
REPO_DIR = PACKAGE_DIR.parent


def cache_dir() -> Path:
    """The cache root: ``$CMIM_LAB_CACHE`` if set, else ``~/.cache/cmim_lab``.

    Holds ``data/`` (datasets as tensors), ``models/`` (checkpoints keyed by config and
    data) and ``downloads/`` (torchvision's raw files). Created on first use with mode
    ``0o700``; :class:`~cmim_lab.errors.CacheFolderError` if it is not a private folder of
    the current user (see :func:`check_private`).
    """
    root = os.environ.get(CACHE_ENV)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "cmim_lab"
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private(path)
    return path


def check_private(path: Path) -> None:
    """Raise :class:`~cmim_lab.errors.CacheFolderError` unless ``path`` is a folder owned by
    the current user that neither its group nor others can write into (POSIX; a no-op on
    Windows, where folders under the user's profile are private by default)."""
    if not hasattr(os, "getuid"):
        return
    st = path.stat()
    fix = f"or set {CACHE_ENV} to a folder of your own (the kit creates it with mode 700)"
    if not stat.S_ISDIR(st.st_mode):
        raise CacheFolderError(f"cache folder {path} is not a folder; {fix.removeprefix('or ')}")
    if st.st_uid != os.getuid():
        raise CacheFolderError(
            f"cache folder {path} belongs to user id {st.st_uid}, not to you (user id "
            f"{os.getuid()}): files planted there would be loaded. Set {CACHE_ENV} to a folder of "
            f"your own (the kit creates it with mode 700)"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = " and ".join(w for w, bit in (("its group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if st.st_mode & bit)
        raise CacheFolderError(
            f"cache folder {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}): "
            f"files planted there would be loaded. Fix it with `chmod 700 {path}`, {fix}"
        )


def repo_path(*parts: str) -> Path:
    """A path inside the folder that holds the package: the source checkout in a development
    install (tests, ``pyproject.toml``, ``benchmarks/``). The folders users read and write
    (notebooks, figures, runs) are under :func:`home_path`, which also works without a checkout."""
    return REPO_DIR.joinpath(*parts)


def checkout_dir() -> Path | None:
    """The source checkout the package runs from (an editable install, or ``PYTHONPATH``
    pointing into a clone), or None after a plain ``pip install`` (the package then sits in
    site-packages, with no notebooks beside it)."""
    if (REPO_DIR / "pyproject.toml").is_file() and (REPO_DIR / "notebooks").is_dir():
        return REPO_DIR
    return None


def home_dir() -> Path:
    """The kit's home, which holds ``notebooks/``, ``figures/`` and ``runs/``:
    ``$CMIM_LAB_HOME`` if set, else the source checkout (:func:`checkout_dir`), else the
    current directory -- or its parent when the current directory is a ``notebooks/`` folder,
    where Jupyter starts a notebook's kernel (a plain ``pip install``: run Jupyter or
    ``cmim-lab`` from the folder that holds ``notebooks/``, or set ``$CMIM_LAB_HOME`` to it).
    An absolute path."""
    root = os.environ.get(HOME_ENV)
    if root:
        return Path(root).expanduser().resolve()
    if checkout_dir():
        return REPO_DIR
    here = Path.cwd().resolve()
    return here.parent if here.name == "notebooks" else here


def home_path(*parts: str) -> Path:
    """A path under the kit's home (:func:`home_dir`): ``home_path("runs", "benchmark")``."""
    return home_dir().joinpath(*parts)


def home_description() -> str:
    """Where the home is and why, in words (for help texts and messages)."""
    if os.environ.get(HOME_ENV):
        return f"{home_dir()} (${HOME_ENV})"
    if checkout_dir():
        return f"{home_dir()} (the source checkout)"
    return f"{home_dir()} (the current directory: no source checkout and no ${HOME_ENV})"
