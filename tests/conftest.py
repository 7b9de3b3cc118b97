"""Shared fixtures (the session's throwaway cache and smoke profile are set in ../conftest.py)."""

import pytest


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory for one test."""
    monkeypatch.setenv("CMIM_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def digits():
    from cmim_lab import data

    return data.load("digits")
