"""The ``mlp`` probe in torch: one hidden ReLU layer trained by Adam with early stopping on a
held-out share, as scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` (:func:`mlp_predict`).

``cfg`` is an :class:`~cmim_lab.config.EvalConfig` throughout (checked by the entry points of
:mod:`cmim_lab.probes`; not imported here, which keeps the import chains short).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .compute import single_thread
from .diagnostics import Diagnostics
from .inputs import MIN_EARLY_STOPPING, TorchData, standardise_targets

_SMALL_STEP_MACS = 1 << 22  # multiply-adds per MLP step below which it trains single-threaded


def mlp_predict(fit: TorchData, cfg, names, *, standardise: bool, diagnostics: Diagnostics) -> dict[str, torch.Tensor]:
    """{``mlp``: class codes or predicted targets [M]} of the MLP probe (see :func:`train_mlp`).
    When no feature varies over the training codes the network's output cannot depend on
    them: nothing is trained (``mlp_epochs`` 0) and the probe predicts what training
    converges to, the most frequent class (a tie: the lowest) or the training mean target."""
    if fit.features_vary():
        pred, epochs = train_mlp(fit, cfg, standardise=standardise)
    else:
        pred, epochs = fit.chance(), 0
    diagnostics.mlp_epochs = epochs
    return {name: pred for name in names}


def train_mlp(fit: TorchData, cfg, *, standardise: bool) -> tuple[torch.Tensor, int]:
    """(class codes [M] or targets [M] (float64, original units), epochs trained).

    Features standardised (regression: unless ``standardise`` is False), one hidden layer
    of ``cfg.mlp_hidden`` ReLU units, softmax output (two classes: one logistic unit;
    regression: one linear unit on standardised targets), Adam (``cfg.mlp_lr``, fused
    where this torch has it) on mini-batches of ``cfg.mlp_batch_size``, loss = batch-mean
    cross-entropy (regression: half the batch-mean squared error) + ``cfg.mlp_alpha / (2 B)
    * ||W||^2`` (weights only, B = the batch's size), Glorot-uniform initialisation. A
    held-out ``cfg.mlp_val_fraction`` of the training codes (stratified for classification)
    is scored after every epoch (accuracy; regression: R^2); training stops once the score
    has not improved for more than ``cfg.mlp_patience`` epochs in a row or after
    ``cfg.mlp_max_epochs``, and the best epoch's weights are kept. Below
    :data:`MIN_EARLY_STOPPING` training codes it trains every epoch on all of them. All
    draws come from a CPU ``torch.Generator`` seeded with ``cfg.seed``. Computed in the
    embeddings' dtype; ``cfg.mlp_precision="bfloat16"`` stores the codes and computes the
    hidden layer's products in bfloat16 (float32 accumulation)."""
    dev = fit.device
    gen = torch.Generator().manual_seed(cfg.seed)  # CPU generator: the same draws on every device
    dtype = fit.train_x.dtype  # float32 embeddings train in float32, float64 ones in float64
    # bfloat16: the codes are stored, and the hidden layer's products computed, in bfloat16
    # (float32 accumulation); weights, Adam and everything after the hidden layer stay in dtype
    low = torch.bfloat16 if cfg.mlp_precision == "bfloat16" else None
    classification = fit.classification
    if classification or standardise:
        train, test = fit.standardised(low)
    else:
        train, test = fit.train_x.to(low or dtype), fit.test_x.to(low or dtype)
    n, d = train.shape
    if classification:
        n_out = 1 if fit.n_classes == 2 else fit.n_classes
        target = fit.train_codes
    else:
        n_out = 1
        target, (t_mean, t_scale) = standardise_targets(fit.train_t)
        target = target.to(dtype)
    if n >= MIN_EARLY_STOPPING:
        val_idx, fit_idx = _holdout(fit.train_codes.cpu() if classification else None, n, cfg.mlp_val_fraction, gen)
        x_val, t_val = train[val_idx.to(dev)], target[val_idx.to(dev)]
    else:
        x_val = t_val = None
        fit_idx = torch.arange(n)
    params = _glorot([(d, cfg.mlp_hidden), (cfg.mlp_hidden, n_out)], gen, dev, dtype)
    w1, b1, w2, b2 = params
    n_fit = len(fit_idx)
    batch = min(cfg.mlp_batch_size, n_fit)
    # L2 as Adam's (coupled) weight decay on the weights: grad += mlp_alpha / B * W, the
    # gradient of mlp_alpha / (2 B) * ||W||^2; fused: one kernel per tensor and step
    opt = _adam([{"params": [w1, w2], "weight_decay": cfg.mlp_alpha / batch}, {"params": [b1, b2]}], cfg.mlp_lr)

    def forward(x):
        if low is None:
            return torch.addmm(b2, torch.relu(torch.addmm(b1, x, w1)), w2)
        hidden = torch.relu(torch.addmm(b1.to(low), x, w1.to(low))).to(dtype)
        return torch.addmm(b2, hidden, w2)

    def loss_fn(out, t):
        if not classification:
            return 0.5 * F.mse_loss(out[:, 0], t)
        if n_out == 1:
            return F.binary_cross_entropy_with_logits(out[:, 0], t.to(out.dtype))
        return F.cross_entropy(out, t)

    @torch.no_grad()
    def val_score():
        out = forward(x_val)
        if classification:
            pred = (out[:, 0] > 0).long() if n_out == 1 else out.argmax(1)
            return float((pred == t_val).double().mean())
        resid = ((out[:, 0].double() - t_val.double()) ** 2).sum()
        total = ((t_val.double() - t_val.double().mean()) ** 2).sum()
        return float(1 - resid / total) if total > 0 else (1.0 if resid == 0 else 0.0)

    best, best_params, stale, epochs = -math.inf, None, 0, 0
    # a small network's steps are too small to share between threads: one thread is faster
    # and does not stall when other processes hold the cores
    small = dev.type == "cpu" and batch * (d * cfg.mlp_hidden + cfg.mlp_hidden * n_out) < _SMALL_STEP_MACS
    with single_thread(small):
        for epochs in range(1, cfg.mlp_max_epochs + 1):  # noqa: B007  (read after the loop)
            order = fit_idx[torch.randperm(n_fit, generator=gen)].to(dev)
            xs, ts = train[order], target[order]  # one gather per epoch, then contiguous batches
            for s in range(0, n_fit, batch):
                xb, tb = xs[s : s + batch], ts[s : s + batch]
                opt.param_groups[0]["weight_decay"] = cfg.mlp_alpha / len(xb)  # the last batch may be smaller
                loss = loss_fn(forward(xb), tb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if x_val is None:
                continue
            score = val_score()
            if score > best:
                best, best_params, stale = score, [p.detach().clone() for p in params], 0
            else:
                stale += 1
                if stale > cfg.mlp_patience:
                    break
    if best_params is not None:
        with torch.no_grad():
            for p, q in zip(params, best_params):
                p.copy_(q)
    with torch.no_grad():
        out = forward(test)
    if classification:
        return ((out[:, 0] > 0).long() if n_out == 1 else out.argmax(1)), epochs
    return out[:, 0].double() * t_scale + t_mean, epochs


def _adam(groups, lr: float) -> torch.optim.Adam:
    """Adam with its fused kernel where this torch has one for the device (CPU: torch >= 2.4)."""
    try:
        return torch.optim.Adam(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(groups, lr=lr)


def _holdout(codes, n: int, fraction: float, gen: torch.Generator):
    """(validation indices, training indices): ``ceil(fraction * n)`` codes held out
    (at least 1, at most n - 1), stratified by class when ``codes`` [n] is given (each
    class's share by largest remainder)."""
    n_val = min(max(math.ceil(fraction * n), 1), n - 1)
    perm = torch.randperm(n, generator=gen)
    if codes is None:
        return perm[:n_val].sort().values, perm[n_val:].sort().values
    codes = codes[perm]
    order = torch.sort(codes, stable=True).indices  # by class, random within a class
    counts = torch.bincount(codes).double()
    share = counts * n_val / n
    take = share.floor().long()
    extra = n_val - int(take.sum())
    if extra > 0:
        rema = share - take
        take[torch.sort(rema, descending=True, stable=True).indices[:extra]] += 1
    starts = torch.cumsum(counts.long(), 0) - counts.long()
    pos = torch.arange(n) - starts[codes[order]]
    is_val = pos < take[codes[order]]
    sel = perm[order]
    return sel[is_val].sort().values, sel[~is_val].sort().values


def _glorot(shapes, gen, device, dtype):
    """Weights and biases, uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot, as
    scikit-learn's MLP), drawn on the CPU from ``gen``: [w1, b1, w2, b2, ...]."""
    weights, biases = [], []
    for fan_in, fan_out in shapes:
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weights.append((torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float32) * 2 - 1) * bound)
        biases.append((torch.rand(fan_out, generator=gen, dtype=torch.float32) * 2 - 1) * bound)
    params = []
    for w, b in zip(weights, biases):
        params += [w.to(device, dtype).requires_grad_(), b.to(device, dtype).requires_grad_()]
    return params
