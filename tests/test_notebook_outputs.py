"""An executed notebook reads anywhere and a run leaves the checkout alone (#17).

Notebook 00 is executed once with papermill (smoke profile, no export flag, the session's
throwaway cache); then: every plotly figure in the saved outputs carries a PNG beside its
interactive JSON, nbconvert's HTML shows those PNGs as images, progress bars ended as text,
and neither ``git status`` nor the committed ``figures/`` changed (the run's PNGs went to
``runs/figures-smoke/``).
"""

import base64
import hashlib
import re
import shutil
import subprocess
import time

import pytest

from cmim_lab.infra.paths import repo_path

NOTEBOOK = repo_path("notebooks", "00_quickstart.ipynb")
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
PNG_IN_HTML = re.compile(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _static_export_works() -> bool:
    import plotly.graph_objects as go

    from cmim_lab.notebook.static_figures import png_bytes

    return png_bytes(go.Figure(), width=100, height=100) is not None


def _checkout_state() -> tuple[str, dict]:
    """``git status`` of the checkout and the hash of every committed figure."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo_path(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(repo_path("figures").iterdir())}
    return status, figures


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(executed notebook, checkout state before, after, start time)."""
    if shutil.which("git") is None or not (repo_path(".git")).exists():
        pytest.skip("needs a git checkout")
    if not _static_export_works():
        pytest.skip("no Chrome/Chromium for kaleido: static figure images are off on this machine")
    import nbformat
    import papermill as pm

    before, started = _checkout_state(), time.time()
    out = tmp_path_factory.mktemp("executed") / NOTEBOOK.name
    pm.execute_notebook(
        str(NOTEBOOK), str(out), cwd=str(NOTEBOOK.parent), kernel_name="python3", progress_bar=False
    )  # conftest: smoke profile, CMIM_LAB_FIGURES=0
    return nbformat.read(out, as_version=4), before, _checkout_state(), started


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_every_figure_carries_a_static_image(executed):
    nb = executed[0]
    figures = [o for o in _outputs(nb) if PLOTLY in o.get("data", {})]
    assert len(figures) >= 3  # training terms, reconstructions, UMAP map
    for o in figures:
        assert "image/png" in o["data"], f"a figure without a static image: {sorted(o['data'])}"
        assert base64.b64decode(o["data"]["image/png"]).startswith(b"\x89PNG")


def test_nbconvert_html_shows_the_figures_as_images(executed):
    import copy

    from nbconvert import HTMLExporter

    nb = executed[0]
    n_figures = sum(PLOTLY in o.get("data", {}) for o in _outputs(nb))
    html, _ = HTMLExporter().from_notebook_node(nb)
    images = [base64.b64decode(m) for m in PNG_IN_HTML.findall(html)]
    assert sum(i.startswith(b"\x89PNG") for i in images) >= n_figures
    interactive_only = copy.deepcopy(nb)  # what the notebooks saved before: plotly JSON alone
    for o in _outputs(interactive_only):
        o.get("data", {}).pop("image/png", None)
    with pytest.warns(UserWarning, match="not able to be represented"):  # nbconvert cannot draw plotly JSON
        assert not PNG_IN_HTML.findall(HTMLExporter().from_notebook_node(interactive_only)[0])


def test_progress_bars_end_as_text(executed):
    outputs = _outputs(executed[0])
    assert not [o for o in outputs if WIDGET in o.get("data", {})], "a widget saved in its first state"
    texts = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs]
    bars = [t for t in texts if re.search(r"\d+%\|", t)]
    assert all("100%" in t for t in bars), bars


def test_a_run_without_the_export_flag_leaves_the_checkout_alone(executed):
    _, before, after, started = executed
    assert after == before  # git status and every committed figure unchanged
    written = [repo_path("runs", "figures-smoke", f"{name}.png") for name in ("00_reconstructions", "00_umap_cmim")]
    assert all(p.exists() and p.stat().st_mtime >= started - 1 for p in written)  # the run's PNGs went here
