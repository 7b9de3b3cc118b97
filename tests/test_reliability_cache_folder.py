"""A cache folder that runs nothing: private (created 0o700, refused when another user owns
it or others can write into it), no library's pickle-based cache inside it, and no write
that follows a planted symlink."""

import os
import re
import stat
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest

from cmim_lab.errors import CacheFolderError
from cmim_lab.infra import files, paths
from cmim_lab.infra.files import atomic_write, locked, write_json

PACKAGE = Path(__file__).resolve().parents[1] / "cmim_lab"
posix = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")


@posix
def test_a_new_cache_folder_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "a" / "cache"))
    root = paths.cache_dir()
    assert root.is_dir() and stat.S_IMODE(root.stat().st_mode) == 0o700


@posix
@pytest.mark.parametrize(
    "mode, who",
    [(0o777, "its group and others"), (0o775, "its group"), (0o757, "others"), (0o1777, "its group and others")],
)
def test_a_cache_folder_others_can_write_into_is_refused(tmp_path, monkeypatch, mode, who):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(mode)
    monkeypatch.setenv(paths.CACHE_ENV, str(folder))
    with pytest.raises(CacheFolderError, match=f"writable by {who} .*chmod 700 {re.escape(str(folder))}"):
        paths.cache_dir()


@posix
def test_a_cache_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv(paths.CACHE_ENV, str(folder))
    monkeypatch.setattr(paths.os, "getuid", lambda: folder.stat().st_uid + 1)
    with pytest.raises(CacheFolderError, match="belongs to user id .* not to you"):
        paths.cache_dir()


@posix
def test_a_readable_but_not_writable_cache_folder_is_accepted(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    folder.chmod(0o755)
    monkeypatch.setenv(paths.CACHE_ENV, str(folder))
    assert paths.cache_dir() == folder


def test_numba_cache_is_never_pointed_into_the_kit_cache(fresh_cache, monkeypatch):
    """numba reads its cache index with pickle: umap_2d must leave NUMBA_CACHE_DIR alone."""
    from cmim_lab.notebook import viz

    seen = {}

    class FakeUMAP:
        def __init__(self, **kwargs):
            seen["NUMBA_CACHE_DIR"] = os.environ.get("NUMBA_CACHE_DIR")

        def fit_transform(self, z):
            return np.zeros((len(z), 2))

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    viz.umap_2d(np.random.default_rng(0).random((10, 3)))
    assert seen["NUMBA_CACHE_DIR"] is None
    assert "NUMBA_CACHE_DIR" not in os.environ


def test_the_test_session_keeps_numba_out_of_the_kit_cache():
    numba_dir = Path(os.environ.get("NUMBA_CACHE_DIR", tempfile.gettempdir())).resolve()
    kit_cache = Path(os.environ[paths.CACHE_ENV]).resolve()
    assert kit_cache not in numba_dir.parents and numba_dir != kit_cache


def test_no_module_unpickles_or_points_a_library_cache_into_the_kit_cache():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib)\b", text, re.M), path
        assert "NUMBA_CACHE_DIR" not in text, path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)


def test_a_symlink_planted_at_the_target_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(victim)
    write_json(folder / "model.safetensors", {"new": 1})
    assert victim.read_text() == "precious"
    assert not (folder / "model.safetensors").is_symlink()


def test_a_symlink_planted_at_a_temporary_name_is_never_followed(tmp_path, monkeypatch):
    """The writer's temporary name is random and created with O_EXCL: even a symlink planted
    at exactly the name it draws first is skipped, never written through (torch.save and
    safetensors write only to the path mkstemp created)."""
    import torch

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "entry"
    folder.mkdir()
    names = iter(["planted", "fresh", "other"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    (folder / ".optimizer.pt.planted.tmp").symlink_to(victim)
    atomic_write(folder / "optimizer.pt", lambda p: torch.save({"step": torch.tensor(1.0)}, p))
    assert victim.read_text() == "precious"
    assert (folder / ".optimizer.pt.planted.tmp").is_symlink()  # left alone
    assert torch.load(folder / "optimizer.pt", weights_only=True)["step"] == 1


def test_checkpoint_save_replaces_a_planted_symlink(tmp_path, digits):
    from cmim_lab.checkpoint import MODEL_FILE, load_model
    from cmim_lab.config import TrainConfig
    from cmim_lab.trainer import train

    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / MODEL_FILE).symlink_to(victim)
    cfg = TrainConfig(
        method="vae", dataset="digits", hidden_sizes=(16,), latent_dim=2, epochs=1, batch_size=64, max_steps=3
    )
    train(cfg, digits, device="cpu", checkpoint_dir=folder, progress=False, resume=False)
    assert victim.read_bytes() == b"precious"
    assert load_model(folder)[1]["complete"]


def test_a_symlink_planted_at_a_lock_file_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "entry").mkdir()
    (tmp_path / "entry" / ".lock").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        with locked(tmp_path / "entry" / ".lock"):
            pass
    assert victim.read_text() == "precious"


def test_the_temporary_name_pattern_matches_the_writer(tmp_path):
    seen = []
    atomic_write(tmp_path / "x.json", lambda p: seen.append(Path(p).name) or Path(p).write_text("1"))
    assert list(tmp_path.glob(files.temp_name_glob(tmp_path / "x.json"))) == []
    assert Path(tmp_path / seen[0]).match(files.temp_name_glob("x.json"))
