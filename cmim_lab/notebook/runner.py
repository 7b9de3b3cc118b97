"""Execute the notebook sequence with papermill (``make run`` / ``cmim-lab notebooks``), and
register the named Jupyter kernel ``cmim-lab`` (``cmim-lab kernel install``).

The notebooks are ``notebooks/NN_*.ipynb`` in the kit's home (:func:`cmim_lab.infra.paths.home_dir`:
the source checkout, ``$CMIM_LAB_HOME``, or the current directory after a plain ``pip
install``). Executed copies go to ``runs/notebooks-<profile>/`` there (ignored by git); each
notebook writes its static figures to ``runs/figures-<profile>/`` there: a run never changes the
checkout. Only an explicit export (``figures=True``: ``make figures``, ``cmim-lab notebooks
--figures``) refreshes the committed ``figures/``.

Output: one line per notebook (name, time, ok/FAILED, models trained and loaded, where the
executed copy went) and a last line with the totals. Each kernel counts the models it
trained and loaded (:mod:`cmim_lab.infra.tally`) into ``<run folder>/<notebook>.models.json``,
which this module reads back. Kernels run on localhost over TCP with their application
log at ERROR (:data:`KERNEL_ARGUMENTS`): ipykernel's one known warning there, that TCP between
two processes of this machine is unencrypted, would otherwise print once per notebook. The
notebooks' own outputs, errors and Python warnings are not affected (they go to the executed
copy). papermill's client waits for each cell through :mod:`cmim_lab.notebook.kernel` (a kernel
manager whose socket polls cannot miss a finished cell's reply), and a cell that runs longer than
``cell_timeout`` seconds (:data:`CELL_TIMEOUTS`: per profile) fails its notebook with a message
instead of holding the run forever.

The kernels learn the profile through ``$CMIM_LAB_PROFILE`` (and ``$CMIM_LAB_HOME``,
``$CMIM_LAB_FIGURES``, ``$CMIM_LAB_TALLY``); each is restored in the calling process
afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from ..config import Bounds
from ..errors import check_choice
from ..infra.paths import HOME_ENV, home_description, home_dir, home_path
from ..infra.runtime import resolve_device
from ..infra.tally import TALLY_ENV
from ..infra.tally import read as read_tally
from .params import FIGURES_ENV, PROFILE_ENV, PROFILE_NAMES, figures_folder

KERNEL_NAME = "cmim-lab"  # the named kernel `cmim-lab kernel install` registers
FALLBACK_KERNEL = "python3"
# the kernels' application log: ERROR hides ipykernel's warning that local TCP is unencrypted
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)
# the longest one cell may run, in seconds, per profile (0: no limit; the full profile is meant for a GPU,
# where its cells take minutes, but may run for hours on a CPU)
CELL_TIMEOUTS = {"smoke": 600, "default": 3600, "full": 0}
CELL_TIMEOUT = Bounds(int, 0, 7 * 24 * 3600)


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
    """The teaching sequence, in order: ``notebooks/NN_*.ipynb`` in the kit's home.

    ``ValueError`` saying what is needed when there are none (a plain ``pip install`` ships
    the library, not the notebooks)."""
    folder = home_path("notebooks")
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise ValueError(
            f"no notebooks (NN_*.ipynb) in {folder}; the kit's home is {home_description()}. "
            f"The notebooks come with the source (git clone the repository and run from it), or set "
            f"{HOME_ENV} to the folder that holds notebooks/"
        )
    return paths


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


# --- the named kernel -------------------------------------------------------------------


def install_kernel(*, user: bool = True, prefix=None, name: str = KERNEL_NAME) -> Path:
    """Register the Jupyter kernel ``name`` (display name "Python (cmim-lab)") that runs this
    Python interpreter, so that any Jupyter -- a system one included -- can pick the
    interpreter the kit is installed in. ``user``: in the user's Jupyter folder (what
    ``ipykernel install --user`` does); else in ``prefix`` (e.g. ``sys.prefix``: only this
    environment's Jupyter sees it). Returns the kernel's folder; an existing kernel of the
    same name is replaced."""
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
        raise ValueError(f"kernel name must be a non-empty word without slashes or spaces, got {name!r}")
    try:
        from ipykernel.kernelspec import install
    except ImportError as exc:
        raise ImportError("registering a kernel needs ipykernel: pip install 'cmim-lab[notebooks]'") from exc
    return Path(
        install(
            kernel_name=name,
            display_name=f"Python ({name})",
            user=user and prefix is None,
            prefix=None if prefix is None else str(prefix),
        )
    )


def kernel_python(name: str) -> str | None:
    """The interpreter the installed kernel ``name`` runs (its ``argv[0]``), or None when no
    kernel of that name is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name).argv[0]
    except NoSuchKernel:
        return None


def runs_this_python(python: str | None) -> bool:
    """Whether ``python`` (a kernel's ``argv[0]``) is this process's interpreter: a bare
    ``python``/``python3``/``python3.X`` (jupyter_client starts those as this interpreter), the
    same path, or a ``python*`` in the same environment's ``bin`` folder. Symlinks are not
    followed (every virtual environment links to the same base interpreter)."""
    if not python:
        return False
    if python in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return True
    here = Path(os.path.abspath(sys.executable))
    there = Path(os.path.abspath(python))
    return there == here or (there.parent == here.parent and there.name.startswith("python"))


def choose_kernel(requested: str | None = None) -> tuple[str, str]:
    """(kernel name, a note for the printout): ``requested`` if given, else ``cmim-lab`` when
    it is installed for this interpreter, else ``python3``."""
    if requested:
        python = kernel_python(requested)
        if python is None:
            raise ValueError(
                f"kernel: no Jupyter kernel named {requested!r} is installed; register this Python as "
                f"one with `cmim-lab kernel install`, or leave --kernel out"
            )
        return requested, _kernel_note(requested, python)
    python = kernel_python(KERNEL_NAME)
    if runs_this_python(python):
        return KERNEL_NAME, _kernel_note(KERNEL_NAME, python)
    hint = (
        "registered for another Python; reinstall it with `cmim-lab kernel install`"
        if python
        else "register one with `cmim-lab kernel install`"
    )
    return (
        FALLBACK_KERNEL,
        f"{_kernel_note(FALLBACK_KERNEL, kernel_python(FALLBACK_KERNEL))}; no named kernel "
        f"{KERNEL_NAME!r} for this Python ({hint})",
    )


def _kernel_note(name: str, python: str | None) -> str:
    shown = sys.executable if python and runs_this_python(python) and os.sep not in python else python
    note = f"kernel {name} ({shown})"
    if python and not runs_this_python(python):
        note += f" -- NOT this Python ({sys.executable}): the notebooks import the cmim_lab installed there"
    return note


# --- running --------------------------------------------------------------------------------


def run_notebooks(
    profile: str = "default",
    only=None,
    out_dir=None,
    device: str = "auto",
    figures: bool = False,
    kernel: str | None = None,
    cell_timeout: int | None = None,
) -> int:
    """Run the notebooks in order; print a line per notebook and the totals; return 0 if all
    succeeded (1 otherwise).

    ``figures``: True refreshes the committed ``figures/`` (an explicit export; refused under
    ``smoke``), False writes them under ``runs/figures-<profile>/``. ``profile``, ``device``,
    ``only``, ``figures``, ``kernel`` and ``cell_timeout`` are checked before the first notebook
    starts; ``cell_timeout``: seconds one cell may run before its notebook fails (0: no limit;
    None: the profile's, :data:`CELL_TIMEOUTS`); ``kernel`` defaults to :func:`choose_kernel`'s
    choice. ``$CMIM_LAB_PROFILE`` / ``$CMIM_LAB_FIGURES`` / ``$CMIM_LAB_TALLY`` are set for the
    kernels and restored afterwards."""
    try:
        import papermill as pm
    except ImportError as exc:
        raise ImportError(
            "running the notebooks needs papermill and Jupyter: pip install 'cmim-lab[notebooks]'"
        ) from exc
    check_choice("profile", profile, PROFILE_NAMES)
    resolve_device(device)
    if cell_timeout is None:
        cell_timeout = CELL_TIMEOUTS[profile]
    cell_timeout = CELL_TIMEOUT.check("cell_timeout", cell_timeout)
    if not isinstance(figures, bool):
        raise ValueError(f"figures must be True or False, got {figures!r}")
    figures_dir = figures_folder(profile, figures)
    paths = _select(notebook_paths(), only)
    kernel, kernel_note = choose_kernel(kernel)
    out = Path(out_dir) if out_dir else home_path("runs", f"notebooks-{profile}")
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"running {len(paths)} notebook{'s' * (len(paths) != 1)}: profile {profile}, {kernel_note}; figures "
        f"{'refreshed in' if figures else 'go to'} {_shown(figures_dir)}",
        flush=True,
    )
    width = max(len(p.stem) for p in paths)
    results, started = [], time.time()
    # the kernels inherit these (setup(), the tally and the kernels' home read them; a kernel runs in
    # notebooks/, which is no home of its own). Restored afterwards in this process.
    env = {PROFILE_ENV: profile, HOME_ENV: str(home_dir()), FIGURES_ENV: "1" if figures else "0"}
    with environment(**env):
        for path in paths:
            target, tally_file = out / path.name, out / f"{path.stem}.models.json"
            tally_file.unlink(missing_ok=True)
            t0 = time.time()
            with environment(**{TALLY_ENV: str(tally_file)}):
                error = _execute(pm, path, target, profile, device, kernel, cell_timeout)
            models = read_tally(tally_file)
            results.append((error, models))
            status = "ok" if error is None else "FAILED"
            print(
                f"  {path.stem:<{width}}  {time.time() - t0:7.1f} s  {status:<6}  {models['trained']:3d} trained, "
                f"{models['loaded']:3d} loaded  -> {_shown(target)}" + (f"  ({error})" if error else ""),
                flush=True,
            )
    print(_totals(results, time.time() - started))
    return 1 if any(error for error, _ in results) else 0


def _execute(pm, path: Path, target: Path, profile: str, device: str, kernel: str, cell_timeout: int) -> str | None:
    """Run one notebook; None on success, else the error in one line (the executed copy
    shows the failing cell)."""
    from .kernel import SlicedKernelManager

    try:
        pm.execute_notebook(
            str(path),
            str(target),
            parameters={"profile": profile, "device": device},
            cwd=str(path.parent),
            progress_bar=False,
            kernel_name=kernel,
            extra_arguments=list(KERNEL_ARGUMENTS),
            execution_timeout=cell_timeout or None,
            kernel_manager_class=SlicedKernelManager,
        )
        return None
    except Exception as exc:  # report and continue with the next notebook
        name, value = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
        return f"{name}: {str(value).splitlines()[0] if str(value) else ''}".rstrip(": ")


def _totals(results: list, seconds: float) -> str:
    """The last line: notebooks ok / failed, total time, models trained and loaded."""
    failed = sum(error is not None for error, _ in results)
    trained = sum(m["trained"] for _, m in results)
    loaded = sum(m["loaded"] for _, m in results)
    return (
        f"done: {len(results)} notebook{'s' * (len(results) != 1)} in {seconds / 60:.1f} min, "
        f"{len(results) - failed} ok, {failed} FAILED; models: {trained} trained, {loaded} loaded from the cache"
    )


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it, else absolute."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
