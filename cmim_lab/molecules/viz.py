"""Pictures for the molecule notebook: a latent map coloured by a property, and a grid of
molecule drawings (RDKit)."""

from __future__ import annotations

import numpy as np


def property_map(
    coords,
    values,
    *,
    smiles=None,
    title: str = "",
    units: str = "",
    name: str = "property",
    clip=(2.0, 98.0),
    marker_size: int = 5,
):
    """Plotly scatter of 2-D ``coords`` [N, 2] coloured by a continuous property ``values`` [N].

    The colour bar names the property (``name``, ``units``) and spans the ``clip``
    percentiles of the values (default 2nd-98th), so one outlier does not wash out the rest;
    points beyond take the end colours, the bar says it is clipped, and hovering shows each
    molecule's SMILES and its true value. ``clip=None`` spans the full range.
    """
    import plotly.graph_objects as go

    coords, values = np.asarray(coords), np.asarray(values, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(values):
        raise ValueError(f"property_map needs coords [N, 2] and values [N], got {coords.shape} and {values.shape}")
    if clip is not None and not (len(clip) == 2 and 0 <= clip[0] < clip[1] <= 100):
        raise ValueError(f"clip must be two percentiles 0 <= low < high <= 100 (e.g. (2, 98)) or None, got {clip!r}")
    lo, hi = np.nanpercentile(values, clip) if clip is not None else (np.nanmin(values), np.nanmax(values))
    label = f"{name} ({units})" if units else name
    note = "" if clip is None else f"<br><sup>clipped to the {clip[0]:g}–{clip[1]:g}th percentile</sup>"
    bar_title = label + note
    hover = None if smiles is None else [f"{s}<br>{name}: {v:.2f} {units}" for s, v in zip(smiles, values)]
    fig = go.Figure(
        go.Scattergl(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers",
            text=hover,
            hoverinfo="text" if hover else None,
            marker=dict(
                size=marker_size,
                color=values,
                colorscale="Viridis",
                cmin=float(lo),
                cmax=float(hi),
                colorbar=dict(title=bar_title),
                opacity=0.8,
            ),
        )
    )
    fig.update_layout(title=title, width=600, height=480, xaxis_title="UMAP 1", yaxis_title="UMAP 2")
    return fig


def molecule_grid(smiles, legends=None, *, per_row: int = 5, size: int = 180):
    """A PIL image of RDKit drawings of ``smiles`` with optional ``legends``; an invalid
    SMILES is drawn as an empty cell (its legend says so)."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    from .smiles import quiet_rdkit

    smiles = list(smiles)
    legends = list(legends) if legends is not None else list(smiles)
    mols = []
    with quiet_rdkit():
        for i, s in enumerate(smiles):
            mol = Chem.MolFromSmiles(s) if s else None
            if mol is None:
                mol, legends[i] = Chem.Mol(), f"invalid: {s[:24]}"
            mols.append(mol)
    return Draw.MolsToGridImage(mols, molsPerRow=per_row, subImgSize=(size, size), legends=legends)
