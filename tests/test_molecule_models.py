"""The GRU sequence model under the shared objectives, trainer, checkpoints, embeddings and probes."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab.checkpoint import load_model
from cmim_lab.cli import main
from cmim_lab.config import TrainConfig
from cmim_lab.embeddings import embed, embedding_width
from cmim_lab.molecules import data as mdata
from cmim_lab.molecules.benchmark import molecule_config
from cmim_lab.molecules.evaluate import (embed_smiles, evaluate_property, generative_metrics,
                                         latent_neighbours, nearest_molecules)
from cmim_lab.molecules.seqnets import SequenceEncoderDecoder
from cmim_lab.molecules.smiles import EOS_ID, Vocabulary
from cmim_lab.objectives import METHODS, Objective
from cmim_lab.trainer import load_or_train, pick_views, train

TINY = dict(hidden_sizes=(32,), latent_dim=8, batch_size=32, epochs=1)


@pytest.fixture(scope="module")
def corpus():
    return mdata.load_corpus("moses", n_train=256, seed=0, n_test=64)


def _model(vocab, seed=0, **kw):
    torch.manual_seed(seed)
    return SequenceEncoderDecoder(vocab, input_shape=(40,), latent_dim=kw.get("latent_dim", 8),
                                  hidden_sizes=kw.get("hidden_sizes", (32,)), projection_dim=kw.get("proj", 0))


@pytest.mark.parametrize("method", METHODS)
def test_every_objective_trains_a_sequence_model(method, corpus):
    config = molecule_config(method, pretrain_size=256, **TINY, max_steps=6)
    result = train(config, corpus, device="cpu", progress=False)
    row = result.history.iloc[-1]
    assert row["step"] == 6
    assert all(math.isfinite(row[k]) for k in ["loss", *Objective(method).term_names])
    assert row["recon_nll"] > 0


def test_recon_nll_of_a_uniform_decoder_is_log_vocab_per_token():
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl"])
    model = _model(vocab)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()                      # every next token equally likely
    x = vocab.encode_batch(["CCO", "c1ccccc1Cl", "C"])
    nll = model.recon_nll(torch.randn(3, 8), x)
    targets = torch.tensor([3 + 1, 9 + 1, 1 + 1])    # tokens (c 1 c c c c c 1 Cl: 9) + EOS
    torch.testing.assert_close(nll, targets * math.log(len(vocab)))
    torch.testing.assert_close(model.observed_units(x), targets.float().mean())
    out = Objective("vae", reduction="normalised", likelihood="categorical")(model, x, eps=torch.zeros(3, 8))
    torch.testing.assert_close(out["recon_nll"], torch.tensor(math.log(len(vocab))))


def test_padding_changes_nothing():
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl", "CC(=O)N"])
    model = _model(vocab).eval()
    short = vocab.encode_batch(["CCO", "CC(=O)N"])
    long = vocab.encode_batch(["CCO", "CC(=O)N"], length=30)
    torch.testing.assert_close(model.encode(short).mu, model.encode(long).mu)
    z = torch.randn(2, 8)
    torch.testing.assert_close(model.recon_nll(z, short), model.recon_nll(z, long))
    single = model.hidden_features(z[:1], vocab.encode_batch(["CCO"]))[0]
    torch.testing.assert_close(model.hidden_features(z, long)[0][:1], single)


def test_informative_embedding_pools_teacher_forced_states():
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl"])
    model = _model(vocab).eval()
    x = vocab.encode_batch(["c1ccccc1Cl", "CCO"])
    e = embed(model, x, "informative")
    assert e.shape == (2, embedding_width(model, "informative")) == (2, 8 + 32)
    torch.testing.assert_close(e.norm(dim=1), torch.full((2,), math.sqrt(2)))   # two unit blocks
    with torch.no_grad():                            # by hand for CCO: mean over its 4 decoder steps
        one = vocab.encode_batch(["CCO"])
        mu = model.encode(one).mu
        _, layers = model._teacher_force(mu, one[:, :-1].long())
        by_hand = torch.cat([torch.nn.functional.normalize(mu, dim=1),
                             torch.nn.functional.normalize(layers[0].mean(1), dim=1)], dim=1)
    torch.testing.assert_close(e[1:], by_hand)
    order = embed_smiles(model, ["c1ccccc1Cl", "CCO"], "informative")    # sorted by length inside
    np.testing.assert_allclose(order, e.numpy(), rtol=1e-5, atol=1e-6)


def test_greedy_decoding_stops_at_eos():
    vocab = Vocabulary.build(["CCO"])
    model = _model(vocab)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        model.out.bias[EOS_ID] = 10.0
    ids = model.generate(torch.randn(4, 8))
    assert ids.shape == (4, 1) and (ids == EOS_ID).all()
    assert model.decode_smiles(torch.randn(2, 8)) == ["", ""]


def test_infonce_needs_views_for_tokens_and_gathers_two_different_ones():
    vocab = Vocabulary.build(["CCO", "CCN"])
    model = _model(vocab, proj=16)
    x = vocab.encode_batch(["CCO", "CCN"])
    with pytest.raises(ValueError, match="views=\\(v1, v2\\)"):
        Objective("infonce", likelihood="categorical")(model, x)
    out = Objective("infonce", likelihood="categorical")(model, x, views=(x, x))
    assert set(out) == {"loss", "recon_nll", "nt_xent"} and math.isfinite(out["loss"].item())
    bank = torch.arange(4).view(1, 4, 1).expand(10, 4, 3)     # view k of every sample is all k
    first, second = pick_views(bank, torch.arange(10))
    assert (first[:, 0] != second[:, 0]).all()


def test_config_pairs_arch_and_likelihood():
    with pytest.raises(ValueError, match="take likelihood 'categorical'"):
        TrainConfig(arch="gru")
    with pytest.raises(ValueError, match="pixels .* take bernoulli or gaussian"):
        TrainConfig(arch="mlp", likelihood="categorical")
    with pytest.raises(ValueError, match="needs the data's vocabulary"):
        molecule_config("vae").build_model((40,))


def test_image_cache_keys_did_not_change():
    # computed with the kit before sequence models existed (commit 5f9da70)
    assert TrainConfig().key("0.1.0") == "fashion-mnist-cmim-sum-s0-06d700b5cc6e"
    assert TrainConfig(method="infonce", arch="conv", reduction="normalised",
                       projection_dim=64).key("0.1.0") == "fashion-mnist-infonce-normalised-s0-b1ac84b2cb7d"


def test_checkpoint_carries_the_vocabulary(corpus, fresh_cache):
    config = molecule_config("mim", pretrain_size=256, **TINY, max_steps=3)
    result = load_or_train(config, corpus, device="cpu", progress=False)
    model, meta = load_model(result.directory)             # no data needed to rebuild and decode
    assert model.vocab == corpus.vocab and meta["config"] == config
    z = torch.randn(3, 8)
    assert model.decode_smiles(z) == result.model.decode_smiles(z)
    again = load_or_train(config, corpus, device="cpu", progress=False)
    assert not again.trained_now


def test_probes_and_generative_metrics_on_a_tiny_model(corpus):
    result = train(molecule_config("cmim", pretrain_size=256, **TINY, max_steps=4), corpus, device="cpu",
                   progress=False)
    split = mdata.load_property("freesolv").split("random", 0)
    ev = evaluate_property(result.model, split, seed=0)
    assert set(ev.probes) == {"mean", "informative"}
    assert all(set(s) == {"knn-euclidean", "knn-cosine", "ridge", "mlp"} for s in ev.probes.values())
    assert all(0 < v < 50 for s in ev.probes.values() for v in s.values())
    assert all(r["higher_is_better"] is False for r in ev.rows())
    # the same split hand-fed to the probes gives the same numbers
    from cmim_lab.evaluation import regression_scores

    e = embed_smiles(result.model, split.data.smiles, "mean")
    assert regression_scores(e[split.train], split.y_train, e[split.test], split.y_test) == ev.probes["mean"]
    gen = generative_metrics(result.model, corpus, n_prior=20, n_recon=20).metrics
    for k in ("exact_match", "valid_recon", "valid_prior", "unique_prior", "token_accuracy"):
        assert 0.0 <= gen[k] <= 1.0
    assert gen["recon_nll"] == pytest.approx(gen["token_nll"] * sum(
        len(result.model.vocab.encode(s)) - 1 for s in corpus.smiles_test[:20]) / 20, rel=1e-5)
    table = latent_neighbours(result.model, "CCOC(=O)c1ccccc1", n=4, radius=0.5)
    assert len(table) == 5 and table["distance"].iloc[0] == 0.0
    near = nearest_molecules(e, split.data.smiles, query=0, k=3)
    assert len(near) == 3 and 0 not in set(near["index"])


def test_rmse_zscores_flip_sign():
    from cmim_lab.summary import zscores

    raw = pd.DataFrame({"entry": ["a", "b", "c"], "dataset": "esol", "metric": "ridge", "embedding": "mean",
                        "seed": 0, "value": [1.0, 2.0, 3.0], "higher_is_better": False})
    z = zscores(raw).set_index("entry")["z"]
    assert z["a"] == pytest.approx(math.sqrt(1.5)) and z["c"] == pytest.approx(-math.sqrt(1.5))


def test_cli_molecules_end_to_end(tmp_path, fresh_cache, capsys):
    """Through ``benchmark``, as users type it: molecule datasets only run the molecule command."""
    out = tmp_path / "mol"
    code = main(["benchmark", "--datasets", "freesolv", "--methods", "vae,infonce", "--seeds", "0",
                 "--pretrain-size", "200", "--epochs", "1", "--split-seeds", "0", "--hidden-sizes", "32",
                 "--latent-dim", "8", "--batch-size", "32", "--n-generate", "20", "--out", str(out),
                 "--device", "cpu", "--no-progress"])
    assert code == 0
    assert "running: cmim-lab molecules --datasets freesolv" in capsys.readouterr().err
    text = (out / "summary.md").read_text()
    assert "cmim-lab molecules --datasets freesolv" in text and "ecfp4" in text and "infonce[sum]" in text
    raw = pd.read_csv(out / "raw.csv")
    assert {"freesolv (scaffold)", "moses"} <= set(raw["dataset"])
    assert (~raw[raw["metric"] == "ridge"]["higher_is_better"]).all()


def test_cli_points_mixed_datasets_to_the_molecule_command(capsys):
    assert main(["benchmark", "--datasets", "digits,esol"]) == 2
    assert "run: cmim-lab molecules --datasets esol" in capsys.readouterr().err
    assert main(["data"]) == 0
    assert "lipophilicity" in capsys.readouterr().out


def test_cli_train_a_sequence_model(fresh_cache, capsys):
    assert main(["train", "--method", "cmim", "--dataset", "moses", "--arch", "gru", "--likelihood", "categorical",
                 "--n-train", "128", "--hidden-sizes", "32", "--latent-dim", "8", "--batch-size", "32",
                 "--epochs", "1", "--no-progress", "--device", "cpu"]) == 0
    assert "cmim[sum] on moses (128 train samples" in capsys.readouterr().out
