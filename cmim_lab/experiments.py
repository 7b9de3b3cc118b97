"""Small comparison helpers the notebooks build their stories on.

``compare`` trains (or loads) a set of labelled configs on one dataset and returns one
table row per model: the final value of every training term, probe accuracies and the
generative/clustering metrics. Models are cached, so notebooks share them.
"""
from __future__ import annotations

import pandas as pd

from .config import TrainConfig
from .evaluation import probe_scores, probe_subset
from .embeddings import embed


def compare(configs: dict[str, TrainConfig], data, *, embeddings=("mean",), probes=("knn-cosine", "linear"),
            probe_n_train=10_000, clustering: bool = True, device="auto", progress: bool = True):
    """Train/load every ``configs[label]`` on ``data``; return ({label: TrainResult}, table).

    Table columns: ``label``, config fields that differ between the configs, ``final_<term>``
    for each training term (last epoch mean, in the config's reduction), ``<embedding>/<probe>``
    accuracies, and the metrics of :func:`cmim_lab.evaluation.evaluate`.
    """
    from .benchmark import cached_evaluate
    from .trainer import load_or_train

    results, rows = {}, []
    dicts = {label: cfg.to_dict() for label, cfg in configs.items()}
    varying = [k for k in TrainConfig().to_dict() if len({str(d[k]) for d in dicts.values()}) > 1]
    for label, cfg in configs.items():
        res = load_or_train(cfg, data, device=device, progress=progress)
        ev = cached_evaluate(res, data, embeddings=tuple(embeddings), probes=tuple(probes),
                             probe_n_train=probe_n_train, seed=cfg.seed, clustering=clustering, device=None)
        last = res.history.iloc[-1]
        row = {"label": label, **{k: dicts[label][k] for k in varying}}
        row.update({f"final_{k}": float(last[k]) for k in last.index
                    if k not in ("epoch", "step", "seconds", "samples_per_s")})
        row.update({f"{kind}/{p}": acc for kind, scores in ev.probes.items() for p, acc in scores.items()})
        row.update({k: v for k, v in ev.metrics.items() if k != "latent_dim"})
        results[label] = res
        rows.append(row)
    return results, pd.DataFrame(rows)


def embedding_ablation(model, data, variants: dict[str, dict], *, probes=("knn-cosine", "linear"),
                       probe_n_train=10_000, seed: int = 0) -> pd.DataFrame:
    """Probe accuracies for several embeddings of one model.

    ``variants``: {name: keyword arguments of :func:`cmim_lab.embeddings.embed`}, e.g.
    ``{"mu": {"kind": "mean"}, "X, last layer": {"kind": "informative", "layers": [-1]}}``.
    Returns one row per variant with its width and accuracy per probe.
    """
    idx = probe_subset(data.y_train, probe_n_train, seed)
    rows = []
    for name, kwargs in variants.items():
        train_e = embed(model, data.x_train[idx], **kwargs)
        test_e = embed(model, data.x_test, **kwargs)
        scores = probe_scores(train_e, data.y_train[idx], test_e, data.y_test, probes, seed)
        rows.append({"embedding": name, "width": train_e.shape[1], **scores})
    return pd.DataFrame(rows)
