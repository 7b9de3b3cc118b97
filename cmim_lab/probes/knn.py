"""The kNN probes (``knn-euclidean``, ``knn-cosine``) in torch: exact nearest neighbours from
float32 products, certified or re-ranked in float64 (:func:`knn_neighbours`), then a majority
vote (classification) or the neighbours' mean target (regression).

``cfg`` is an :class:`~cmim_lab.config.EvalConfig` throughout (checked by the entry points of
:mod:`cmim_lab.probes`; not imported here, which keeps the import chains short).
"""

from __future__ import annotations

import torch

from ..errors import check_choice, check_positive
from .diagnostics import Diagnostics
from .inputs import ROW_BLOCK, TorchData

KNN_METRICS = {"knn-euclidean": "euclidean", "knn-cosine": "cosine"}  # probe name -> metric
_KNN_EXTRA = 16  # candidates re-ranked exactly per test row beyond the k needed
_REFINE_ROWS = 256  # test rows per exact re-ranking block (memory: rows x candidates x D)
_F32_EPS = float(torch.finfo(torch.float32).eps) / 2  # unit roundoff u
_F64_EPS = float(torch.finfo(torch.float64).eps) / 2


def knn_predict(fit: TorchData, cfg, names, *, standardise: bool, diagnostics: Diagnostics) -> dict[str, torch.Tensor]:
    """{probe name: class codes [M] (majority vote of the ``cfg.knn_k`` nearest training
    codes, a tie to the lowest code) or mean targets [M]} for the kNN probes ``names``, all
    from one pass over the training codes (features as given; ``standardise`` is unused)."""
    diagnostics.knn_rows_refined = diagnostics.knn_rows_recomputed = 0
    metrics = [KNN_METRICS[n] for n in names]
    neighbours = knn_neighbours(
        fit.train_x, fit.test_x, cfg.knn_k, cfg.knn_chunk, metrics, ordered=False, diagnostics=diagnostics
    )
    out = {}
    for name, metric in zip(names, metrics):
        idx = neighbours[metric]
        out[name] = _vote(fit.train_codes[idx], fit.n_classes) if fit.classification else fit.train_t[idx].mean(1)
    return out


def _vote(codes: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Majority class code per row of ``codes`` [M, k]; a tie goes to the lowest code, as
    scikit-learn's vote (made explicit: count * n_classes - code has a unique maximum)."""
    counts = torch.zeros(len(codes), n_classes, dtype=torch.long, device=codes.device)
    counts.scatter_add_(1, codes, torch.ones_like(codes))
    return (counts * n_classes - torch.arange(n_classes, device=codes.device)).argmax(1)


def knn_neighbours(
    train_x: torch.Tensor,
    test_x: torch.Tensor,
    k: int,
    chunk: int,
    metrics=("euclidean", "cosine"),
    *,
    ordered: bool = True,
    diagnostics: Diagnostics | None = None,
) -> dict[str, torch.Tensor]:
    """Indices [M, k] (long, nearest first) of the ``k`` nearest rows of ``train_x`` [N, D]
    for each row of ``test_x`` [M, D], per metric (``euclidean``, ``cosine``), exact: the
    neighbours of exact arithmetic, equal distances going to the lower training index.
    Cosine distance is the Euclidean distance between L2-normalised rows; a zero row stays
    zero (as scikit-learn's ``Normalizer``), so it is at distance 1 from every nonzero row
    and 0 from every zero row.

    Per chunk of ``chunk`` test rows one float32 product [chunk, N] serves every metric and
    gives the ``k + 16`` best candidates. A row whose float32 distances separate the k-th
    from the (k+1)-th candidate (and, when ``ordered``, each of the first k from the next)
    by more than twice the worst-case float32 rounding error is certified as it is; the
    other rows re-rank their candidates with float64 distances computed directly, and are
    recomputed with a float64 product over all training rows (then, for exact ties, with
    direct float64 distances to every training row) when the candidates cannot be shown to
    hold the k nearest. ``ordered=False`` certifies the set only (its order may follow the
    float32 distances), which is all a vote or a mean needs. Features that are 0 in every
    training and test row are left out first (they change no distance). ``diagnostics``:
    its ``knn_`` counts are set (features) and added to (rows).
    """
    for m in metrics:
        check_choice("kNN metric", m, ("euclidean", "cosine"))
    check_positive("k", k, integer=True)
    check_positive("chunk", chunk, integer=True)
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    n, d = train_x.shape
    if k > n:
        raise ValueError(f"k={k} neighbours asked for, but train_x holds only {n} rows")
    used = (train_x != 0).any(0) | (test_x != 0).any(0)
    if not bool(used.all()):  # features that are 0 in every row (dead ReLU units) add nothing to any distance
        train_x, test_x = train_x[:, used], test_x[:, used]
        d = train_x.shape[1]
    diagnostics.knn_features = d
    ref = train_x if train_x.dtype == torch.float64 else train_x.to(torch.float32)
    train32 = ref.to(torch.float32)
    norm = torch.linalg.vector_norm(ref, dim=1, dtype=torch.float64)  # float64 norms, no float64 copy
    inv = torch.where(norm > 0, 1.0 / norm, torch.zeros_like(norm))
    unit = (norm > 0).to(torch.float64)  # |b / |b||^2: 1, or 0 for a zero row
    sq32, inv32, unit32 = (norm**2).to(torch.float32), inv.to(torch.float32), unit.to(torch.float32)
    bmax = float(norm.max())
    n_cand = min(n, k + _KNN_EXTRA)
    # worst-case float32 error of an inner product of rounded vectors, per |a||b|
    gamma = (d + 4) * _F32_EPS / (1 - (d + 4) * _F32_EPS)
    out = {m: [] for m in metrics}
    gram_buf = torch.empty(min(chunk, len(test_x)), n, dtype=torch.float32, device=ref.device)
    score_buf = torch.empty_like(gram_buf)  # both reused across chunks (no fresh pages per chunk)
    refined = recomputed = 0
    for start in range(0, len(test_x), chunk):
        a64 = test_x[start : start + chunk].to(torch.float64)
        m = len(a64)
        a_norm = torch.linalg.vector_norm(a64, dim=1)
        a_inv = torch.where(a_norm > 0, 1.0 / a_norm, torch.zeros_like(a_norm))
        # one product with the normalised test rows serves both metrics: g = (a / |a|) . b
        gram = torch.matmul((a64 * a_inv[:, None]).to(torch.float32), train32.T, out=gram_buf[:m])  # [m, N]
        for metric in metrics:
            if metric == "euclidean":  # |a - b|^2 = |a|^2 + (|b|^2 - 2 |a| g)
                score = torch.addcmul(sq32, gram, a_norm.to(torch.float32)[:, None], value=-2, out=score_buf[:m])
                err = 2.2 * gamma * a_norm * bmax + 8 * _F32_EPS * (bmax**2 + 2 * a_norm * bmax)
                offset = a_norm**2
            else:  # |a/|a| - b/|b||^2 = |a/|a||^2 + (|b/|b||^2 - 2 g / |b|)
                score = torch.addcmul(unit32, gram, inv32, value=-2, out=score_buf[:m])
                err = torch.full_like(a_norm, 2.2 * gamma + 16 * _F32_EPS)
                offset = (a_norm > 0).to(torch.float64)
            cand_score, cand = torch.topk(score, n_cand, dim=1, largest=False, sorted=True)
            approx = cand_score.to(torch.float64) + offset[:, None]  # distances, ascending
            idx = cand[:, :k].clone()
            if n_cand > k:  # certified rows: the float32 gaps exceed twice the error bound
                gaps = approx[:, 1 : k + 1] - approx[:, :k] if ordered else approx[:, k] - approx[:, k - 1]
                sure = (gaps if gaps.dim() == 1 else gaps.min(1).values) > 2 * err
            else:  # every training row is a candidate: the set is certain, the order is not
                sure = torch.full_like(a_norm, not ordered, dtype=torch.bool)
            unsure = (~sure).nonzero().flatten()
            refined += len(unsure)
            if len(unsure):
                bound = approx[unsure, -1] - err[unsure]  # no non-candidate is nearer than this
                idx[unsure], bad = _refine(
                    a64[unsure], a_inv[unsure], ref, norm, inv, cand[unsure], bound, k, metric, n
                )
                recomputed += bad
            out[metric].append(idx)
    diagnostics.knn_rows_refined = (diagnostics.knn_rows_refined or 0) + refined
    diagnostics.knn_rows_recomputed = (diagnostics.knn_rows_recomputed or 0) + recomputed
    return {m: torch.cat(v) for m, v in out.items()}


def _exact_dist(a64, a_inv, rows, b_inv, metric):
    """Squared distances [m, c] between a [m, D] (float64) and rows [m, c, D] (any float
    dtype), from float64 differences (no cancellation: relative error ~ D * 1e-16)."""
    if metric == "cosine":
        a64 = a64 * a_inv[:, None]
        rows = rows * b_inv[..., None]
    diff = rows - a64[:, None, :]  # float64 by type promotion
    return diff.mul_(diff).sum(-1)


def _sort_by_distance_then_index(dist, idx):
    """Sort candidates [m, c] by (distance, index)."""
    idx, order = idx.sort(dim=1)
    dist = dist.gather(1, order)
    dist, order = dist.sort(dim=1, stable=True)
    return dist, idx.gather(1, order)


def _refine(a64, a_inv, ref, norm, inv, cand, bound, k, metric, n):
    """(indices [m, k], rows recomputed): candidates [m, c] re-ranked exactly; rows whose
    k-th exact distance is not below ``bound`` [m] (the least distance a non-candidate can
    have) are recomputed."""
    result = torch.empty(len(cand), k, dtype=torch.long, device=cand.device)
    ok = torch.empty(len(cand), dtype=torch.bool, device=cand.device)
    for s in range(0, len(cand), _REFINE_ROWS):
        c = cand[s : s + _REFINE_ROWS]
        rows = ref[c]
        dist = _exact_dist(a64[s : s + _REFINE_ROWS], a_inv[s : s + _REFINE_ROWS], rows, inv[c], metric)
        dist, idx = _sort_by_distance_then_index(dist, c)
        result[s : s + _REFINE_ROWS] = idx[:, :k]
        ok[s : s + _REFINE_ROWS] = (dist[:, k - 1] < bound[s : s + _REFINE_ROWS]) | (c.shape[1] == n)
    bad = (~ok).nonzero().flatten()
    for s in range(0, len(bad), _REFINE_ROWS):
        rows = bad[s : s + _REFINE_ROWS]
        result[rows] = _knn_float64(a64[rows], a_inv[rows], ref, norm, inv, k, metric)
    return result, len(bad)


def _knn_float64(a64, a_inv, ref, norm, inv, k, metric):
    """The slow, certain path for a few rows a [r, D]: a float64 Gram matrix, then exact
    distances to every training row where rounding could still matter."""
    n, d = ref.shape
    b_blocks = ROW_BLOCK
    if metric == "cosine":
        a = a64 * a_inv[:, None]
        unit = (norm > 0).to(torch.float64)
        offset = (a_inv > 0).to(torch.float64)
        score = torch.cat(
            [
                unit[j : j + b_blocks]
                - 2 * (a @ (ref[j : j + b_blocks].to(torch.float64) * inv[j : j + b_blocks, None]).T)
                for j in range(0, n, b_blocks)
            ],
            dim=1,
        )
        err = 2.2 * (d + 4) * _F64_EPS * 3 + 12 * _F64_EPS
    else:
        a = a64
        sq = norm**2
        offset = (a64**2).sum(1)
        score = torch.cat(
            [sq[j : j + b_blocks] - 2 * (a @ ref[j : j + b_blocks].to(torch.float64).T) for j in range(0, n, b_blocks)],
            dim=1,
        )
        bmax = float(norm.max())
        an = a64.norm(dim=1)
        err = 2.2 * (d + 4) * _F64_EPS * an * bmax + 4 * _F64_EPS * (bmax**2 + 2 * an * bmax)
    n_cand = min(n, k + _KNN_EXTRA)
    cand_score, cand = torch.topk(score, n_cand, dim=1, largest=False, sorted=True)
    dist = _exact_dist(a64, a_inv, ref[cand], inv[cand], metric)
    dist, idx = _sort_by_distance_then_index(dist, cand)
    bound = cand_score[:, -1] + offset - err
    ok = (dist[:, k - 1] < bound) | (n_cand == n)
    result = idx[:, :k].clone()
    for r in (~ok).nonzero().flatten().tolist():  # exact ties: every training row, exactly
        full = torch.cat(
            [
                _exact_dist(
                    a64[r : r + 1], a_inv[r : r + 1], ref[None, j : j + b_blocks], inv[None, j : j + b_blocks], metric
                )[0]
                for j in range(0, n, b_blocks)
            ]
        )
        order = torch.sort(full, stable=True).indices
        result[r] = order[:k]
    return result
