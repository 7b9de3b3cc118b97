"""The ``linear`` probe in torch: multinomial logistic regression with scikit-learn's objective,
solved by full-batch L-BFGS in well-conditioned coordinates (:func:`fit_logistic`).

``cfg`` is an :class:`~cmim_lab.config.EvalConfig` throughout (checked by the entry points of
:mod:`cmim_lab.probes`; not imported here, which keeps the import chains short).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .compute import single_thread
from .diagnostics import Diagnostics
from .inputs import TorchData, as_numpy, standardise, to_tensor

_LBFGS_HISTORY = 20  # pairs of L-BFGS memory (the cost per iteration is dominated by the two products with X)
_LINE_SEARCH_EVALS = 50  # at most this many evaluations per line search (scikit-learn's maxls)
_SMALL_PASS_MACS = 1 << 26  # multiply-adds per logistic product below which L-BFGS runs single-threaded


@dataclass
class LogisticFit:
    """A fitted logistic probe: ``coef`` [K, D] and ``intercept`` [K] (float64; K = 1 for
    two classes, the binomial form) on features standardised with ``mean`` [D] and
    ``scale`` [D]; ``n_iter`` L-BFGS iterations; ``grad_max`` the largest entry of the
    final gradient of the per-sample-mean objective; ``n_evaluations`` evaluations of the
    objective (two products with the features each)."""

    coef: torch.Tensor
    intercept: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    n_iter: int
    grad_max: float
    n_evaluations: int = 0

    def decision(self, x: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """Logits [M, K] (float64) of features ``x`` [M, D]: raw, or already standardised
        with ``mean`` and ``scale``."""
        xs = x.to(torch.float64) if standardised else (x.to(torch.float64) - self.mean) / self.scale
        return xs @ self.coef.T + self.intercept

    def predict_codes(self, x: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """Class codes [M] (0..n_classes-1) of features ``x`` [M, D] (see :meth:`decision`)."""
        z = self.decision(x, standardised)
        return (z[:, 0] > 0).long() if z.shape[1] == 1 else z.argmax(1)


def linear_predict(
    fit: TorchData, cfg, names, *, standardise: bool, diagnostics: Diagnostics
) -> dict[str, torch.Tensor]:
    """{``linear``: class codes [M]} of the logistic probe fitted on the standardised
    training codes (always standardised; ``standardise`` is unused)."""
    train, test = fit.standardised()
    model = _fit_logistic_standardised(train, fit.train_codes, fit.n_classes, cfg, fit.stats)
    diagnostics.linear_iterations, diagnostics.linear_evaluations = model.n_iter, model.n_evaluations
    return {name: model.predict_codes(test, standardised=True) for name in names}


def fit_logistic(train_x, train_y, cfg, *, device=None) -> LogisticFit:
    """Fit the ``linear`` probe on ``train_x`` [N, D] and labels ``train_y`` [N] (codes
    follow the sorted unique labels, as scikit-learn's ``classes_``): features standardised
    with the training mean and population std, then ``C * sum_i CE_i + 0.5 * ||W||^2``
    (``C = cfg.linear_c``, intercept unpenalised) minimised until the largest gradient entry
    of the per-sample-mean objective is at most ``cfg.linear_tol`` or after
    ``cfg.linear_max_iter`` iterations."""
    x = to_tensor(
        train_x,
        torch.device(device)
        if device is not None
        else (train_x.device if isinstance(train_x, torch.Tensor) else torch.device("cpu")),
    )
    classes, codes = np.unique(as_numpy(train_y), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"train_y holds fewer than two classes ({classes.tolist()})")
    (xs,), stats = standardise(x)
    return _fit_logistic_standardised(xs, torch.as_tensor(codes.reshape(-1), device=x.device), len(classes), cfg, stats)


def logistic_objective(coef, intercept, x, codes, c: float) -> float:
    """scikit-learn's objective ``C * sum_i CE_i + 0.5 * ||coef||^2`` (nats; float64) of the
    weights ``coef`` [K, D], ``intercept`` [K] on standardised features ``x`` [N, D] with
    class codes ``codes`` [N] (K = 1: binomial loss for two classes)."""
    coef = torch.as_tensor(np.asarray(as_numpy(coef)), dtype=torch.float64)
    intercept = torch.as_tensor(np.asarray(as_numpy(intercept)), dtype=torch.float64)
    x = torch.as_tensor(np.asarray(as_numpy(x)), dtype=torch.float64)
    codes = torch.as_tensor(np.asarray(as_numpy(codes))).long()
    z = x @ coef.T + intercept
    if coef.shape[0] == 1:
        ce = F.binary_cross_entropy_with_logits(z[:, 0], codes.to(torch.float64), reduction="sum")
    else:
        ce = F.cross_entropy(z, codes, reduction="sum")
    return float(c * ce + 0.5 * (coef**2).sum())


def _fit_logistic_standardised(xs: torch.Tensor, codes: torch.Tensor, n_classes: int, cfg, stats) -> LogisticFit:
    """The ``linear`` probe on standardised features ``xs`` [N, D] (``stats``: their
    (mean, scale)) and class codes [N] (0..n_classes-1); see :func:`fit_logistic`.

    Minimises f(W, b) = C sum_i CE_i + 1/2 ||W||^2 over W' with W = W' A^T, where
    A = V (E + 1/(C N))^-1/2 comes from the eigendecomposition V E V^T of the standardised
    features' second moment X^T X / N: the same objective in better-conditioned coordinates
    (its minimiser is unique, whatever the coordinates). Stops when the largest entry of
    df/dW, df/db divided by C N (the gradient of scikit-learn's per-sample-mean objective)
    is at most ``cfg.linear_tol``. The products with X [N, D] (two per evaluation) run in
    the embeddings' dtype, everything else in float64. Features that are 0 in every row
    (constant before standardising) are left out: their optimal weights are exactly 0. When
    none is left (the codes of a collapsed model) only the intercepts are fitted, which
    converge to the log class frequencies: the most frequent class is predicted, as by
    scikit-learn."""
    mean, scale = stats
    n, d_all = xs.shape
    live = (xs != 0).any(0)
    if not bool(live.all()):
        xs = xs[:, live]
    n, d = xs.shape
    c = float(cfg.linear_c)
    gram = (xs.T @ xs).to(torch.float64) / n
    evals, evecs = torch.linalg.eigh(gram)
    root = (evals.clamp_min(0) + 1.0 / (c * n)).sqrt()
    a_mat = evecs / root  # A [D, D]
    k = 1 if n_classes == 2 else n_classes
    w = torch.zeros(k, d + 1, dtype=torch.float64, device=xs.device, requires_grad=True)
    rows = torch.arange(n, device=xs.device)
    target = codes.to(torch.float64)
    cache = {"evaluations": 0}

    def weights(wp):
        return wp[:, :d] @ a_mat.T, wp[:, d]

    def objective():
        key = w.detach().clone()
        if "key" in cache and torch.equal(cache["key"], key):
            w.grad = cache["grad"].clone()
            return cache["loss"]
        with torch.no_grad():
            coef, b = weights(w)
            z = (xs @ coef.T.to(xs.dtype)).to(torch.float64) + b  # logits [N, k]
            if k == 1:
                ce = F.binary_cross_entropy_with_logits(z[:, 0], target, reduction="sum")
                resid = torch.sigmoid(z) - target[:, None]  # dCE_i/dz_i [N, 1]
            else:
                logp = torch.log_softmax(z, dim=1)
                ce = -logp[rows, codes].sum()
                resid = logp.exp_()
                resid[rows, codes] -= 1  # dCE_i/dz_i [N, k]
            data_grad = (resid.T.to(xs.dtype) @ xs).to(torch.float64)  # [k, D]
            loss = c * ce + 0.5 * (coef**2).sum()
            grad_coef = c * data_grad + coef  # df/dW [k, D]
            grad = torch.empty_like(w)
            grad[:, :d] = grad_coef @ a_mat  # df/dW'
            grad[:, d] = c * resid.sum(0)
        w.grad = grad
        coef_max = float(grad_coef.abs().max()) if d else 0.0
        grad_max = max(coef_max, float(grad[:, d].abs().max())) / (c * n)
        cache.update(key=key, grad=grad.clone(), loss=loss, grad_max=grad_max, evaluations=cache["evaluations"] + 1)
        return loss

    opt = torch.optim.LBFGS(
        [w],
        lr=1,
        max_iter=1,
        max_eval=1 + _LINE_SEARCH_EVALS,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=_LBFGS_HISTORY,
        line_search_fn="strong_wolfe",
    )
    n_iter = 0
    with single_thread(xs.device.type == "cpu" and n * d * k < _SMALL_PASS_MACS):
        objective()
        while cache["grad_max"] > cfg.linear_tol and n_iter < cfg.linear_max_iter:
            before = w.detach().clone()
            opt.step(objective)
            n_iter += 1
            objective()  # the gradient at the accepted point (cached)
            if torch.equal(before, w.detach()):  # the line search made no progress: converged to rounding
                break
    with torch.no_grad():
        coef, b = weights(w)
        full = torch.zeros(k, d_all, dtype=torch.float64, device=xs.device)
        full[:, live] = coef
        return LogisticFit(full, b.clone(), mean, scale, n_iter, cache["grad_max"], cache["evaluations"])
