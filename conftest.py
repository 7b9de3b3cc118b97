"""Session set-up for every pytest run, including ``pytest notebooks`` on its own: a throwaway
cache (nothing touches ~/.cache/cmim_lab), the ``smoke`` profile for the notebooks nbval
executes, and no figures export (their PNGs go under ``runs/``). Set before cmim_lab is
imported anywhere; nbval's kernels inherit this environment.

numba's cache goes to a throwaway folder of its own, never inside the kit's cache: numba
reads its cache index with pickle, and the kit's cache must hold nothing that runs code."""

import os
import tempfile

_SESSION_CACHE = tempfile.mkdtemp(prefix="cmim_lab_test_cache_")
os.environ.setdefault("CMIM_LAB_CACHE", _SESSION_CACHE)
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="cmim_lab_test_numba_"))
os.environ.setdefault("CMIM_LAB_PROFILE", "smoke")
os.environ["CMIM_LAB_FIGURES"] = "0"  # tests never refresh the committed figures/ (an explicit export)
