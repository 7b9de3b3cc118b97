"""Evaluating molecule models: regression probes on frozen embeddings, the Morgan
fingerprint baseline, and the generative side.

Regression (:func:`evaluate_property`): embed every molecule of a property dataset with
the model's own vocabulary (``mean`` = mu, ``informative`` = mu plus the teacher-forced
decoder states, -X), fit the regression probes of an :class:`~cmim_lab.config.EvalConfig`
(:func:`property_eval_config`: kNN Euclidean/cosine, ridge, MLP; :mod:`cmim_lab.probes`, in
torch or scikit-learn after ``backend``) on the split's train part and report test RMSE in
the target's units (lower is better).

Baseline (:func:`fingerprint_scores`): ECFP4 (Morgan, radius 2, 2,048 bits) with the same
probes on the same splits.

Generative side (:func:`generation_metrics`, on held-out corpus molecules):

* ``recon_nll``       -log p(x|mu), nats per molecule (teacher-forced, from mu);
* ``token_nll``       the same per target token (nats per token);
* ``token_accuracy``  share of target tokens whose teacher-forced argmax is right;
* ``exact_match``     share of molecules whose greedy decoding from mu is exactly the input
  (canonical) SMILES;
* ``valid_recon``     share of those greedy decodings that RDKit parses;
* ``valid_prior``     share of greedy decodings of z ~ N(0, I) that RDKit parses;
* ``unique_prior``    distinct canonical molecules among the valid prior decodings / their count;
* posterior statistics as for images (``mean_sigma``, ``frac_logvar_at_floor``, ``active_units``).

Both evaluators have the study engine's signature ``(model, data, eval_config, *,
likelihood, device, **params)`` (see :class:`cmim_lab.studies.engine.EvalTask`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..config import REGRESSION_PROBES, EvalConfig
from ..embeddings import embed
from ..errors import check_choice
from ..evaluation import EvalResult, posterior_stats
from ..probes import regression_scores
from .data import PropertySplit
from .nets import token_nll
from .smiles import PAD_ID, canonical, invalid_report, invalid_smiles, morgan_fingerprints

FINGERPRINT = {"radius": 2, "n_bits": 2048}
N_GENERATE = 1000  # held-out molecules reconstructed, and prior samples decoded, by generation_metrics
MAX_GENERATE = 100_000
ON_INVALID = ("error", "skip")  # what embed_smiles does with invalid SMILES


def property_eval_config(**fields) -> EvalConfig:
    """The :class:`~cmim_lab.config.EvalConfig` of the property tasks: the regression probes,
    no clustering, every training molecule of a split (``probe_n_train`` None), and up to
    500 MLP epochs (a few hundred molecules per split converge slowly; the benchmark's
    published numbers used this cap); ``fields`` override named settings."""
    return EvalConfig(probes=REGRESSION_PROBES, probe_n_train=None, clustering=False, mlp_max_epochs=500).replace(
        **fields
    )


def evaluate_property(
    model, split: PropertySplit, eval_config: EvalConfig | None = None, *, likelihood: str | None = None, device=None
) -> EvalResult:
    """Regression probes on frozen embeddings of one split of a property dataset.

    ``eval_config``: the embeddings (``embeddings``), probes and their settings (default
    :func:`property_eval_config`); its ``seed`` seeds the MLP probe. ``likelihood`` is
    unused (the study engine passes the model's). Returns an
    :class:`~cmim_lab.evaluation.EvalResult` whose ``probes`` are {embedding kind: {probe:
    test RMSE in the target's units}} and whose ``info`` says lower is better.
    """
    cfg = eval_config or property_eval_config()
    result = EvalResult(
        info={
            **split.info,
            "higher_is_better": False,
            "score": "rmse",
            "unknown_token_fraction": model.vocab.unknown_fraction(split.data.smiles),
        }
    )
    for kind in cfg.embeddings:
        e = embed_smiles(model, split.data.smiles, kind, layers=cfg.layers, device=device)
        result.probes[kind] = regression_scores(
            e[split.train], split.y_train, e[split.test], split.y_test, cfg, device=device
        )
    return result


def embed_smiles(
    model, smiles, kind: str = "mean", *, on_invalid: str = "error", batch_size: int = 256, device=None, **kwargs
) -> np.ndarray:
    """:func:`~cmim_lab.embeddings.embed` of N SMILES strings under the model's vocabulary:
    float32 [N, D] in the input order. Molecules are embedded in order of length, so a
    batch is padded only to its own longest SMILES (the result does not depend on it).

    Every SMILES is checked with RDKit first. Invalid ones (not a string, empty, unparsable)
    are reported with their count and up to five examples: ``on_invalid="error"`` (default)
    raises ``ValueError``; ``"skip"`` warns and embeds the valid ones only, returning
    [N_valid, D] in input order (:func:`~cmim_lab.molecules.smiles.invalid_smiles` gives
    the indices left out)."""
    check_choice("on_invalid", on_invalid, ON_INVALID)
    if isinstance(smiles, (str, bytes)) or not hasattr(smiles, "__len__"):
        raise ValueError(f"smiles must be a list of SMILES strings, got {type(smiles).__name__} {smiles!r:.60}")
    smiles = list(smiles)
    if not smiles:
        raise ValueError("smiles is empty: nothing to embed")
    invalid = invalid_smiles(smiles)
    if invalid:
        report = invalid_report(smiles, invalid)
        if on_invalid == "error":
            raise ValueError(f"{report}; pass on_invalid='skip' to embed only the valid ones")
        if len(invalid) == len(smiles):
            raise ValueError(f"{report}; none is left to embed")
        warnings.warn(
            f"{report}; excluded (on_invalid='skip'): the embeddings hold the {len(smiles) - len(invalid)} "
            f"valid ones in input order",
            stacklevel=2,
        )
        bad = set(invalid)
        smiles = [s for i, s in enumerate(smiles) if i not in bad]
    tokens = model.vocab.encode_batch(smiles)
    order = np.argsort((tokens != PAD_ID).sum(1).numpy(), kind="stable")
    e = embed(model, tokens[torch.from_numpy(order)], kind, batch_size=batch_size, device=device, **kwargs)
    out = torch.empty_like(e)
    out[torch.from_numpy(order)] = e
    return out.numpy()


def fingerprint_scores(
    split: PropertySplit,
    eval_config: EvalConfig | None = None,
    *,
    radius: int = FINGERPRINT["radius"],
    n_bits: int = FINGERPRINT["n_bits"],
    device=None,
) -> dict[str, float]:
    """Test RMSE (target units) of each regression probe of ``eval_config`` (default
    :func:`property_eval_config`) on Morgan fingerprints (ECFP4 by default): {probe: RMSE}.

    The 0/1 bits go to ridge and the MLP unstandardised: standardising makes rare bits
    dominate (it cost 0.1-0.3 log units on ESOL and Lipophilicity and more on FreeSolv),
    and a weak baseline would flatter the learned embeddings."""
    cfg = eval_config or property_eval_config()
    fp = morgan_fingerprints(split.data.smiles, radius, n_bits).astype(np.float32)
    return regression_scores(
        fp[split.train], split.y_train, fp[split.test], split.y_test, cfg, standardise=False, device=device
    )


@torch.no_grad()
def generation_metrics(
    model,
    data,
    eval_config: EvalConfig | None = None,
    *,
    likelihood: str | None = None,
    n_prior: int = N_GENERATE,
    n_recon: int | None = N_GENERATE,
    batch_size: int = 500,
    device=None,
) -> EvalResult:
    """Reconstruction, validity and posterior statistics (see the module docstring) on the
    first ``n_recon`` test molecules (None: all) of a
    :class:`~cmim_lab.molecules.data.SmilesData`, and ``n_prior`` greedy decodings of prior
    samples drawn with ``eval_config.seed`` (default 0). Returns an
    :class:`~cmim_lab.evaluation.EvalResult` with ``metrics`` only. ``likelihood`` is unused
    (tokens are always categorical). Named ``generation_metrics`` so that it never shares a
    name with the image :func:`cmim_lab.evaluation.generative_metrics` (another signature)."""
    seed = (eval_config or EvalConfig()).seed
    _check_count("n_prior", n_prior)
    if n_recon is not None:
        _check_count("n_recon", n_recon)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    smiles = data.smiles_test[:n_recon] if n_recon else data.smiles_test
    if not smiles:
        raise ValueError(f"{data.name} has no test molecules for the generation metrics")
    x_all = model.vocab.encode_batch(smiles)
    nll, tokens, correct, mus, logvars, decoded = 0.0, 0, 0, [], [], []
    for start in range(0, len(x_all), batch_size):
        x = x_all[start : start + batch_size].to(device).long()
        post = model.encode(x)
        logits = model.token_logits(post.mu, x)  # one teacher-forced pass for NLL and accuracy
        nll += token_nll(logits, x).sum().item()
        target = x[:, 1 : logits.shape[1] + 1]
        mask = target != PAD_ID
        correct += ((logits.argmax(-1) == target) & mask).sum().item()
        tokens += mask.sum().item()
        mus.append(post.mu.cpu())
        logvars.append(post.logvar.cpu())
        decoded += model.decode_smiles(post.mu)
    prior = []
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, n_prior, batch_size):
        z = torch.randn(min(batch_size, n_prior - start), model.latent_dim, generator=gen).to(device)
        prior += model.decode_smiles(z)
    model.train(was_training)
    valid_prior = [c for c in (canonical(s) for s in prior) if c is not None]
    metrics = {
        "recon_nll": nll / len(smiles),
        "token_nll": nll / max(tokens, 1),
        "token_accuracy": correct / max(tokens, 1),
        "exact_match": float(np.mean([d == s for d, s in zip(decoded, smiles)])),
        "valid_recon": float(np.mean([canonical(d) is not None for d in decoded])),
        "valid_prior": len(valid_prior) / max(n_prior, 1),
        "unique_prior": len(set(valid_prior)) / max(len(valid_prior), 1),
        **posterior_stats(torch.cat(mus), torch.cat(logvars), model.logvar_floor),
    }
    info = {"dataset": data.name, "n_recon": len(smiles), "n_prior": n_prior, "seed": seed}
    return EvalResult(metrics=metrics, info=info)


def _check_count(name: str, value) -> None:
    """``ValueError`` unless ``value`` is an integer from 1 to :data:`MAX_GENERATE`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_GENERATE:
        raise ValueError(f"{name} must be an integer from 1 to {MAX_GENERATE}, got {value!r}")


@torch.no_grad()
def latent_neighbours(model, smiles: str, *, n: int = 8, radius: float = 1.0, seed: int = 0, device=None):
    """Greedy decodings of ``n`` codes around a query molecule's mu: mu + radius * eps with
    eps ~ N(0, I) (drawn with ``seed``), plus mu itself in the first row.

    Returns a DataFrame with ``smiles`` (decoded), ``valid``, ``distance`` (||z - mu||) and
    ``tanimoto`` (ECFP4 similarity to the query; NaN when invalid), sorted by distance.
    """
    import pandas as pd
    from rdkit import DataStructs

    query = canonical(smiles)
    if query is None:
        raise ValueError(f"the query is not a valid SMILES: {smiles!r}")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    mu = model.encode(model.vocab.encode_batch([query]).to(device)).mu  # [1, d]
    eps = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    z = torch.cat([mu, mu + radius * eps])
    decoded = model.decode_smiles(z)
    model.train(was_training)
    fps = _fingerprints_or_none([query] + decoded)
    rows = []
    for s, zi, fp in zip(decoded, z, fps[1:]):
        sim = DataStructs.TanimotoSimilarity(fps[0], fp) if fp is not None else float("nan")
        rows.append(
            {
                "smiles": s,
                "valid": fp is not None,
                "distance": float((zi - mu[0]).norm()),
                "tanimoto": sim,
                "same_as_query": canonical(s) == query,
            }
        )
    return pd.DataFrame(rows).sort_values("distance", kind="stable").reset_index(drop=True)


def _fingerprints_or_none(smiles):
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    from .smiles import quiet_rdkit

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=FINGERPRINT["radius"], fpSize=FINGERPRINT["n_bits"])
    out = []
    with quiet_rdkit():
        for s in smiles:
            mol = Chem.MolFromSmiles(s) if s else None
            out.append(gen.GetFingerprint(mol) if mol is not None else None)
    return out


def nearest_molecules(embeddings: np.ndarray, smiles, query: int, k: int = 5, metric: str = "cosine"):
    """The ``k`` molecules nearest to molecule ``query`` in an embedding [N, D] (``cosine``
    or ``euclidean``), as a DataFrame with ``smiles``, ``distance`` and their index."""
    import pandas as pd

    check_choice("metric", metric, ("cosine", "euclidean"))
    e = np.asarray(embeddings, dtype=np.float64)
    if metric == "cosine":
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    dist = np.linalg.norm(e - e[query], axis=1)
    order = [i for i in np.argsort(dist, kind="stable") if i != query][:k]
    return pd.DataFrame({"index": order, "smiles": [smiles[i] for i in order], "distance": dist[order]})
