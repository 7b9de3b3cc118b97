"""The latent explorer works in a real browser: JupyterLab + headless Chromium, end to end.

What a user does, step by step: open ``notebooks/05_latent_explorer.ipynb`` in JupyterLab,
Run All, then use the explorer (``cmim_lab.notebook.widgets.LatentExplorer``). The driver
(:func:`drive_explorer`) does the same through Playwright and checks what the user would see:

* keyboard steps on the PC1 slider: the readout shows the exact new value and the decoded
  image changes;
* keyboard steps on the interpolation slider: its readout and the second image change;
* the method selector: both readouts name the new model and the image changes;
* one mouse drag on PC2 (a smoke check): the readout settles on the value the slider shows.

"The image changes" compares the pixels of the ``<img>`` as the browser decoded them (drawn
onto a canvas), so a new blob URL holding the same PNG does not count as a change.

A second test runs the same driver on a copy of the notebook whose slider callback is
deliberately broken and expects it to fail: the driver can tell a working explorer from a
frozen one.

Each test starts its own JupyterLab server (random port and token, throwaway config, runtime,
settings and workspace folders, own process group) and stops it and its kernels afterwards.
The kernel trains the notebook's models under ``CMIM_LAB_PROFILE=smoke`` in the test session's
cache, so the second test reuses the first one's models and compiled UMAP.

``CMIM_LAB_WRITE_SCREENSHOT=1`` also writes the explorer's screenshot to
``figures/05_latent_explorer_browser.png`` (otherwise it only goes to the test's tmp_path).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "05_latent_explorer.ipynb"
FIGURE = REPO / "figures" / "05_latent_explorer_browser.png"
WRITE_SCREENSHOT_ENV = "CMIM_LAB_WRITE_SCREENSHOT"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# seconds
SERVER_START_TIMEOUT = 60
KERNEL_TIMEOUT = 60
RUN_ALL_TIMEOUT = 240  # cold cache: trains three smoke models and compiles UMAP
UPDATE_TIMEOUT = 30  # browser -> kernel callback -> readout, on a loaded 2-core machine
IMAGE_TIMEOUT = 5  # the image is sent before the readout, so this only covers decoding

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -e '.[notebooks]')")
psutil = pytest.importorskip("psutil", reason="psutil is not installed")


class ExplorerCheckFailed(AssertionError):
    """The explorer did not do what a user expects (the message says which step)."""


# --------------------------------------------------------------------------- JupyterLab server


@dataclass
class LabServer:
    """A running JupyterLab: ``url`` (no trailing slash), ``token``, ``root`` (its notebook folder)."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_settings(settings_dir: Path) -> None:
    """User settings for the throwaway JupyterLab: no news pop-up, every cell in the DOM."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for rel, content in files.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _server_env(work: Path) -> dict:
    """The server's (and so the kernels') environment: smoke profile, the session's cache,
    one thread, and Jupyter folders of its own (the venv's share/jupyter stays visible)."""
    env = dict(os.environ)
    cache = Path(os.environ.get("CMIM_LAB_CACHE") or work / "cache")
    env.update(
        {
            # smoke by default; CMIM_LAB_BROWSER_PROFILE=default makes the committed screenshot with real models
            "CMIM_LAB_PROFILE": os.environ.get("CMIM_LAB_BROWSER_PROFILE", "smoke"),
            "CMIM_LAB_CACHE": str(cache),
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or str(cache / "numba"),
            "JUPYTER_CONFIG_DIR": str(work / "config"),
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
            "JUPYTER_DATA_DIR": str(work / "data"),
            "IPYTHONDIR": str(work / "ipython"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
    )
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def _wait_until_serving(server: LabServer, proc: subprocess.Popen) -> None:
    """Poll ``/api/status`` until the server answers; fail early if it exits."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    request = urllib.request.Request(f"{server.url}/api/status", headers={"Authorization": f"token {server.token}"})
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with opener.open(request, timeout=5) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT}s:\n{server.log_tail()}")
        time.sleep(0.2)


def _stop_server(proc: subprocess.Popen, runtime_dir: Path) -> None:
    """SIGTERM the server's process group (the server then shuts its kernels down), SIGKILL
    what is left, and kill any kernel still alive: kernels run in sessions of their own, so they
    are found as the server's descendants or by their connection file in our runtime folder."""
    ours = []
    with contextlib.suppress(psutil.NoSuchProcess):
        ours = psutil.Process(proc.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    for p in psutil.process_iter(["cmdline"]):
        if any(str(runtime_dir) in arg for arg in (p.info["cmdline"] or [])) and p not in ours:
            ours.append(p)
    _, alive = psutil.wait_procs(ours, timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


@contextlib.contextmanager
def jupyter_lab(work: Path) -> Iterator[LabServer]:
    """Run JupyterLab on 127.0.0.1 (random port and token) serving ``work/notebooks``; always stopped."""
    root, settings = work / "notebooks", work / "settings"
    root.mkdir(parents=True, exist_ok=True)
    _lab_settings(settings)
    port, token = _free_port(), secrets.token_hex(16)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, work / "jupyterlab.log")
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={work / 'workspaces'}",
        "--ServerApp.terminals_enabled=False",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(server.log, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=_server_env(work),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_serving(server, proc)
        yield server
    finally:
        _stop_server(proc, work / "runtime")


# --------------------------------------------------------------------------- browser helpers

KERNEL_READY_JS = """() => {
  const name = document.querySelector('.jp-NotebookPanel .jp-Toolbar-kernelName');
  const status = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
  // "idle" shows before a kernel exists, so the kernel's name must be there too
  return !!name && !!status && name.textContent.includes('Python 3') && status.dataset.status === 'idle';
}"""

# Run All has finished once no cell waits ([*]) and the first one has run; an error stops Run All
# and leaves later prompts empty, which the caller reports.
RUN_ALL_DONE_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  return prompts.length > 0 && /^\\[\\d+\\]:$/.test(prompts[0]) && !prompts.includes('[*]:');
}"""

PROMPTS_JS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim())"
ERRORS_JS = """() => [...document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.innerText.slice(-1500))"""

# the pixels of a loaded <img> as a PNG data URL (null while it is still loading)
PIXELS_JS = """(img) => {
  if (!img.complete || img.naturalWidth === 0) return null;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/png');
}"""


def _wait(page, js: str, arg, timeout_s: float, failure: str):
    """Wait until ``js(arg)`` is truthy in the page and return its value; ExplorerCheckFailed after ``timeout_s``."""
    try:
        return page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000).json_value()
    except sync_api.TimeoutError:
        raise ExplorerCheckFailed(f"{failure} (waited {timeout_s}s)") from None


def _text(page, selector: str) -> str | None:
    """The text of ``selector`` now (None if it is not in the page)."""
    element = page.locator(selector)
    return element.text_content() if element.count() else None


def _wait_text(page, selector: str, check: str, expected: str, timeout_s: float = UPDATE_TIMEOUT) -> str:
    """Wait until the text of ``selector`` ``contains``/``startswith`` ``expected``; return the text."""
    js = """([sel, check, expected]) => {
      const el = document.querySelector(sel);
      const text = el ? el.textContent : '';
      return (check === 'startswith' ? text.startsWith(expected) : text.includes(expected)) ? text : false;
    }"""
    before = _text(page, selector)
    try:
        return _wait(page, js, [selector, check, expected], timeout_s, f"{selector} never {check} {expected!r}")
    except ExplorerCheckFailed as exc:
        raise ExplorerCheckFailed(f"{exc}; before: {before!r}, now: {_text(page, selector)!r}") from None


def _pixels(page, selector: str) -> str:
    """The current pixels of the image ``selector`` (waits for it to load)."""
    img = page.locator(selector).element_handle()
    return _wait(page, PIXELS_JS, img, IMAGE_TIMEOUT, f"{selector} did not load")


def _wait_image_changed(page, selector: str, before: str, what: str) -> str:
    """Wait until the pixels of ``selector`` differ from ``before``; return the new pixels."""
    img = page.locator(selector).element_handle()
    js = f"([img, before]) => {{ const now = ({PIXELS_JS})(img); return now && now !== before ? now : false; }}"
    return _wait(page, js, [img, before], IMAGE_TIMEOUT, f"the decoded image did not change after {what}")


def _slider_value(page, selector: str) -> float:
    """The value the slider ``selector`` shows (its handle's aria-valuenow)."""
    return float(page.locator(f"{selector} .noUi-handle").get_attribute("aria-valuenow"))


def _press(page, slider: str, *keys: str) -> None:
    """Focus the handle of ``slider`` and press ``keys`` one by one."""
    page.locator(f"{slider} .noUi-handle").focus()
    for key in keys:
        page.keyboard.press(key)


# --------------------------------------------------------------------------- the driver


def drive_explorer(page, server: LabServer, notebook: str, screenshot: Path) -> dict:
    """Open ``notebook`` in JupyterLab, Run All, and use the latent explorer like a user.

    Returns what it saw (the methods, readouts, and seconds since the start at each phase); raises
    :class:`ExplorerCheckFailed` at the first step that does not behave, after saving a
    screenshot of the whole page next to ``screenshot``.
    """
    seen, t0 = {"timings": {}}, time.monotonic()

    def phase(name):
        seen["timings"][name] = round(time.monotonic() - t0, 1)

    try:
        _drive(page, server, notebook, screenshot, seen, phase)
    except ExplorerCheckFailed as exc:
        failure_png = screenshot.with_name(screenshot.stem + "-failure.png")
        with contextlib.suppress(Exception):
            page.screenshot(path=str(failure_png), full_page=True)
        raise ExplorerCheckFailed(f"{exc}\n[page screenshot: {failure_png}]") from None
    return seen


def _drive(page, server, notebook, screenshot, seen, phase) -> None:
    """The steps of :func:`drive_explorer`, in the order a user takes them."""
    page.goto(server.notebook_url(notebook))
    _wait(page, KERNEL_READY_JS, None, KERNEL_TIMEOUT, f"no idle Python 3 kernel for {notebook}")
    phase("kernel ready")

    # Run All through the menu, as a user would
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    _wait(page, RUN_ALL_DONE_JS, None, RUN_ALL_TIMEOUT, "Run All did not finish")
    prompts = page.evaluate(PROMPTS_JS)
    if not all(p[1:-2].isdigit() for p in prompts):
        raise ExplorerCheckFailed(
            f"Run All stopped early (prompts {prompts}); stderr outputs:\n" + "\n---\n".join(page.evaluate(ERRORS_JS))
        )
    phase("run all")

    # the explorer rendered: five sliders, two decoded images, readouts naming the first method
    labels = page.locator(".cmim-explorer .widget-slider .widget-label").all_text_contents()
    if labels != ["PC1 (sd)", "PC2 (sd)", "PC3 (sd)", "PC4 (sd)", "A→B t"]:
        raise ExplorerCheckFailed(f"unexpected sliders in the explorer: {labels}")
    methods = page.locator(".cmim-method select option").all_text_contents()
    if len(methods) < 2:
        raise ExplorerCheckFailed(f"the method selector needs two models to switch between, has {methods}")
    _pixels(page, "img.cmim-interp-image")
    _wait_text(page, ".cmim-readout", "startswith", f"{methods[0]} · image 0 · ")
    seen["methods"] = methods

    # PC1 by keyboard: Home (-3.0) first for a known start. After Run All PC1 is not at 0: the
    # notebook's check sets it to 2.0 and back to 0.0 in the kernel, but the browser's slider
    # echoes its rounded 2.000000000000001 back, which the kernel applies after the last cell.
    # Then three steps of 0.1.
    _press(page, ".cmim-pc1", "Home")
    _wait_text(page, ".cmim-readout", "contains", "PC1=-3.0")
    before = _pixels(page, "img.cmim-image")
    _press(page, ".cmim-pc1", "ArrowRight", "ArrowRight", "ArrowRight")
    seen["pc1 readout"] = _wait_text(page, ".cmim-readout", "contains", "PC1=-2.7,")
    if _slider_value(page, ".cmim-pc1") != pytest.approx(-2.7):
        raise ExplorerCheckFailed(f"PC1 slider shows {_slider_value(page, '.cmim-pc1')}, expected -2.7")
    image = _wait_image_changed(page, "img.cmim-image", before, "three ArrowRight steps on PC1")
    phase("pc1 keyboard")

    # interpolation by keyboard: four steps of 0.05
    before_interp = _pixels(page, "img.cmim-interp-image")
    _press(page, ".cmim-t", "ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight")
    seen["t readout"] = _wait_text(page, ".cmim-interp-readout", "contains", "t=0.20 ")
    interp_image = _wait_image_changed(page, "img.cmim-interp-image", before_interp, "four ArrowRight steps on A→B t")
    phase("interpolation keyboard")

    # the method selector switches the model behind both panels
    page.locator(".cmim-method select").select_option(methods[1])
    seen["method readout"] = _wait_text(page, ".cmim-readout", "startswith", f"{methods[1]} · image 0 · PC1=-2.7,")
    _wait_text(page, ".cmim-interp-readout", "startswith", f"{methods[1]} · t=0.20 ")
    image = _wait_image_changed(page, "img.cmim-image", image, f"switching the method to {methods[1]}")
    _wait_image_changed(page, "img.cmim-interp-image", interp_image, f"switching the method to {methods[1]}")
    phase("method")

    # one mouse drag of PC2 (smoke check): intermediate values pass by, wait for the final one
    handle = page.locator(".cmim-pc2 .noUi-handle")
    handle.scroll_into_view_if_needed()
    box, track = handle.bounding_box(), page.locator(".cmim-pc2 .noUi-target").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + track["width"] / 4, y, steps=8)
    page.mouse.up()
    pc2 = _slider_value(page, ".cmim-pc2")
    if abs(pc2) < 0.5:
        raise ExplorerCheckFailed(f"dragging PC2 a quarter of the track moved it to {pc2} only")
    seen["drag readout"] = _wait_text(page, ".cmim-readout", "contains", f"PC2={pc2:+.1f},")
    _wait_image_changed(page, "img.cmim-image", image, "dragging PC2")
    phase("pc2 drag")

    page.locator(".cmim-explorer").screenshot(path=str(screenshot))


# --------------------------------------------------------------------------- fixtures and tests


@pytest.fixture
def lab(tmp_path) -> Iterator[LabServer]:
    """A JupyterLab server of this test's own, stopped (with its kernels) afterwards."""
    with jupyter_lab(tmp_path / "lab") as server:
        yield server


@pytest.fixture
def page(tmp_path):
    """A page in Debian's headless Chromium with a fresh profile."""
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()


# Appended after the last cell that uses the explorer: the notebook's own programmatic check (which
# moves a slider in the kernel) would catch a broken callback earlier and stop Run All before the
# browser is exercised. The cells after it (the UMAP map) are dropped to save time.
BROKEN_CALLBACK = """\
# deliberately broken for the browser test: the explorer's image never changes again
import cmim_lab.notebook.widgets
_frozen_png = explorer.image.value
cmim_lab.notebook.widgets.image_png = lambda img, scale=8: _frozen_png
"""


def _broken_copy(dst: Path) -> None:
    """The notebook up to its last cell that uses ``explorer``, plus :data:`BROKEN_CALLBACK`."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    last = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "explorer" in c.source)
    nb.cells = nb.cells[: last + 1] + [nbformat.v4.new_code_cell(BROKEN_CALLBACK, id="broken-callback")]
    nbformat.write(nb, dst)


def test_latent_explorer_in_jupyterlab(lab, page, tmp_path):
    """Run All, then keyboard, selector and mouse on the explorer in headless Chromium."""
    shutil.copy(NOTEBOOK, lab.root / NOTEBOOK.name)
    shot = tmp_path / "05_latent_explorer_browser.png"
    seen = drive_explorer(page, lab, NOTEBOOK.name, shot)
    print(json.dumps(seen, indent=1, ensure_ascii=False))
    assert shot.stat().st_size > 1000
    if os.environ.get(WRITE_SCREENSHOT_ENV) == "1":
        FIGURE.parent.mkdir(exist_ok=True)
        shutil.copy(shot, FIGURE)


def test_driver_catches_a_frozen_image(lab, page, tmp_path):
    """The test of the test: with the slider callback broken, the driver fails where it should."""
    _broken_copy(lab.root / "broken_explorer.ipynb")
    with pytest.raises(
        ExplorerCheckFailed, match="decoded image did not change after three ArrowRight steps on PC1"
    ) as failure:
        drive_explorer(page, lab, "broken_explorer.ipynb", tmp_path / "broken.png")
    print(failure.value)
