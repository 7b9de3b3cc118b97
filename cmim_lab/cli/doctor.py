"""``cmim-lab doctor``: what this machine offers the kit, one line per check.

Checks: the kit and Python; torch and its accelerators (CUDA device names, Apple MPS); the
browser kaleido needs for static plotly figures (PNG files); where each registered dataset
is found without a download; the cache folder and its size; the Jupyter kernels. Each line
reads ``ok`` or ``missing`` and says how to get what is missing. Only a missing torch or an
unusable cache folder stop the kit from working at all (:func:`exit_status` is then 1).

The command's contract (:data:`HELP`, :data:`EXAMPLES`, :func:`add_arguments`, :func:`run`) is
that of every module named in :data:`cmim_lab.cli.COMMANDS`.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

from .. import __version__

HELP = "check torch/CUDA, the browser for PNG figures, data, cache, Jupyter kernel"
DESCRIPTION = (
    "One line per check (ok/missing) and how to get what is missing; exit status 1 only when the kit "
    "cannot work (no torch, unusable cache folder)."
)
EXAMPLES = ["cmim-lab doctor"]
BROWSER_HINT = (
    "static figures (PNG) need Chrome or Chromium: on Debian/Ubuntu `sudo apt install chromium`; "
    "online, `plotly_get_chrome` (or `kaleido_get_chrome`) downloads one for kaleido; figures stay "
    "interactive without it"
)


@dataclass
class Check:
    """One line of the report: ``name``, ``ok`` (found) or not, ``detail`` (what was found,
    or how to get it), and ``fatal`` (the kit cannot work without it)."""

    name: str
    ok: bool
    detail: str
    fatal: bool = False

    def line(self, width: int = 15) -> str:
        """``ok      torch  2.14.1 ...`` / ``missing browser  ...``, the name padded to ``width``."""
        return f"{'ok' if self.ok else 'missing':<8}{self.name:<{width}} {self.detail}"


def check_python() -> list[Check]:
    """The kit's version and the Python running it."""
    return [Check("cmim-lab", True, f"{__version__} on Python {platform.python_version()} ({sys.executable})")]


def check_torch() -> list[Check]:
    """torch's version, then one line on the accelerators: CUDA (every device's name) or MPS."""
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", False, f"not importable ({exc}): pip install torch", fatal=True)]
    checks = [Check("torch", True, f"{torch.__version__}")]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        checks.append(Check("gpu", True, f"CUDA {torch.version.cuda}: {len(names)} device(s): {', '.join(names)}"))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        checks.append(Check("gpu", True, "Apple MPS"))
    else:
        build = f"torch built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only torch build"
        checks.append(
            Check(
                "gpu",
                False,
                f"no CUDA or MPS device ({build}): training runs on the CPU, fine for the smoke and default profiles",
            )
        )
    return checks


def find_browser() -> str | None:
    """The Chrome/Chromium kaleido would use: looked up by choreographer (kaleido's browser
    driver: ``$BROWSER_PATH``, its own downloaded copy, then the usual names on ``PATH`` and
    install folders), else the usual names on ``PATH``; None when there is none."""
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False)
    except ImportError:
        import shutil

        names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
        return next((p for p in map(shutil.which, names) if p), None)


def check_browser() -> list[Check]:
    """kaleido and the browser it needs for PNG export of plotly figures."""
    try:
        kaleido = metadata.version("kaleido")
    except metadata.PackageNotFoundError:
        return [
            Check(
                "browser",
                False,
                "kaleido is not installed (pip install kaleido), so figures are not "
                "saved as PNG; they stay interactive",
            )
        ]
    if int(kaleido.split(".")[0]) < 1:
        return [Check("browser", True, f"kaleido {kaleido} brings its own browser")]
    path = find_browser()
    if path is None:
        return [Check("browser", False, f"none found for kaleido {kaleido}: {BROWSER_HINT}")]
    return [Check("browser", True, f"{path} (used by kaleido {kaleido} for PNG figures)")]


def check_data() -> list[Check]:
    """One line per registered dataset: where it is found offline, or how to get it."""
    from .. import data, registry  # noqa: F401  (data registers the image datasets)
    from ..errors import DataUnavailableError

    checks = []
    for name, spec in registry.datasets().items():
        try:
            where = spec.locate()
        except DataUnavailableError as exc:
            checks.append(Check(f"data {name}", False, str(exc)))
            continue
        if where is None:
            checks.append(
                Check(
                    f"data {name}",
                    False,
                    f"no local copy; downloaded on first use (needs internet). {spec.description}",
                )
            )
        else:
            checks.append(Check(f"data {name}", True, where))
    return checks


def check_cache() -> list[Check]:
    """The cache folder (private to this user), its models and its size per part."""
    from ..cache.index import format_bytes, model_entries, sizes
    from ..errors import CacheFolderError
    from ..infra.paths import CACHE_ENV, cache_dir

    try:
        root = cache_dir()
    except (CacheFolderError, OSError) as exc:
        return [Check("cache", False, str(exc), fatal=True)]
    parts = sizes()
    n_models = sum(1 for e in model_entries() if e.complete)
    where = f"set by ${CACHE_ENV}" if CACHE_ENV in os.environ else f"set ${CACHE_ENV} to move it"
    return [
        Check(
            "cache",
            True,
            f"{root} ({where}): {format_bytes(sum(parts.values()))}: {n_models} models "
            f"{format_bytes(parts['models'])}, data {format_bytes(parts['data'])}, downloads "
            f"{format_bytes(parts['downloads'])}",
        )
    ]


def check_kernels() -> list[Check]:
    """The Jupyter kernels (``jupyter_client``'s KernelSpecManager); ``python3`` is the one
    ``cmim-lab notebooks`` runs."""
    if importlib.util.find_spec("jupyter_client") is None:
        return [Check("jupyter", False, "jupyter_client is not installed: pip install 'cmim-lab[notebooks]'")]
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    specs = manager.find_kernel_specs()
    if "python3" not in specs:
        return [
            Check(
                "jupyter",
                False,
                f"no python3 kernel (found: {', '.join(specs) or 'none'}): "
                f"{sys.executable} -m ipykernel install --user",
            )
        ]
    spec = manager.get_kernel_spec("python3")
    program = spec.argv[0] if spec.argv else "?"
    # jupyter_client starts a kernel whose program is plain "python" with the running interpreter
    if program in ("python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        program = sys.executable
    others = sorted(set(specs) - {"python3"})
    return [
        Check(
            "jupyter",
            True,
            f"kernel python3 ({spec.display_name}) runs {program}" + (f"; also: {', '.join(others)}" if others else ""),
        )
    ]


CHECKS: tuple[Callable[[], list[Check]], ...] = (
    check_python,
    check_torch,
    check_browser,
    check_data,
    check_cache,
    check_kernels,
)


def run_checks() -> list[Check]:
    """Every check in order; a check that fails unexpectedly becomes a ``missing`` line."""
    out = []
    for check in CHECKS:
        try:
            out += check()
        except Exception as exc:  # one broken check must not hide the others
            out.append(
                Check(check.__name__.removeprefix("check_"), False, f"check failed: {type(exc).__name__}: {exc}")
            )
    return out


def report(checks: list[Check]) -> str:
    """The checks as aligned lines, one per check."""
    width = max((len(c.name) for c in checks), default=0)
    return "\n".join(c.line(width) for c in checks)


def exit_status(checks: list[Check]) -> int:
    """1 when a check the kit cannot work without is missing (torch, the cache folder), else 0."""
    return int(any(c.fatal and not c.ok for c in checks))


def add_arguments(parser) -> None:
    """``cmim-lab doctor`` has no flags."""


def run(args) -> int:
    """Print one line per check of this machine; exit 1 only when the kit cannot work."""
    checks = run_checks()
    print(report(checks))
    return exit_status(checks)
