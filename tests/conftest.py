"""Shared fixtures. Every test session uses a throwaway cache so nothing touches ~/.cache."""
import os
import tempfile
from pathlib import Path

import pytest

# a per-session cache before cmim_lab is imported anywhere; the datasets are cheap to rebuild
_SESSION_CACHE = tempfile.mkdtemp(prefix="cmim_lab_test_cache_")
os.environ.setdefault("CMIM_LAB_CACHE", _SESSION_CACHE)
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(_SESSION_CACHE) / "numba"))
os.environ.setdefault("CMIM_LAB_PROFILE", "smoke")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory for one test."""
    monkeypatch.setenv("CMIM_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def digits():
    from cmim_lab import data

    return data.load("digits")
