"""Notebooks 01-04 end with a verdict cell computed from their own run (smoke profile here).

Each claim notebook is executed with papermill; the output of its cell tagged ``verdict``
must name the claim, give a verdict word for at least one comparison (or say that one seed
gives none) and quote the README's larger run with its command. nbval runs the same
notebooks too (the cell asserts a verdict word itself); this test reads the printed text.
Notebook 02 runs here with ``search = True`` (nbval covers its default, ``False``): its
search cell must print the tuned comparison at both budgets."""

import json

import pytest

from cmim_lab.notebook.runner import notebook_paths
from cmim_lab.studies.verdicts import VERDICTS

CLAIM_NOTEBOOKS = [p for p in notebook_paths() if p.stem[:2] in ("01", "02", "03", "04")]


def _verdict_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if "verdict" in c.get("metadata", {}).get("tags", [])]


def _printed(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell["outputs"] if o.get("output_type") == "stream")


def test_every_claim_notebook_has_one_verdict_cell_and_a_seeds_parameter():
    assert len(CLAIM_NOTEBOOKS) == 4
    for path in CLAIM_NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert len(_verdict_cells(nb)) == 1, path.name
        params = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
        assert any(line.startswith("seeds = [") for line in params["source"]), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", CLAIM_NOTEBOOKS, ids=lambda p: p.stem)
def test_the_verdict_cell_prints_a_verdict_from_the_run(path, tmp_path):
    import papermill as pm

    out = tmp_path / path.name
    search = path.stem.startswith("02")
    pm.execute_notebook(
        str(path),
        str(out),
        cwd=str(path.parent),
        progress_bar=False,
        kernel_name="python3",
        parameters={"search": True} if search else {},
    )
    nb = json.loads(out.read_text())
    if search:
        cell = next(c for c in nb["cells"] if "search" in c.get("metadata", {}).get("tags", []))
        text = _printed(cell)
        assert "Tuned fairly (knn-cosine, test split): at 2 steps the best cMIM" in text, text[-2000:]
        assert "; at 4 steps the best cMIM" in text and "Tuned fairly (linear, test split)" in text
        assert "README, larger run" in text and "command: cmim-lab claims --profile default --search" in text
    cell = _verdict_cells(nb)[0]
    text = _printed(cell)
    claim = path.stem[1]
    assert text.startswith(f"Claim {claim}: "), text[:200]
    assert any(f"-> {word}" in text for word in (*VERDICTS, "one seed: no verdict")), text
    assert "README, larger run" in text and "command: cmim-lab" in text
