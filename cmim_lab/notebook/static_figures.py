"""Static images of plotly figures: PNG files, and a PNG beside every figure a notebook shows.

* **In a notebook** :func:`use_static_renderer` (called by ``params.setup``) makes plotly
  show every figure as one display bundle holding both the interactive plotly JSON
  (JupyterLab, VS Code) and a PNG (``jupyter nbconvert --to html``, nbviewer, GitHub), so
  a saved, executed notebook shows its figures anywhere.
* **Files**: :func:`save_figure` writes ``<path>.png``.
* **Without a browser**: PNG export goes through kaleido, which drives a Chrome or
  Chromium (Debian/Ubuntu: ``apt install chromium``; online: ``plotly_get_chrome``). When
  none is found, static export is switched off for the rest of the process and **one**
  line says so; figures stay interactive, and :func:`save_figure` writes an HTML copy only
  where asked (the CLI's run folders), never a stray file in ``figures/``.

One kaleido server serves the process once a first image has worked: the first image costs a
browser start (a few seconds), the next ones a fraction of a second.
"""

from __future__ import annotations

import base64
import logging
import sys
import warnings
from pathlib import Path

from ..infra.files import atomic_write

RENDERER = "cmim_lab_png"
NOTEBOOK_RENDERERS = f"plotly_mimetype+{RENDERER}"
NOTEBOOK_SIZE = (900, 450)  # pixels of a notebook's PNG when the figure sets no size of its own
HINT = "install Chromium (Debian/Ubuntu: apt install chromium) or run plotly_get_chrome online, then restart the kernel"

_state = {"problem": None, "server": False}


def static_export_problem() -> str | None:
    """Why static export is off in this process (one line), or None while it works or is untried."""
    return _state["problem"]


def png_bytes(fig, *, width: int, height: int, scale: float = 1.0) -> bytes | None:
    """PNG bytes of a plotly figure (a ``Figure`` or its dict) at ``width`` x ``height`` CSS
    pixels times ``scale``; None once static export has failed in this process (the first
    failure prints one line saying why)."""
    if _state["problem"]:
        return None
    import plotly.io as pio

    try:
        with warnings.catch_warnings():  # kaleido's server ignores plotly's per-call options and says so
            warnings.filterwarnings("ignore", message="The kopts argument is ignored")
            png = pio.to_image(fig, format="png", width=width, height=height, scale=scale)
    except Exception as exc:  # kaleido missing, no browser for it, or the browser failed
        _switch_off(exc)
        return None
    _start_server()
    return png


def _switch_off(exc: Exception) -> None:
    """Record why static export failed and say so, once, in one line."""
    text = str(exc)
    if "chrome" in text.lower() or "browser" in text.lower():
        reason = "no Chrome/Chromium found for kaleido"
    elif "kaleido" in text.lower() and "requires" in text.lower():
        reason = "kaleido is not installed (pip install kaleido)"
    else:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        reason = f"{type(exc).__name__}: {first[:120]}"
    _state["problem"] = reason
    print(
        f"note: static figure images are off ({reason}); figures stay interactive. For PNGs, {HINT}.",
        file=sys.stderr,
        flush=True,
    )


def _start_server() -> None:
    """Keep one kaleido browser for the process once an image has worked (kaleido >= 1)."""
    if _state["server"]:
        return
    _state["server"] = True
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
    except Exception:  # older kaleido (no server): every image starts its own browser, still correct
        return
    # at exit a busy machine may take over 3 s to close the browser; the kill that follows is
    # harmless, and its log line would be the last thing a command prints
    logging.getLogger("choreographer.browser_async").addFilter(lambda record: "unclean kill" not in record.getMessage())


def save_figure(
    fig, path, *, width: int = 900, height: int | None = None, scale: float = 1.5, html_fallback: bool = True
) -> list[Path]:
    """Write ``fig`` to ``<path>.png`` (``width`` x ``height`` CSS pixels, times ``scale``);
    returns the files written.

    Without static export (see the module docstring) it writes ``<path>.html`` instead when
    ``html_fallback`` (the CLI's run folders), or nothing (``figures/``: no stray files)."""
    path = Path(path)
    png = png_bytes(fig, width=width, height=height or fig.layout.height or 500, scale=scale)
    if png is not None:
        target = atomic_write(path.with_suffix(".png"), lambda tmp: Path(tmp).write_bytes(png))
    elif html_fallback:
        target = atomic_write(path.with_suffix(".html"), lambda tmp: fig.write_html(tmp, include_plotlyjs="cdn"))
    else:
        return []
    target.chmod(0o644)  # a figure to share, unlike the private temporary file it was renamed from
    return [target]


def use_static_renderer() -> bool:
    """In a Jupyter kernel, show every plotly figure as interactive JSON *and* a PNG (see
    the module docstring); True if the renderer was set, False outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or "IPKernelApp" not in getattr(shell, "config", {}):
        return False
    import plotly.io as pio

    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = _png_renderer()
    pio.renderers.default = NOTEBOOK_RENDERERS
    return True


def _png_renderer():
    """A plotly mimetype renderer that adds ``image/png`` to a figure's display bundle
    (nothing when static export is off, so the figure stays interactive)."""
    from plotly.io.base_renderers import MimetypeRenderer

    class StaticPngRenderer(MimetypeRenderer):
        """Adds a PNG of the figure (its own size, else :data:`NOTEBOOK_SIZE`) to the bundle."""

        def to_mimebundle(self, fig_dict):
            layout = fig_dict.get("layout", {})
            png = png_bytes(
                fig_dict, width=layout.get("width") or NOTEBOOK_SIZE[0], height=layout.get("height") or NOTEBOOK_SIZE[1]
            )
            return {} if png is None else {"image/png": base64.b64encode(png).decode("ascii")}

    return StaticPngRenderer()
