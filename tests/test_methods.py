"""The table of methods is the one place a method is declared: every row has a colour, a
description and an objective that computes exactly its terms, every objective has a row,
and the configs, figures and claims read the table (cache keys as in 0.2)."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cmim_lab import methods, objectives
from cmim_lab.config import _UNUSED, TrainConfig
from cmim_lab.methods import TABLE, TERM_FIELDS, check_table
from cmim_lab.notebook import figure_style
from cmim_lab.objectives import METHODS, Objective
from cmim_lab.studies import claims

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (1, 8, 8)


def computed_terms(method: str, **weights) -> list[str]:
    """The terms the objective of ``method`` returns on a tiny batch (``loss`` left out)."""
    torch.manual_seed(0)
    config = TrainConfig(
        method=method,
        dataset="digits",
        hidden_sizes=(8,),
        latent_dim=2,
        projection_dim=3 if "projection_dim" not in TABLE[method].unused else 0,
        **weights,
    )
    out = config.objective()(config.build_model(SHAPE), torch.rand(4, *SHAPE))
    assert list(out)[0] == "loss"
    return list(out)[1:]


# --- the table itself -----------------------------------------------------------------------


def test_the_table_is_in_the_stated_order_and_passes_its_checks():
    assert METHODS == methods.names() == ("vae", "cvae", "mim", "cmim", "infonce")
    check_table(TABLE)
    assert methods.method("cmim") is TABLE["cmim"]
    with pytest.raises(ValueError, match="unknown method 'simclr'; valid methods are: vae, cvae, mim, cmim, infonce"):
        methods.method("simclr")


def _row(name="vae", **changes):
    return {**TABLE, name: dataclasses.replace(TABLE[name], **changes)}


@pytest.mark.parametrize(
    "table, match",
    [
        (_row(color=""), "'vae' .* needs a colour written #RRGGBB, got ''"),
        (_row(color="blue"), "needs a colour written #RRGGBB, got 'blue'"),
        (_row("mim", color=TABLE["vae"].color.lower()), "'mim' .* has the colour #0072b2 of method 'vae'"),
        (_row(doc=""), "'vae' .* needs a one-line doc"),
        (_row(doc="two\nlines"), "needs a one-line doc"),
        (_row(title=" "), "needs a one-line title"),
        (_row(terms=("recon_nll", "kld")), r"terms \['recon_nll', 'kld'\]; each must be one of recon_nll, kl"),
        (_row(terms=()), "has terms"),
        (_row(optional=("contrastive",)), "optional terms .*contrastive"),
        (
            _row(unused=("temperature",)),
            r"'vae' .* lists unused fields \['temperature'\], but its terms \(recon_nll, kl\)",
        ),
        (_row("cmim", unused=("projection_dim", "augment_strength", "temperature")), "leave exactly"),
        ({"cmim2": TABLE["cmim"]}, "'cmim2' .* is named 'cmim'"),
    ],
)
def test_a_row_without_a_colour_a_doc_or_consistent_fields_is_refused(table, match):
    with pytest.raises(ValueError, match=match):
        check_table(table)


def test_unused_fields_are_those_no_term_reads():
    """The rule check_table enforces, restated by hand for the five methods of 0.2."""
    assert TABLE["vae"].unused == TABLE["mim"].unused
    assert set(TABLE["vae"].unused) == {
        "temperature",
        "negatives",
        "contrastive_weight",
        "projection_dim",
        "augment_strength",
    }
    assert set(TABLE["cmim"].unused) == set(TABLE["cvae"].unused) == {"projection_dim", "augment_strength"}
    assert set(TABLE["infonce"].unused) == {"negatives", "latent_weight"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f for fs in TERM_FIELDS.values() for f in fs} <= fields


# --- objectives: a row for every objective, an objective for every row ------------------------


@pytest.mark.parametrize("method", METHODS)
def test_the_objective_of_every_row_computes_exactly_its_terms(method):
    assert computed_terms(method) == list(TABLE[method].terms)
    assert Objective(method).term_names == list(TABLE[method].terms)


def test_an_optional_term_is_left_out_at_weight_zero():
    assert TABLE["infonce"].optional == ("recon_nll",)
    assert computed_terms("infonce", recon_weight=0.0) == ["nt_xent"]
    assert computed_terms("vae", recon_weight=0.0) == ["recon_nll", "kl"]  # not optional: still logged


def test_a_row_whose_terms_no_objective_combines_is_caught(monkeypatch):
    """The check above can fail: a row that asks for NT-Xent beside the KL term names a term
    the InfoNCE objective does not compute."""
    monkeypatch.setitem(
        TABLE,
        "infonce",
        dataclasses.replace(TABLE["infonce"], terms=("recon_nll", "kl", "nt_xent"), unused=("negatives",)),
    )
    check_table(TABLE)
    assert computed_terms("infonce") != list(TABLE["infonce"].terms)


def _documented_losses() -> dict[str, str]:
    """{method title: formula} of the objectives module docstring's "Losses" lines."""
    found = {}
    for line in objectives.__doc__.splitlines():
        m = re.match(r"\* ([A-Za-z-]+)\s+= (.+)$", line)  # "* cMIM    = recon_nll - ...", not "* ``kl`` = ..."
        if m:
            found[m.group(1)] = m.group(2)
    return found


def test_every_documented_objective_has_a_row_and_every_row_is_documented():
    titles = {row.title for row in TABLE.values()}
    assert set(_documented_losses()) == titles
    for row in TABLE.values():  # the formula names every term of the row
        formula = _documented_losses()[row.title]
        assert all(term in formula for term in row.terms), (row.name, formula)


def test_the_docs_table_of_objectives_has_one_line_per_method():
    text = (ROOT / "docs" / "methods.md").read_text()
    section = text[text.index("**Objectives**") : text.index("**Reduction conventions**")]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]
    documented = {re.sub(r"\s*\(.*\)$", "", r) for r in rows[1:]}  # "MIM (A-MIM)" -> "MIM"; header left out
    assert documented == {row.title for row in TABLE.values()}


# --- the readers --------------------------------------------------------------------------------


def test_figures_read_the_colours_and_names():
    assert figure_style.METHOD_COLORS == {name: row.color for name, row in TABLE.items()}
    for name, row in TABLE.items():
        assert figure_style.parse_label(f"{name.upper()}[normalised]-X d=4") == (name, "normalised", True)
        assert figure_style.method_color(f"{name}[sum]") == row.color
        assert row.color.lower() not in {c.lower() for c in figure_style.OTHER_COLORS + [figure_style.BASELINE_COLOR]}
        for term in row.terms:
            assert term in figure_style.TERM_NAMES, f"training term {term!r} has no label in figure_style"


def test_configs_read_the_unused_fields_and_keep_0_2_cache_keys():
    assert _UNUSED == {name: row.unused for name, row in TABLE.items()}
    assert _UNUSED == {  # as written out in 0.2's config.py
        "vae": ("temperature", "negatives", "contrastive_weight", "projection_dim", "augment_strength"),
        "mim": ("temperature", "negatives", "contrastive_weight", "projection_dim", "augment_strength"),
        "cvae": ("projection_dim", "augment_strength"),
        "cmim": ("projection_dim", "augment_strength"),
        "infonce": ("negatives", "latent_weight"),
    }
    # keys computed by 0.2's code (commit e0705ff), with and without changes to ignored fields
    keys = {
        "vae": ("4ca0a6f71fd9", "41c013eedadb"),
        "cvae": ("cdded7386c2e", "9ad1c56aead2"),
        "mim": ("e718b1a56662", "cf5de685b52b"),
        "cmim": ("04104af22920", "68d2263db4bd"),
        "infonce": ("26eb8c658f10", "2ff7b3154548"),
    }
    changed = dict(
        temperature=0.5,
        negatives="sum",
        contrastive_weight=2.0,
        projection_dim=8,
        augment_strength=0.5,
        latent_weight=3.0,
    )
    for method, (plain, other) in keys.items():
        assert TrainConfig(method=method, dataset="digits").key("0.2.0") == f"digits-{method}-sum-s0-{plain}"
        assert TrainConfig(method=method, dataset="digits", **changed).key("0.2.0") == f"digits-{method}-sum-s0-{other}"


@pytest.mark.parametrize("method", METHODS)
def test_a_projection_head_only_where_the_method_reads_projection_dim(method):
    model = TrainConfig(method=method, projection_dim=4, hidden_sizes=(8,), latent_dim=2).build_model(SHAPE)
    assert (model.projector is not None) == ("projection_dim" not in TABLE[method].unused)


def test_claims_read_the_table():
    assert claims.CLAIM4_METHODS == METHODS
    assert set(claims.LAYER_METHODS) <= set(METHODS)


def test_a_new_row_reaches_objectives_configs_figures_and_claims():
    """Adding a method whose terms exist is one row: a plain autoencoder, in a fresh process
    whose table gains the row before the rest of the kit is imported."""
    script = """
import dataclasses, torch
from cmim_lab import methods
ignored = tuple(sorted({f for fs in methods.TERM_FIELDS.values() for f in fs} - {"recon_weight"}))
methods.TABLE["ae"] = methods.Method("ae", "AE", terms=("recon_nll",), unused=ignored, color="#332288",
                                     doc="plain autoencoder: recon_nll only")
methods.check_table(methods.TABLE)
from cmim_lab.config import TrainConfig, variant_fields
from cmim_lab.notebook.figure_style import method_color
from cmim_lab.studies.claims import CLAIM4_METHODS
config = TrainConfig(method="ae", dataset="digits", hidden_sizes=(8,), latent_dim=2)
out = config.objective()(config.build_model((1, 8, 8)), torch.rand(4, 1, 8, 8))
assert list(out) == ["loss", "recon_nll"], list(out)
assert config.key("0") == config.replace(temperature=0.5, latent_weight=2.0).key("0")
assert variant_fields("ae[normalised]") == {"method": "ae", "reduction": "normalised"}
assert method_color("AE[sum]-X") == "#332288" and "ae" in CLAIM4_METHODS
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
