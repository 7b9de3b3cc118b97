"""The GRU sequence model under the shared objectives, trainer, checkpoints, embeddings and probes,
and the molecule plugin's registrations."""

import argparse
import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab import registry
from cmim_lab.checkpoint import load_model, save_checkpoint
from cmim_lab.cli import main
from cmim_lab.config import TrainConfig
from cmim_lab.embeddings import embed, embedding_width
from cmim_lab.molecules import data as mdata
from cmim_lab.molecules.benchmark import molecule_config
from cmim_lab.molecules.evaluation import (
    embed_smiles,
    evaluate_property,
    generation_metrics,
    latent_neighbours,
    nearest_molecules,
    property_eval_config,
)
from cmim_lab.molecules.nets import SequenceEncoderDecoder, build_gru
from cmim_lab.molecules.smiles import EOS_ID, Vocabulary
from cmim_lab.objectives import METHODS, Objective
from cmim_lab.trainer import load_or_train, pick_views, train

TINY = dict(hidden_sizes=(32,), latent_dim=8, batch_size=32, epochs=1)


@pytest.fixture(scope="module")
def corpus():
    return mdata.load_corpus("moses", n_train=256, seed=0, n_test=64)


def _model(vocab, seed=0, proj=0, hidden_sizes=(32,)):
    torch.manual_seed(seed)
    return build_gru(
        (40,),
        latent_dim=8,
        hidden_sizes=hidden_sizes,
        logvar_floor=TrainConfig().logvar_floor,
        projection_dim=proj,
        context={"vocab": vocab},
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_objective_trains_a_sequence_model(method, corpus):
    config = molecule_config(method, n_train=256, **TINY, max_steps=6)
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
        model.out.bias.zero_()  # every next token equally likely
    x = vocab.encode_batch(["CCO", "c1ccccc1Cl", "C"])
    nll = model.recon_nll(torch.randn(3, 8), x)
    targets = torch.tensor([3 + 1, 9 + 1, 1 + 1])  # tokens (c 1 c c c c c 1 Cl: 9) + EOS
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
    torch.testing.assert_close(e.norm(dim=1), torch.full((2,), math.sqrt(2)))  # two unit blocks
    with torch.no_grad():  # by hand for CCO: mean over its 4 decoder steps
        one = vocab.encode_batch(["CCO"])
        mu = model.encode(one).mu
        _, layers = model._teacher_force(mu, one[:, :-1].long())
        by_hand = torch.cat(
            [torch.nn.functional.normalize(mu, dim=1), torch.nn.functional.normalize(layers[0].mean(1), dim=1)], dim=1
        )
    torch.testing.assert_close(e[1:], by_hand)
    order = embed_smiles(model, ["c1ccccc1Cl", "CCO"], "informative")  # sorted by length inside
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
    bank = torch.arange(4).view(1, 4, 1).expand(10, 4, 3)  # view k of every sample is all k
    first, second = pick_views(bank, torch.arange(10))
    assert (first[:, 0] != second[:, 0]).all()


def test_config_pairs_arch_and_likelihood():
    with pytest.raises(ValueError, match="arch 'gru' takes likelihood 'categorical'"):
        TrainConfig(arch="gru")
    with pytest.raises(ValueError, match="arch 'mlp' takes likelihood 'bernoulli' or 'gaussian'"):
        TrainConfig(arch="mlp", likelihood="categorical")
    with pytest.raises(ValueError, match="needs the data's vocabulary"):
        molecule_config("vae").build_model((40,))


def test_image_cache_keys_did_not_change():
    # computed with the kit before sequence models existed (commit 5f9da70)
    assert TrainConfig().key("0.1.0") == "fashion-mnist-cmim-sum-s0-06d700b5cc6e"
    assert (
        TrainConfig(method="infonce", arch="conv", reduction="normalised", projection_dim=64).key("0.1.0")
        == "fashion-mnist-infonce-normalised-s0-b1ac84b2cb7d"
    )


def test_checkpoint_carries_the_vocabulary(corpus, fresh_cache):
    config = molecule_config("mim", n_train=256, **TINY, max_steps=3)
    result = load_or_train(config, corpus, device="cpu", progress=False)
    model, meta = load_model(result.directory)  # no data needed to rebuild and decode
    assert model.vocab == corpus.vocab and meta["config"] == config
    z = torch.randn(3, 8)
    assert model.decode_smiles(z) == result.model.decode_smiles(z)
    again = load_or_train(config, corpus, device="cpu", progress=False)
    assert not again.trained_now


def test_probes_and_generative_metrics_on_a_tiny_model(corpus):
    result = train(molecule_config("cmim", n_train=256, **TINY, max_steps=4), corpus, device="cpu", progress=False)
    split = mdata.load_property("freesolv").split("random", 0)
    ev = evaluate_property(result.model, split)  # property_eval_config(), seed 0
    assert set(ev.probes) == {"mean", "informative"}
    assert all(set(s) == {"knn-euclidean", "knn-cosine", "ridge", "mlp"} for s in ev.probes.values())
    assert all(0 < v < 50 for s in ev.probes.values() for v in s.values())
    assert all(r["higher_is_better"] is False for r in ev.rows())
    # the same split hand-fed to the probes gives the same numbers
    from cmim_lab.probes import regression_scores

    e = embed_smiles(result.model, split.data.smiles, "mean")
    assert (
        regression_scores(e[split.train], split.y_train, e[split.test], split.y_test, property_eval_config())
        == ev.probes["mean"]
    )
    gen = generation_metrics(result.model, corpus, n_prior=20, n_recon=20).metrics
    for k in ("exact_match", "valid_recon", "valid_prior", "unique_prior", "token_accuracy"):
        assert 0.0 <= gen[k] <= 1.0
    assert gen["recon_nll"] == pytest.approx(
        gen["token_nll"] * sum(len(result.model.vocab.encode(s)) - 1 for s in corpus.smiles_test[:20]) / 20, rel=1e-5
    )
    table = latent_neighbours(result.model, "CCOC(=O)c1ccccc1", n=4, radius=0.5)
    assert len(table) == 5 and table["distance"].iloc[0] == 0.0
    near = nearest_molecules(e, split.data.smiles, query=0, k=3)
    assert len(near) == 3 and 0 not in set(near["index"])


def test_rmse_zscores_flip_sign():
    from cmim_lab.studies.summary import zscores

    raw = pd.DataFrame(
        {
            "entry": ["a", "b", "c"],
            "dataset": "esol",
            "metric": "ridge",
            "embedding": "mean",
            "seed": 0,
            "value": [1.0, 2.0, 3.0],
            "higher_is_better": False,
        }
    )
    z = zscores(raw).set_index("entry")["z"]
    assert z["a"] == pytest.approx(math.sqrt(1.5)) and z["c"] == pytest.approx(-math.sqrt(1.5))


def _molecules_command(argv):
    """Parse ``argv`` with the plugin's ``molecules`` flags and run it, as the core CLI does."""
    spec = registry.commands()["molecules"]
    parser = argparse.ArgumentParser(prog="cmim-lab molecules")
    spec.add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = ["molecules", *argv]
    return spec.run(args)


def test_molecules_command_end_to_end(tmp_path, fresh_cache, capsys):
    out = tmp_path / "mol"
    code = _molecules_command(
        [
            "--datasets",
            "freesolv",
            "--methods",
            "vae,infonce",
            "--seeds",
            "0",
            "--pretrain-size",
            "200",
            "--epochs",
            "1",
            "--split-seeds",
            "0",
            "--hidden-sizes",
            "32",
            "--latent-dim",
            "8",
            "--batch-size",
            "32",
            "--n-generate",
            "20",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert code == 0
    text = (out / "summary.md").read_text()
    assert "cmim-lab molecules --datasets freesolv" in text and "ecfp4" in text and "infonce[sum]" in text
    assert text in capsys.readouterr().out
    raw = pd.read_csv(out / "raw.csv")
    assert {"freesolv (scaffold)", "moses"} <= set(raw["dataset"])
    assert (~raw[raw["metric"] == "ridge"]["higher_is_better"]).all()
    assert set(raw[raw["dataset"] == "moses"]["split_seed"]) == {-1}
    for name in ("zscores.csv", "ranks.csv", "training.csv"):
        assert len(pd.read_csv(out / name))
    assert pd.read_csv(out / "training.csv")["trained_now"].all()


def test_molecules_command_defaults_come_from_the_corpus_defaults():
    spec = registry.commands()["molecules"]
    parser = argparse.ArgumentParser()
    spec.add_arguments(parser)
    args = parser.parse_args([])
    defaults = registry.dataset("moses").defaults
    assert tuple(args.hidden_sizes) == defaults["hidden_sizes"] and args.latent_dim == defaults["latent_dim"]
    assert args.epochs == defaults["epochs"] and args.n_train == defaults["n_train"] and args.arch == "gru"
    assert args.batch_size == TrainConfig().batch_size and args.lr == TrainConfig().lr
    assert args.datasets == ["esol", "freesolv", "lipophilicity"] and args.dataset == "moses"
    assert args.probes == ["knn-euclidean", "knn-cosine", "ridge", "mlp"]
    old = parser.parse_args(["--pretrain", "moses", "--pretrain-size", "none"])  # the README's spelling
    assert old.dataset == "moses" and old.n_train is None
    assert parser.parse_args(["--pretrain-size", "500"]).n_train == 500


def test_cli_benchmark_points_molecule_datasets_to_the_molecule_command(capsys):
    assert main(["benchmark", "--datasets", "esol"]) == 2
    assert "cmim-lab molecules" in capsys.readouterr().err
    assert main(["benchmark", "--datasets", "digits,esol"]) == 2
    assert "cmim-lab molecules" in capsys.readouterr().err
    assert main(["data"]) == 0
    assert "lipophilicity" in capsys.readouterr().out


def test_cli_train_a_sequence_model(fresh_cache, capsys):
    assert (
        main(
            [
                "train",
                "--method",
                "cmim",
                "--dataset",
                "moses",
                "--arch",
                "gru",
                "--likelihood",
                "categorical",
                "--n-train",
                "128",
                "--hidden-sizes",
                "32",
                "--latent-dim",
                "8",
                "--batch-size",
                "32",
                "--epochs",
                "1",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "cmim[sum] on moses (128 train samples" in capsys.readouterr().out


# --- the plugin ---------------------------------------------------------------------------------


def test_plugin_registers_its_names():
    assert set(registry.datasets(domain="molecules")) == {"moses", "esol", "freesolv", "lipophilicity"}
    assert set(registry.datasets(domain="molecules", role="regression")) == {"esol", "freesolv", "lipophilicity"}
    moses = registry.dataset("moses")
    assert moses.role == "corpus" and moses.defaults["arch"] == "gru" and moses.defaults["likelihood"] == "categorical"
    gru = registry.arch("gru")
    assert gru.likelihoods == ("categorical",) and gru.domain == "molecules"
    assert registry.likelihood("categorical").nll is None
    assert "molecules" in registry.commands()
    with pytest.raises(ValueError, match="is a molecules regression dataset, not a corpus one"):
        registry.dataset("esol", role="corpus")
    with pytest.raises(ValueError, match="loads whole"):
        registry.dataset("esol").load(n_train=100)
    from cmim_lab.molecules.plugin import register

    register()  # registering again changes nothing
    assert registry.dataset("moses") == moses


def test_loading_the_plugin_is_cheap():
    code = (
        "import sys; from cmim_lab import registry; registry.load_plugins(); "
        "assert 'gru' in registry.archs(); "
        "print(sorted(m for m in sys.modules if m.startswith(('rdkit', 'torch', 'cmim_lab.molecules.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['cmim_lab.molecules.plugin']"


def test_molecules_import_nothing_above_them():
    package = Path(__file__).resolve().parents[1] / "cmim_lab" / "molecules"
    forbidden = {"cmim_lab.cli", "cmim_lab.notebook.params", "cmim_lab.notebook.runner"}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                names = {f"cmim_lab.{node.module}"} if node.module else {f"cmim_lab.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {node.module or ""}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            allowed = {"cmim_lab.cli.flags"}  # the flag generator plugin commands build their parsers with
            assert not {
                n for n in names - allowed if n in forbidden or n.startswith(tuple(f + "." for f in forbidden))
            }, path


def test_gru_round_trips_through_a_checkpoint_with_its_vocabulary(tmp_path):
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl", "CC(=O)N"])
    config = molecule_config("infonce", n_train=256, hidden_sizes=(16,), latent_dim=4, projection_dim=8)
    torch.manual_seed(0)
    model = config.build_model((12,), {"vocab": vocab})
    assert model.context() == {"vocab": vocab.to_json()}
    save_checkpoint(tmp_path, model, config, epochs_done=0, steps_done=0, complete=True, history=[], data_info={})
    loaded, meta = load_model(tmp_path)
    assert isinstance(loaded, SequenceEncoderDecoder) and loaded.vocab == vocab and meta["config"] == config
    assert loaded.input_shape == (12,) and loaded.projector is not None
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    x = vocab.encode_batch(["CCO", "CC(=O)N"])
    torch.testing.assert_close(loaded.encode(x).mu, model.eval().encode(x).mu)
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    assert loaded.reconstruct(x).dtype == torch.long and len(loaded.reconstruct(x)) == 2


def test_gru_initialisation_is_unchanged():
    """Parameters right after construction under a fixed seed, as the pre-redesign model
    (``molecules/seqnets.py`` at commit 54a1c60) made them: the projection head is created last."""
    vocab = Vocabulary.build(["CCO", "c1ccccc1Cl", "CC(=O)N"])
    model = _model(vocab, proj=16, hidden_sizes=(32, 16))
    state = model.state_dict()
    assert list(state)[-4:] == ["projector.0.weight", "projector.0.bias", "projector.2.weight", "projector.2.bias"]
    assert sum(float(v.double().abs().sum()) for v in state.values()) == pytest.approx(4319.204436787144, rel=1e-12)
    assert sum(float(v.double().sum()) for v in state.values()) == pytest.approx(58.55182929640978, rel=1e-12)
