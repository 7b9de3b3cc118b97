"""The ``ridge`` probe in torch: ridge regression with the penalty chosen by exact
leave-one-out error, as scikit-learn's ``RidgeCV`` (:func:`fit_ridge`).

``cfg`` is an :class:`~cmim_lab.config.EvalConfig` throughout (checked by the entry points of
:mod:`cmim_lab.probes`; not imported here, which keeps the import chains short).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .diagnostics import Diagnostics
from .inputs import TorchData, as_numpy, standardise_targets, to_tensor


@dataclass
class RidgeFit:
    """A fitted ridge probe: ``alpha`` chosen from the candidates, ``loo_mse`` [n_alphas]
    (mean squared leave-one-out error of each candidate, in squared units of the targets
    as fitted), ``coef`` [D] and ``intercept`` for the features as fitted."""

    alpha: float
    loo_mse: torch.Tensor
    coef: torch.Tensor
    intercept: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions [M] (float64) for features ``x`` [M, D] prepared as in the fit."""
        return x.to(torch.float64) @ self.coef + self.intercept


def ridge_predict(
    fit: TorchData, cfg, names, *, standardise: bool, diagnostics: Diagnostics
) -> dict[str, torch.Tensor]:
    """{``ridge``: predicted targets [M] (float64, original units)}: features standardised
    unless ``standardise`` is False, targets standardised and mapped back. Constant features
    get weight 0, so constant codes predict the training mean target."""
    y, (y_mean, y_scale) = standardise_targets(fit.train_t)
    if standardise:
        train, test = fit.standardised(torch.float64)
    else:
        train, test = fit.train_x.to(torch.float64), fit.test_x.to(torch.float64)
    model = fit_ridge(train, y, cfg.ridge_alphas)
    return {name: model.predict(test) * y_scale + y_mean for name in names}


def fit_ridge(x, y, alphas) -> RidgeFit:
    """Ridge regression of targets ``y`` [N] on features ``x`` [N, D] (used as given), the
    penalty chosen from ``alphas`` by exact leave-one-out squared error, the intercept
    unpenalised (features and targets centred), all from one eigendecomposition of the
    centred Gram matrix (D x D when N > D, else N x N), as scikit-learn's ``RidgeCV``;
    ties between penalties go to the first in ``alphas``."""
    x = to_tensor(x, x.device if isinstance(x, torch.Tensor) else torch.device("cpu")).to(torch.float64)
    y = torch.as_tensor(as_numpy(y), dtype=torch.float64, device=x.device)
    alphas = [float(a) for a in alphas]
    n, d = x.shape
    x_mean, y_mean = x.mean(0), y.mean()
    xc, yc = x - x_mean, y - y_mean
    if n > d:  # xc = U S V^T via the eigendecomposition of xc^T xc = V S^2 V^T
        evals, v = torch.linalg.eigh(xc.T @ xc)
        evals = evals.clamp_min(0)
        p = xc @ v  # U S, [N, D]
        py = p.T @ yc  # S U^T y
        p2 = p**2
    else:  # xc xc^T = Q L Q^T
        evals, q = torch.linalg.eigh(xc @ xc.T)
        evals = evals.clamp_min(0)
        qy = q.T @ yc
    loo = []
    for alpha in alphas:
        if n > d:
            fitted = p @ (py / (evals + alpha))
            hat = p2 @ (1.0 / (evals + alpha))
        else:
            shrink = evals / (evals + alpha)
            fitted = q @ (shrink * qy)
            hat = (q**2) @ shrink
        hat = hat + 1.0 / n  # the unpenalised intercept
        loo.append((((yc - fitted) / (1 - hat)) ** 2).mean())
    loo = torch.stack(loo)
    best = int(torch.argmin(loo))  # first minimum
    alpha = alphas[best]
    if n > d:
        coef = v @ (py / (evals + alpha))
    else:
        coef = xc.T @ (q @ (qy / (evals + alpha)))
    return RidgeFit(alpha, loo, coef, float(y_mean - x_mean @ coef))
