"""How every figure of the kit names and colours things: one colour per method, human labels.

**One colour per method**, whatever the figure: a method keeps its colour in every variant
and the variant changes only the line dash (and the marker of an informative embedding):

=============================== ============================================
label                           style
=============================== ============================================
a method (``vae``, ``cvae``,    the method's colour (:data:`METHOD_COLORS`,
``mim``, ``cmim``, ``infonce``) Okabe-Ito, readable with colour-blindness)
``[sum]``, ``[recon]``, bare    solid line, round marker
``[normalised]``                dashed line
``[pure]``                      dotted line
suffix ``-X``                   diamond marker, dash-dot line
anything else                   a neutral colour from :data:`OTHER_COLORS`
=============================== ============================================

The methods and their colours are the rows of the table of methods
(:data:`cmim_lab.methods.TABLE`). Labels are matched case-insensitively on their leading
method name, so ``"MIM d=16"``, ``"cmim[sum] tau=0.1"`` and ``"infonce[pure]-X"`` all find
their method.

**Human labels**: :func:`axis_label` turns a table column or a metric name
(``mean/knn-cosine``, ``active_units``, ``recon_nll``) into the words a figure shows, with
units where there are any.
"""

from __future__ import annotations

import re

from .. import methods

# Okabe & Ito's colour-blind-safe palette, one colour per row of the table of methods
METHOD_COLORS = {name: row.color for name, row in methods.TABLE.items()}
BASELINE_COLOR = "#7f7f7f"
# for series that are not methods (classes, conventions, curves): none of them is a method colour
OTHER_COLORS = [
    "#E69F00",
    "#000000",
    "#F0E442",
    "#8c564b",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#1f77b4",
    "#d62728",
    "#9467bd",
]
VARIANT_DASH = {"": "solid", "sum": "solid", "recon": "solid", "normalised": "dash", "pure": "dot"}
EMBEDDING_SYMBOL = {"mean": "circle", "informative": "diamond", "baseline": "square"}
EMBEDDING_NAME = {
    "mean": "posterior mean (μ)",
    "informative": "informative embedding (-X)",
    "baseline": "baseline (no training)",
}

# the method names, longest first, so a name that begins with another one is matched whole
_METHOD = re.compile(
    rf"^\s*({'|'.join(sorted(map(re.escape, methods.TABLE), key=len, reverse=True))})"
    r"(?:\[(\w+)\])?(-x)?",
    re.IGNORECASE,
)


def parse_label(label: str) -> tuple[str, str, bool] | None:
    """(method, variant, informative) of a series label, or None when it names no method.

    ``"cmim[normalised]-X"`` -> ``("cmim", "normalised", True)``; ``"MIM d=8"`` ->
    ``("mim", "", False)``; ``"pixels"`` -> None.
    """
    m = _METHOD.match(str(label))
    if m is None:
        return None
    method, variant, informative = m.groups()
    return method.lower(), (variant or "").lower(), bool(informative)


def method_color(label: str) -> str:
    """The colour of the method a label names (``"cmim[sum]"`` -> cMIM's colour).

    ``ValueError`` naming the label and the known methods when it names none."""
    parsed = parse_label(label)
    if parsed is None:
        raise ValueError(f"{label!r} names no method; methods with a colour: {', '.join(METHOD_COLORS)}")
    return METHOD_COLORS[parsed[0]]


def series_style(label: str, index: int = 0) -> dict:
    """Plotly styling of one series: ``{"color", "dash", "symbol"}``.

    A method's series gets its method colour, the dash of its variant and a diamond marker
    for ``-X``; any other label gets ``OTHER_COLORS[index]`` (cycled), a solid line and a
    round marker, so the caller's ``index`` keeps non-method series apart."""
    parsed = parse_label(label)
    if parsed is None:
        return {"color": OTHER_COLORS[index % len(OTHER_COLORS)], "dash": "solid", "symbol": "circle"}
    method, variant, informative = parsed
    dash = "dashdot" if informative else VARIANT_DASH.get(variant, "solid")
    return {"color": METHOD_COLORS[method], "dash": dash, "symbol": "diamond" if informative else "circle"}


def color_map(labels) -> dict[str, str]:
    """``{label: colour}`` for plotly express's ``color_discrete_map``: method colours for
    labels that name a method, :data:`OTHER_COLORS` in order for the others."""
    out, others = {}, 0
    for label in dict.fromkeys(labels):
        if parse_label(label) is None:
            out[label] = OTHER_COLORS[others % len(OTHER_COLORS)]
            others += 1
        else:
            out[label] = method_color(label)
    return out


# human names of probes, metrics, table columns and training terms (units in parentheses)
PROBE_LABELS = {
    "knn-euclidean": "kNN (Euclidean)",  # k = 5 neighbours (EvalConfig.knn_k)
    "knn-cosine": "kNN (cosine)",
    "linear": "linear probe",
    "mlp": "MLP probe",
    "ridge": "ridge regression",
}
LABELS = {
    # evaluation metrics
    "recon_nll": "test reconstruction NLL (nats/image)",
    "mse": "test reconstruction MSE (per pixel)",
    "active_units": "active units (Var_x[μ_j] > 0.01)",
    "frac_logvar_at_floor": "share of log σ² on the floor",
    "mean_sigma": "mean posterior σ",
    "kmeans_nmi": "k-means NMI with the classes",
    "silhouette": "silhouette of the classes",
    # configs
    "latent_dim": "latent size (dimensions)",
    "temperature": "temperature τ",
    "contrastive_weight": "weight of the contrastive term",
    "batch_size": "batch size (samples per step)",
    "epochs": "epochs",
    "epoch": "epoch",
    "n_train": "training images",
    # tables
    "label": "model",
    "method": "method",
    "variant": "method variant",
    "reduction": "reduction convention",
    "convention": "reduction convention",
    "embedding": "embedding",
    "probe": "probe",
    "accuracy": "test accuracy",
}
# training terms, in nats in the model's own reduction convention (per image under sum)
TERM_NAMES = {
    "loss": "loss",
    "recon_nll": "reconstruction NLL",
    "log_q": "log q(z|x)",
    "log_p": "log P(z)",
    "kl": "KL(q ‖ P)",
    "contrastive": "contrastive term",
    "nt_xent": "NT-Xent",
}
EMBEDDING_PREFIX = {"mean": "μ", "informative": "-X"}


def probe_label(probe: str) -> str:
    """The words for a probe: ``"knn-cosine"`` -> ``"kNN (cosine)"`` (unknown: as given)."""
    return PROBE_LABELS.get(probe, probe)


def axis_label(name: str) -> str:
    """The words a figure shows for a column or metric name, units included.

    ``"mean/knn-cosine"`` -> ``"test accuracy, kNN (cosine) on μ"``;
    ``"final_contrastive"`` -> ``"final contrastive term (nats)"`` (``final_<term>``: a
    training term, see :func:`term_label`); a probe name ->
    ``"test accuracy, <probe>"``; a name the kit does not know is returned with its
    underscores as spaces (so a raw column name never reaches a figure unchanged).
    """
    name = str(name)
    if "/" in name:
        embedding, probe = name.split("/", 1)
        return f"test accuracy, {probe_label(probe)} on {EMBEDDING_PREFIX.get(embedding, embedding)}"
    if name in PROBE_LABELS:
        return f"test accuracy, {PROBE_LABELS[name]}"
    if name.startswith("final_"):  # a training term's last-epoch mean, in its model's own convention
        return f"final {term_label(name[len('final_') :])} (nats)"
    if name in LABELS:
        return LABELS[name]
    if name in TERM_NAMES:
        return f"{TERM_NAMES[name]} (nats)"
    return name.replace("_", " ")


def term_label(term: str) -> str:
    """The short name of a training term (its unit is nats, in the model's own reduction
    convention): ``"recon_nll"`` -> ``"reconstruction NLL"``, ``"log_q"`` -> ``"log q(z|x)"``."""
    return TERM_NAMES.get(term, term.replace("_", " "))


def spread_note(counts, unit: str = "seeds") -> str:
    """``"mean ± std over 3 seeds"`` for the number of runs behind each point (``counts``,
    an iterable of ints); a range when they differ (``"over 1–3 seeds"``), and
    ``"one run each"`` when every point is a single run."""
    counts = sorted({int(c) for c in counts})
    if not counts or counts == [1]:
        return "one run each"
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"mean ± std over {n} {unit}"
