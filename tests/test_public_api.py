"""Every public name of 0.2 still works after the folder move (one test per name).

``fixtures/cli_0.2.json`` lists every command and its flags as 0.2.0's parser built them
(recorded from the flat layout's cli); today's parser must offer each of them. The package's
top-level names are checked against its files, and each 0.2 flat module name
(``cmim_lab.study``, ``cmim_lab.viz``, ...) resolves to the module that now holds it.
"""

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cmim_lab

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGE = Path(cmim_lab.__file__).parent
TINY = dict(dataset="digits", n_train=200, hidden_sizes=(16,), latent_dim=4, epochs=1, batch_size=64)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from cmim_lab import TrainConfig, data

    ds = data.load("digits", n_train=200)
    result = cmim_lab.train(TrainConfig(**TINY), ds, device="cpu", progress=False)
    return ds, result


def test_train(tiny):
    _, result = tiny
    assert len(result.history) == 1 and result.model is not None


def test_load_or_train(fresh_cache):
    from cmim_lab import TrainConfig

    first = cmim_lab.load_or_train(TrainConfig(**TINY), device="cpu", progress=False)
    again = cmim_lab.load_or_train(TrainConfig(**TINY), device="cpu", progress=False)
    assert first.trained_now and not again.trained_now


def test_embed(tiny):
    ds, result = tiny
    codes = cmim_lab.embed(result.model, ds.x_test, kind="mean")
    assert codes.shape == (len(ds.x_test), TINY["latent_dim"])


def test_evaluate(tiny):
    ds, result = tiny
    ev = cmim_lab.evaluate(result.model, ds, cmim_lab.EvalConfig(probes=("knn-cosine",), embeddings=("mean",)))
    assert 0.0 <= ev.probes["mean"]["knn-cosine"] <= 1.0


def test_data_load_and_from_arrays():
    from cmim_lab import data

    ds = data.load("digits", n_train=100)
    assert ds.x_train.shape[0] == 100
    x = torch.rand(40, 3)
    mine = data.from_arrays(x.numpy(), (torch.arange(40) % 2).numpy(), name="my-table")
    assert mine.name == "my-table"


def test_configs():
    assert cmim_lab.TrainConfig(**TINY).latent_dim == 4
    assert cmim_lab.EvalConfig().probes


def test_load_model(fresh_cache):
    result = cmim_lab.load_or_train(cmim_lab.TrainConfig(**TINY), device="cpu", progress=False)
    model, meta = cmim_lab.load_model(result.directory)
    assert meta["config"] == result.config and model.state_dict().keys() == result.model.state_dict().keys()


def test_build_model():
    model = cmim_lab.build_model((64,), latent_dim=4, hidden_sizes=(16,), logvar_floor=-6.0)
    assert sum(p.numel() for p in model.parameters()) > 0


OLD_CLI = json.loads((FIXTURES / "cli_0.2.json").read_text())


def _parsers():
    from cmim_lab.cli import build_parser

    found = {}

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, prefix + [name])
        found[" ".join(prefix)] = {s for a in parser._actions for s in a.option_strings}

    walk(build_parser(), [])
    return found


@pytest.mark.parametrize("command", sorted(OLD_CLI))
def test_every_0_2_command_and_flag_is_still_offered(command):
    now = _parsers()
    assert command in now, f"cmim-lab {command} is gone"
    missing = sorted(set(OLD_CLI[command]) - now[command])
    assert not missing, f"cmim-lab {command} lost {missing}"


def test_python_dash_m_cmim_lab_cli_is_the_torchrun_entry_point():
    proc = subprocess.run([sys.executable, "-m", "cmim_lab.cli", "train", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--method" in proc.stdout, proc.stderr


@pytest.mark.parametrize("old, new", sorted(cmim_lab.MOVED.items()))
def test_0_2_flat_module_names_resolve_to_their_new_place(old, new):
    assert getattr(cmim_lab, old) is importlib.import_module(f"cmim_lab.{new}")


def test_top_level_names_match_the_package_files():
    on_disk = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    on_disk |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert on_disk == cmim_lab.SUBMODULES, (
        sorted(on_disk - cmim_lab.SUBMODULES),
        sorted(cmim_lab.SUBMODULES - on_disk),
    )
    assert not set(cmim_lab.MOVED) & on_disk, "a 0.2 name shadows a module that exists"
