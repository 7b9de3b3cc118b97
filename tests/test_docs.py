"""The README and the documentation pages: short, every link resolves, and the built site works.

* Every relative link of ``README.md`` and ``docs/*.md`` names a file of the checkout, and every
  ``#anchor`` a heading of its target page (slugs as MkDocs and GitHub make them).
* ``make docs`` (``docs/build_site.py``) builds the site from the smoke profile's executed notebooks
  with MkDocs' ``--strict`` (a broken link or an unreadable docstring fails the build); headless
  Chromium then opens the home page and notebook 00's page from ``file://``: every image has a
  non-zero size, the notebook page shows its figures as images, and every internal link of both
  pages points to a file of the site.

``CMIM_LAB_WRITE_SCREENSHOT=1`` also writes the notebook page's screenshot to
``figures/docs_notebook_page.png`` (otherwise it goes to the test's tmp_path only).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 150
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "figures" / "docs_notebook_page.png"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """The anchor MkDocs' toc extension (and GitHub) gives a heading: lower case, punctuation
    dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return [a or b for a, b in LINK.findall(text)]


def test_slug_matches_the_headings_it_must_match():
    assert slug("How the library is layered") == "how-the-library-is-layered"
    assert slug("What the kit computes, exactly") == "what-the-kit-computes-exactly"
    assert slug("Batch size (claim 3)") == "batch-size-claim-3"


def test_readme_is_a_newcomers_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; keep it to {README_MAX_LINES}"
    text = "\n".join(lines)
    for must in ("make run", "make test", "notebook 00", "claim", "GPU", "Troubleshooting"):
        assert must in text, f"README.md should mention {must!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_resolves(page):
    broken = []
    for target in links(page):
        if urlparse(target).scheme in ("http", "https", "mailto"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path)).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, f"broken links in {page.name}:\n" + "\n".join(broken)


# --------------------------------------------------------------------------- the built site

mkdocs = pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built from the smoke profile (``build_site.py`` finds the throwaway notebook folder
    empty and executes every notebook into it first, as ``make docs`` does)."""
    root = tmp_path_factory.mktemp("docs")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "docs" / "build_site.py"),
            "--profile",
            "smoke",
            "--notebooks",
            str(root / "notebooks"),
            "--out",
            str(root / "site"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=1800,
    )
    assert done.returncode == 0, f"make docs failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return root / "site"


def test_site_has_every_page(site):
    for page in [
        "index.html",
        "docs/results.html",
        "docs/api.html",
        "notebooks/00_quickstart.html",
        "notebooks/05_latent_explorer.html",
    ]:
        assert (site / page).is_file(), f"{page} missing from the site"
    api = (site / "docs" / "api.html").read_text()
    assert "load_or_train" in api and "cmim_lab.objectives" in api, "the API reference has no docstrings"


def _check_page(page, url: str, site: Path, min_images: int) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    sizes = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth, e.naturalHeight])"
    )
    assert len(sizes) >= min_images, f"{url}: {len(sizes)} images, expected at least {min_images}"
    empty = [src[:80] for src, w, h in sizes if not (w > 0 and h > 0)]
    assert not empty, f"{url}: images that did not load: {empty}"
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    missing = []
    for href in hrefs:
        parsed = urlparse(href)
        if parsed.scheme != "file":
            continue
        target = Path(unquote(parsed.path))
        if not target.exists():
            missing.append(href)
    assert not missing, f"{url}: internal links to missing files: {missing[:10]}"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
def test_site_opens_from_file_urls_in_chromium(site, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            _check_page(page, (site / "index.html").as_uri(), site, min_images=0)
            _check_page(page, (site / "notebooks" / "00_quickstart.html").as_uri(), site, min_images=2)
            page.locator("img").first.scroll_into_view_if_needed()  # the screenshot shows a figure
            page.wait_for_timeout(1000)  # the theme's header fades its title on scroll
            shot = SCREENSHOT if os.environ.get("CMIM_LAB_WRITE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


def test_docstring_markup_becomes_markdown():
    import importlib.util

    spec = importlib.util.spec_from_file_location("griffe_rst", REPO / "docs" / "griffe_rst.py")
    if importlib.util.find_spec("griffe") is None:
        pytest.skip("griffe (docs extra) is not installed")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Use :func:`load` on ``x``. Entry points::\n\n    a = 1\n    b = 2\n\nAfter.\n\n>>> f(1)\n>>> g()\n\nEnd."
    assert module.rst_to_markdown(text) == (
        "Use `load` on `x`. Entry points:\n\n```python\na = 1\nb = 2\n```\n\nAfter.\n\n"
        "```pycon\n>>> f(1)\n>>> g()\n```\n\nEnd."
    )


def test_the_readmes_own_data_snippet_runs_as_printed():
    """The three lines under "Your own data" work on a real-valued table (scikit-learn's wine:
    13 features in their own units) and the codes classify far above chance (3 classes)."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Your own data") :]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    scope = {"X": X, "y": y}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    table = scope["evaluate"](scope["result"].model, scope["ds"], likelihood="gaussian-learned").table()
    assert table.loc["knn-euclidean", "mean"] > 0.8, table
