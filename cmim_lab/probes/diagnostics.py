"""Solver counts of the torch probes, for benchmarks: passed in by the caller, filled in by the probes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class Diagnostics:
    """What the torch probes of one call did, each field named ``<family>_<count>`` after
    the probe family that fills it (``knn``, ``linear``, ``mlp``); None: that family did not
    run. The scikit-learn backend fills nothing.

    Attributes:
        knn_features: features left after dropping those 0 in every training and test row.
        knn_rows_refined: test rows whose float32 distances did not certify the neighbours
            (re-ranked with float64 distances), summed over metrics.
        knn_rows_recomputed: of those, rows recomputed against every training row.
        linear_iterations: L-BFGS iterations of the last logistic fit.
        linear_evaluations: objective evaluations (two products with the features each) of
            that fit.
        mlp_epochs: epochs the last MLP trained (0: no feature varies, nothing to train).
    """

    knn_features: int | None = None
    knn_rows_refined: int | None = None
    knn_rows_recomputed: int | None = None
    linear_iterations: int | None = None
    linear_evaluations: int | None = None
    mlp_epochs: int | None = None

    def of(self, probe: str) -> dict[str, int]:
        """The filled-in fields of probe ``probe``'s family (``knn-cosine`` -> the ``knn_``
        fields), as {field: count}."""
        family = probe.split("-")[0] + "_"
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.startswith(family) and getattr(self, f.name) is not None
        }
