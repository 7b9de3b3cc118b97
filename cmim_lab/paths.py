"""Where the kit keeps its files: the cache directory and the repository folders.

Paths are never resolved against the current working directory, because papermill,
nbval and the CLI all run from different places.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CMIM_LAB_CACHE"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def cache_dir() -> Path:
    """The cache root: ``$CMIM_LAB_CACHE`` if set, else ``~/.cache/cmim_lab``.

    Holds ``data/`` (datasets as tensors), ``models/`` (checkpoints keyed by config)
    and ``downloads/`` (torchvision's raw files). Created on first use.
    """
    root = os.environ.get(CACHE_ENV)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "cmim_lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_path(*parts: str) -> Path:
    """A path inside the source checkout (``notebooks/``, ``figures/``, ``runs/``)."""
    return REPO_DIR.joinpath(*parts)
