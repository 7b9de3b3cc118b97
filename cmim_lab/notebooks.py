"""Execute the notebook sequence with papermill (``make run`` / ``cmim-lab notebooks``).

Executed copies go to an ignored run folder (``runs/notebooks-<profile>/`` in the
repository, whatever the current directory) and each notebook writes its static figures to
``runs/figures-<profile>/``: a run never changes the checkout. Only an explicit export
(``figures=True``: ``make figures``, ``cmim-lab notebooks --figures``) refreshes the
committed ``figures/``. The kernels learn the profile and the export through
``$CMIM_LAB_PROFILE`` and ``$CMIM_LAB_FIGURES``; both are restored in the calling process
afterwards.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from .errors import check_choice
from .params import FIGURES_ENV, PROFILE_ENV, PROFILE_NAMES, figures_folder
from .paths import repo_path
from .runtime import resolve_device


@contextlib.contextmanager
def environment(**values: str | None):
    """Set (a string) or unset (None) environment variables for the ``with`` block, then
    restore each one as it was, whatever happens inside."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved)


def _set_environment(values: dict) -> None:
    """Set each variable to its string value, unset those whose value is None."""
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def notebook_paths() -> list[Path]:
    """The teaching sequence, in order: ``notebooks/NN_*.ipynb``."""
    return sorted(p for p in repo_path("notebooks").glob("[0-9][0-9]_*.ipynb"))


def _select(paths: list[Path], only) -> list[Path]:
    if not only:
        return paths
    chosen = []
    for key in only:
        key = str(key)
        if key.isdigit():
            hits = [p for p in paths if int(p.stem.split("_", 1)[0]) == int(key)]
        else:
            hits = [p for p in paths if key in p.stem]
        if not hits:
            raise ValueError(f"only: no notebook matches {key!r}; notebooks are: {', '.join(p.stem for p in paths)}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def run_notebooks(profile: str = "default", only=None, out_dir=None, device: str = "auto",
                  figures: bool = False) -> int:
    """Run the notebooks in order; print a line per notebook; return 0 if all succeeded.

    ``figures``: True refreshes the committed ``figures/`` (an explicit export; refused
    under ``smoke``), False writes them under ``runs/``. ``profile``, ``device``, ``only``
    and ``figures`` are checked before the first notebook starts; ``$CMIM_LAB_PROFILE`` /
    ``$CMIM_LAB_FIGURES`` are set for the kernels and restored afterwards."""
    import papermill as pm

    check_choice("profile", profile, PROFILE_NAMES)
    resolve_device(device)
    if not isinstance(figures, bool):
        raise ValueError(f"figures must be True or False, got {figures!r}")
    figures_dir = figures_folder(profile, figures)
    paths = _select(notebook_paths(), only)
    if not paths:
        raise ValueError(f"no notebooks found in {repo_path('notebooks')}")
    out = Path(out_dir) if out_dir else repo_path("runs", f"notebooks-{profile}")
    out.mkdir(parents=True, exist_ok=True)
    print(f"running {len(paths)} notebooks, profile {profile}, executed copies in {out}")
    failed, started = [], time.time()
    # the kernels inherit these; setup() reads them. Restored afterwards in this process.
    env = {PROFILE_ENV: profile, FIGURES_ENV: "1" if figures else "0"}
    with environment(**env):
        for path in paths:
            t0 = time.time()
            try:
                pm.execute_notebook(str(path), str(out / path.name), parameters={"profile": profile, "device": device},
                                    cwd=str(path.parent), progress_bar=False, kernel_name="python3")
                status = "ok"
            except Exception as exc:  # report and continue with the next notebook
                status = f"FAILED ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                failed.append(path.name)
            print(f"  {path.name:<40s} {time.time() - t0:6.1f} s  {status}", flush=True)
    print(f"done in {(time.time() - started) / 60:.1f} min; executed notebooks in {out}")
    print(f"figures {'refreshed' if figures else 'written'} in {figures_dir}")
    if failed:
        print(f"failed: {', '.join(failed)} (open the executed copy to see the error)")
    return 1 if failed else 0
