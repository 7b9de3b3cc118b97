"""Build the documentation site: the README, the pages in ``docs/``, the executed notebooks and
an API reference from the docstrings, as a folder of static HTML (``make docs``).

    python docs/build_site.py [--profile default|smoke|full] [--notebooks DIR] [--out DIR]

The executed notebooks come from ``runs/notebooks-<profile>/`` (what ``make run`` or ``cmim-lab
notebooks --profile P`` wrote); when that folder has none, the notebooks are executed first. The
pages are staged under ``runs/docs-src/`` in the repository's own layout (``index.md`` = the README,
``docs/``, ``figures/``, ``notebooks/``), so every relative link that works on GitHub works in the
site too; MkDocs then builds them with ``--strict`` (a broken link or a docstring it cannot read is
an error) into ``runs/site/``. The site uses relative ``.html`` links and no web fonts or CDN
scripts for its pages, so it opens from ``file://`` and on any static host.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PAGES = [
    ("Home", "index.md"),
    ("Notebooks", "docs/notebooks.md"),
    ("Data", "docs/data.md"),
    ("Your own data", "docs/your-own-data.md"),
    ("Methods and the library", "docs/methods.md"),
    ("Design", "docs/design.md"),
    ("Results", "docs/results.md"),
    ("Sharing models", "docs/cache.md"),
    ("Troubleshooting", "docs/troubleshooting.md"),
    ("Development", "docs/development.md"),
    ("API reference", "docs/api.md"),
]


def executed_notebooks(folder: Path, profile: str) -> list[Path]:
    """The executed ``NN_*.ipynb`` in ``folder``, running the sequence first if there are none."""
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        print(f"no executed notebooks in {folder}: running the {profile} profile first", flush=True)
        subprocess.run(
            [sys.executable, "-m", "cmim_lab.cli", "notebooks", "--profile", profile, "--out", str(folder)],
            check=True,
            cwd=REPO,
        )
        found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise SystemExit(f"error: still no executed notebooks in {folder}")
    return found


def stage(src: Path, notebooks: list[Path]) -> list:
    """Copy the pages, figures and executed notebooks into ``src``; return the site's nav."""
    shutil.rmtree(src, ignore_errors=True)
    (src / "docs").mkdir(parents=True)
    shutil.copy(REPO / "README.md", src / "index.md")
    for page in (REPO / "docs").glob("*.md"):
        shutil.copy(page, src / "docs" / page.name)
    shutil.copytree(REPO / "figures", src / "figures")
    (src / "notebooks").mkdir()
    for nb in notebooks:
        shutil.copy(nb, src / "notebooks" / nb.name)
    nav = [{title: page} for title, page in PAGES if (src / page).exists()]
    position = next(i for i, item in enumerate(nav) if "Notebooks" in item) + 1
    nav.insert(
        position, {"Executed notebooks": [{nb.stem.replace("_", " "): f"notebooks/{nb.name}"} for nb in notebooks]}
    )
    return nav


def config(src: Path, site: Path, nav: list) -> dict:
    """The MkDocs configuration: material theme without web fonts, offline search, the executed
    notebooks rendered as they are (never re-executed), docstrings read statically."""
    return {
        "site_name": "cmim_lab",
        "site_description": "cMIM, MIM, VAE and InfoNCE side by side, for teaching and analysis",
        "docs_dir": str(src),
        "site_dir": str(site),
        "use_directory_urls": False,
        "strict": True,
        "theme": {"name": "material", "font": False, "features": ["navigation.sections"]},
        "nav": nav,
        "markdown_extensions": ["tables", "admonition", "toc", "pymdownx.superfences"],
        "validation": {"links": {"absolute_links": "warn", "unrecognized_links": "warn", "anchors": "warn"}},
        "plugins": [
            "search",
            "offline",
            {
                "mkdocs-jupyter": {
                    "execute": False,
                    "include_source": True,
                    "ignore_h1_titles": True,
                    "include_requirejs": False,
                }
            },
            {
                "mkdocstrings": {
                    "handlers": {
                        "python": {
                            "paths": [str(REPO)],
                            "options": {
                                "extensions": [str(REPO / "docs" / "griffe_rst.py") + ":RstInline"],
                                "docstring_style": None,
                                "show_source": False,
                                "show_root_heading": True,
                                "members_order": "source",
                                "filters": ["!^_"],
                                "heading_level": 3,
                            },
                        }
                    }
                }
            },
        ],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--profile",
        default="default",
        choices=["smoke", "default", "full"],
        help="which run's executed notebooks to publish (default: %(default)s)",
    )
    p.add_argument(
        "--notebooks", type=Path, default=None, help="folder of executed notebooks (default: runs/notebooks-<profile>)"
    )
    p.add_argument("--out", type=Path, default=REPO / "runs" / "site", help="site folder (default: %(default)s)")
    args = p.parse_args(argv)
    notebooks = executed_notebooks(args.notebooks or REPO / "runs" / f"notebooks-{args.profile}", args.profile)
    src = args.out.parent / "docs-src"
    nav = stage(src, notebooks)
    cfg = src.parent / "mkdocs.generated.yml"
    cfg.write_text(yaml.safe_dump(config(src, args.out.resolve(), nav), sort_keys=False))
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's end-of-life notice, not about this site
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-q", "-f", str(cfg)], check=True, env=env
    )
    print(f"site: {args.out / 'index.html'} ({len(notebooks)} notebooks, profile {args.profile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
