"""Session set-up for every pytest run, including ``pytest notebooks`` on its own: a throwaway
cache (nothing touches ~/.cache/cmim_lab) and the ``smoke`` profile for the notebooks nbval
executes. Set before cmim_lab is imported anywhere; nbval's kernels inherit this environment."""
import os
import tempfile
from pathlib import Path

_SESSION_CACHE = tempfile.mkdtemp(prefix="cmim_lab_test_cache_")
os.environ.setdefault("CMIM_LAB_CACHE", _SESSION_CACHE)
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(_SESSION_CACHE) / "numba"))
os.environ.setdefault("CMIM_LAB_PROFILE", "smoke")
