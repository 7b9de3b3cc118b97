"""Pictures for the molecule notebook: a latent map coloured by a property, and a grid of
molecule drawings (RDKit)."""
from __future__ import annotations

import numpy as np


def property_map(coords, values, *, smiles=None, title: str = "", units: str = "", marker_size: int = 5):
    """Plotly scatter of 2-D ``coords`` [N, 2] coloured by a continuous property ``values``
    [N] (colour bar in ``units``); hovering shows the SMILES and the value."""
    import plotly.graph_objects as go

    coords, values = np.asarray(coords), np.asarray(values, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(values):
        raise ValueError(f"property_map needs coords [N, 2] and values [N], got {coords.shape} and {values.shape}")
    hover = None if smiles is None else [f"{s}<br>{v:.2f} {units}" for s, v in zip(smiles, values)]
    fig = go.Figure(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", text=hover,
                                 hoverinfo="text" if hover else None,
                                 marker=dict(size=marker_size, color=values, colorscale="Viridis",
                                             colorbar=dict(title=units), opacity=0.8)))
    fig.update_layout(title=title, width=560, height=480, xaxis_title="UMAP 1", yaxis_title="UMAP 2")
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
