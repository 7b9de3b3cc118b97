"""docs/design.md's layer table is the declaration tests/test_layers.py enforces, and its
layout names every folder and top-level module of the package."""

import re
from pathlib import Path

from test_layers import LAYERS

import cmim_lab

PAGE = (Path(__file__).resolve().parents[1] / "docs" / "design.md").read_text()


def _page_layers() -> dict:
    block = PAGE.split("<!-- layers:", 1)[1].split("```", 2)[1]
    layers = {}
    for line in block.strip().splitlines():
        number, rest = line.split(None, 1)
        names = re.split(r"\s{2,}", rest.strip())[0]
        layers[int(number)] = [n.strip() for n in names.split(",")]
    return layers


def test_the_design_pages_layers_are_the_enforced_ones():
    assert _page_layers() == LAYERS


def test_the_layout_names_every_folder_and_top_level_module():
    layout = PAGE.split("## The layout", 1)[1].split("```", 2)[1]
    for name in cmim_lab.SUBMODULES:
        shown = f"{name}/" if (Path(cmim_lab.__file__).parent / name).is_dir() else f"{name}.py"
        assert shown in layout, f"docs/design.md's layout does not show {shown}"
