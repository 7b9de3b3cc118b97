"""The table of methods: one row per objective, read by the objectives, the configs, the
figures, the claims and the command line.

A row (:class:`Method`) gives a method's

* ``terms``  -- the named terms its objective combines, in the order they are logged
  (defined in :mod:`cmim_lab.objectives`; each term reads the config fields of
  :data:`TERM_FIELDS`);
* ``optional`` -- terms left out (neither computed nor logged) while their weight is 0;
* ``unused`` -- the :class:`~cmim_lab.config.TrainConfig` fields it ignores: exactly the
  fields of :data:`TERM_FIELDS` that none of its terms reads. They are reset to their
  defaults before a model's cache key is hashed, so configs that differ only there share a
  cached model;
* ``color`` -- its colour in every figure (Okabe & Ito's colour-blind-safe palette);
* ``title`` and ``doc`` -- its name in prose and a one-line description for the docs and
  the command-line help.

Adding an objective: a row here and, for a term no row uses yet, its computation in
:mod:`cmim_lab.objectives` (``tests/test_methods.py`` checks that the two agree, that every
row has a colour and a description, and that the ``unused`` fields follow from the terms).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import check_choice

# the TrainConfig fields each term reads (besides the model, the data and the reduction)
TERM_FIELDS = {
    "recon_nll": ("recon_weight",),
    "kl": ("latent_weight",),
    "log_q": ("latent_weight",),
    "log_p": ("latent_weight",),
    "contrastive": ("contrastive_weight", "temperature", "negatives"),
    "nt_xent": ("contrastive_weight", "temperature", "augment_strength", "projection_dim"),
}
# the weight that multiplies each term in the loss
TERM_WEIGHT = {term: fields[0] for term, fields in TERM_FIELDS.items()}


@dataclass(frozen=True)
class Method:
    """One row of :data:`TABLE` (see the module docstring for the fields)."""

    name: str
    title: str
    terms: tuple[str, ...]
    unused: tuple[str, ...]
    color: str
    doc: str
    optional: tuple[str, ...] = ()


TABLE = {
    row.name: row
    for row in (
        Method(
            "vae",
            "VAE",
            terms=("recon_nll", "kl"),
            unused=("temperature", "negatives", "contrastive_weight", "projection_dim", "augment_strength"),
            color="#0072B2",  # blue
            doc="variational autoencoder: recon_nll + kl (the ELBO)",
        ),
        Method(
            "cvae",
            "cVAE",
            terms=("recon_nll", "kl", "contrastive"),
            unused=("projection_dim", "augment_strength"),
            color="#56B4E9",  # sky blue: the VAE's lighter sibling
            doc="VAE + cMIM's contrastive term on the sampled codes",
        ),
        Method(
            "mim",
            "MIM",
            terms=("recon_nll", "log_q", "log_p"),
            unused=("temperature", "negatives", "contrastive_weight", "projection_dim", "augment_strength"),
            color="#009E73",  # bluish green
            doc="asymmetric mutual information machine (A-MIM): recon_nll - 1/2 (log_q + log_p)",
        ),
        Method(
            "cmim",
            "cMIM",
            terms=("recon_nll", "log_q", "log_p", "contrastive"),
            unused=("projection_dim", "augment_strength"),
            color="#D55E00",  # vermillion
            doc="contrastive MIM: A-MIM + the contrastive term -log p(k=1|z) with averaged negatives",
        ),
        Method(
            "infonce",
            "InfoNCE",
            terms=("recon_nll", "nt_xent"),
            optional=("recon_nll",),
            unused=("negatives", "latent_weight"),
            color="#CC79A7",  # reddish purple
            doc="SimCLR's NT-Xent over two augmented views + recon_weight * recon_nll (0: pure SimCLR)",
        ),
    )
}


def names() -> tuple[str, ...]:
    """The method names, in the table's order."""
    return tuple(TABLE)


def method(name: str) -> Method:
    """The row of method ``name``; ``ValueError`` naming the valid methods otherwise."""
    check_choice("method", name, TABLE)
    return TABLE[name]


def check_table(table: dict[str, Method]) -> None:
    """``ValueError`` naming the row and what is wrong unless every row of ``table`` has a
    name equal to its key, a title, a one-line description, a ``#RRGGBB`` colour of its own,
    known terms (``optional`` among them) and ``unused`` exactly the fields of
    :data:`TERM_FIELDS` that none of its terms reads."""
    every_field = {f for fields in TERM_FIELDS.values() for f in fields}
    colors: dict[str, str] = {}
    for key, row in table.items():
        where = f"method {key!r} in the table of methods"
        if row.name != key:
            raise ValueError(f"{where} is named {row.name!r}")
        for field in ("title", "doc"):
            text = getattr(row, field)
            if not isinstance(text, str) or not text.strip() or "\n" in text:
                raise ValueError(f"{where} needs a one-line {field}, got {text!r}")
        color = row.color
        if not (
            isinstance(color, str)
            and len(color) == 7
            and color[0] == "#"
            and all(c in "0123456789abcdefABCDEF" for c in color[1:])
        ):
            raise ValueError(f"{where} needs a colour written #RRGGBB, got {color!r}")
        if color.lower() in colors:
            raise ValueError(f"{where} has the colour {color} of method {colors[color.lower()]!r}")
        colors[color.lower()] = key
        unknown = [t for t in row.terms if t not in TERM_FIELDS]
        if not row.terms or unknown or len(set(row.terms)) != len(row.terms):
            raise ValueError(
                f"{where} has terms {list(row.terms)}; each must be one of {', '.join(TERM_FIELDS)}, none repeated"
            )
        if not set(row.optional) <= set(row.terms):
            raise ValueError(f"{where} has optional terms {list(row.optional)} that are not among its terms")
        ignored = every_field - {f for t in row.terms for f in TERM_FIELDS[t]}
        if set(row.unused) != ignored or len(set(row.unused)) != len(row.unused):
            raise ValueError(
                f"{where} lists unused fields {sorted(row.unused)}, but its terms "
                f"({', '.join(row.terms)}) leave exactly {sorted(ignored)} unread"
            )


check_table(TABLE)
