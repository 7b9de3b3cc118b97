"""Models and evaluations cached before the folder move load after it.

``fixtures/cache_before_move/`` was written by the flat 0.2.0 layout (commit 7f1a2c2) with
``fixtures/record_cache_before_move.py``; ``cache_before_move.json`` holds what that run
scored. The same study through today's modules, with training and evaluation forbidden,
must load both models and both evaluations and give the same rows: the cache keys did not
move with the modules. The keys hold the versions of the kit, torch and scikit-learn, so the
check runs where those match the recording (on other versions every entry is retrained by
design, and the test says so).
"""

import json
import shutil
from pathlib import Path

import pytest

from cmim_lab import data, evaluation, trainer
from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.studies.engine import EvalTask, grid, run_study

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = json.loads((FIXTURES / "cache_before_move.json").read_text())


@pytest.fixture
def old_cache(tmp_path, monkeypatch):
    if trainer.library_versions() != RECORDED["versions"]:
        pytest.skip(
            f"cache keys hold library versions; recorded with {RECORDED['versions']}, "
            f"running {trainer.library_versions()}"
        )
    root = tmp_path / "cache"
    shutil.copytree(FIXTURES / "cache_before_move", root)
    root.chmod(0o700)
    monkeypatch.setenv("CMIM_LAB_CACHE", str(root))
    return root


def _forbid(*_, **__):
    raise AssertionError("the cache written before the move was not used: this would recompute")


def test_models_and_evaluations_cached_before_the_move_load_after_it(old_cache, monkeypatch):
    monkeypatch.setattr(trainer, "train", _forbid)
    monkeypatch.setattr(evaluation, "evaluate", _forbid)
    ds = data.load("digits")
    base = TrainConfig(dataset="digits", hidden_sizes=(32,), latent_dim=4, batch_size=128, epochs=1)
    entries = grid(base, ["cmim", "vae"], seeds=[0], reductions=["normalised"])
    cfg = EvalConfig(probes=("knn-cosine", "linear"), embeddings=("mean",), probe_n_train=500)
    lines = []
    study = run_study(entries, ds, [EvalTask("digits", ds, cfg)], device="cpu", progress=False, log=lines.append)
    assert sum("seed 0 loaded from cache" in line for line in lines) == 2, lines
    assert sum("evaluation loaded from cache" in line for line in lines) == 2, lines
    rows = study.rows.sort_values(["entry", "metric"])[["entry", "embedding", "metric", "value"]]
    assert rows.to_dict("records") == RECORDED["rows"]


def test_the_fixture_is_a_cache_of_two_models_with_evaluations():
    models = sorted((FIXTURES / "cache_before_move" / "models").iterdir())
    assert [m.name.split("-")[1] for m in models] == ["cmim", "vae"]
    assert all((m / "model.safetensors").is_file() and list(m.glob("eval-*.json")) for m in models)
