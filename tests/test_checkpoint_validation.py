"""Checkpoints that are checked: header bounds before any allocation, a SHA-256 of the tensor
bytes and of the header, any failure to rebuild = a corrupt checkpoint (moved aside once, retrained), a config
mismatch in the cache treated the same way, and divergence messages that name a checkpoint
only where one exists."""

import json
import math
import struct

import pytest
import torch

from cmim_lab import data
from cmim_lab.checkpoint import HEADER_DIGEST, MODEL_FILE, header_digest, load_model, read_checkpoint, save_checkpoint
from cmim_lab.config import TrainConfig
from cmim_lab.errors import CheckpointError, TrainingDivergedError
from cmim_lab.trainer import _check_finite, load_or_train, model_dir, train

N_TRAIN = 320
TINY = TrainConfig(
    method="vae", dataset="digits", hidden_sizes=(32,), latent_dim=4, epochs=1, batch_size=64, n_train=N_TRAIN
)


@pytest.fixture(scope="module")
def small_digits():
    return data.load("digits", n_train=N_TRAIN)


@pytest.fixture
def cached(fresh_cache, small_digits):
    """A trained tiny model in a fresh cache: (its checkpoint path, its weights)."""
    result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    return result.directory / MODEL_FILE, {k: v.clone() for k, v in result.model.state_dict().items()}


def _rewrite_header(path, reseal=True, **changes):
    """Rewrite ``path`` with header fields replaced (tensors and checksum kept): a header
    that is wrong although the file is intact. ``reseal``: recompute ``header_sha256`` as
    a forger would (so the checks behind it are reached); else keep the stale one."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    for key, value in changes.items():
        if key == "config":
            config = json.loads(meta["config"])
            config.update(value)
            meta["config"] = json.dumps(config)
        else:
            meta[key] = value if isinstance(value, str) else json.dumps(value)
    if reseal:
        meta[HEADER_DIGEST] = header_digest(meta)
    save_file(tensors, str(path), metadata=meta)


def _flip_tensor_byte(path, offset=10):
    blob = bytearray(path.read_bytes())
    header = struct.unpack("<Q", blob[:8])[0]
    blob[8 + header + offset] ^= 0x01
    path.write_bytes(bytes(blob))


def _expect_set_aside(path, small_digits, weights, match):
    with pytest.warns(UserWarning, match=match) as caught:
        again = load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert len([w for w in caught if "Moved it to" in str(w.message)]) == 1  # one warning
    assert again.trained_now
    assert (path.parent / (MODEL_FILE + ".corrupt")).exists()
    assert all(torch.equal(weights[k], v) for k, v in again.model.state_dict().items())  # same run, retrained
    assert not load_or_train(TINY, small_digits, device="cpu", progress=False).trained_now  # and cached again


@pytest.mark.parametrize(
    "shape", [[1, 100_000, 100_000], [0, 8, 8], [1, 8, 8, 8, 8], [1.5, 8], "[1, 8, 8", [2**13, 2**13, 2**13]]
)
def test_absurd_input_shape_is_refused_before_any_allocation(cached, small_digits, shape, monkeypatch):
    path, weights = cached
    _rewrite_header(path, input_shape=shape if not isinstance(shape, str) else shape)
    built = []
    with monkeypatch.context() as m:
        m.setattr(TrainConfig, "build_model", lambda self, *a, **k: built.append(a) or pytest.fail("built"))
        with pytest.raises(CheckpointError, match="input_shape|corrupt"):
            load_model(path)
    assert built == []
    _expect_set_aside(path, small_digits, weights, "input_shape|corrupt")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"latent_dim": 10**9}, "latent_dim"),
        ({"hidden_sizes": [0]}, "hidden_sizes"),
        ({"hidden_sizes": [65_536] * 2}, "do not fit the architecture"),  # within bounds: caught on the meta device
        ({"latent_dim": 5}, "do not fit the architecture"),
        ({"method": "simclr"}, "invalid config"),
    ],
)
def test_config_sizes_in_the_header_are_checked_before_allocation(cached, changes, match, small_digits):
    path, _ = cached
    _rewrite_header(path, config=changes)
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


def test_plausible_input_shape_that_does_not_fit_the_weights(cached, small_digits):
    path, weights = cached
    _rewrite_header(path, input_shape=[1, 4096, 4096])  # 16.7M inputs x 32 units = 2 GB if it were allocated
    with pytest.raises(CheckpointError, match="do not fit the architecture"):
        load_model(path)
    _expect_set_aside(path, small_digits, weights, "do not fit")


def test_any_failure_to_rebuild_is_a_checkpoint_error(cached, monkeypatch):
    path, _ = cached

    def explode(self, *args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(TrainConfig, "build_model", explode)
    with pytest.raises(CheckpointError, match="cannot rebuild its model.*can't allocate"):
        load_model(path)


def test_a_flipped_tensor_byte_fails_the_checksum_and_is_set_aside(cached, small_digits):
    path, weights = cached
    _flip_tensor_byte(path)
    with pytest.raises(CheckpointError, match="SHA-256"):
        read_checkpoint(path)
    _expect_set_aside(path, small_digits, weights, "SHA-256")


def test_a_truncated_file_is_set_aside_and_retrained(cached, small_digits):
    path, weights = cached
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) - 100])
    _expect_set_aside(path, small_digits, weights, "corrupt")


def test_a_checkpoint_without_checksum_is_refused(cached):
    from safetensors import safe_open
    from safetensors.torch import save_file

    path, _ = cached
    with safe_open(str(path), framework="pt") as fh:
        meta = {k: v for k, v in fh.metadata().items() if k != "sha256"}
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(path)


def test_config_mismatch_in_the_cache_is_treated_as_corrupt(fresh_cache, small_digits):
    """A cache key covers the config, so a checkpoint of another config in an entry's folder
    is corruption (or a hash collision): moved aside with one warning, retrained -- while
    load_model(path, config) and train(checkpoint_dir=...) keep raising (the README's rule)."""
    other = TINY.replace(latent_dim=6)
    theirs = load_or_train(other, small_digits, device="cpu", progress=False)
    ours = model_dir(TINY, data=small_digits)
    ours.mkdir(parents=True)
    (ours / MODEL_FILE).write_bytes((theirs.directory / MODEL_FILE).read_bytes())
    with pytest.raises(CheckpointError, match="latent_dim: wanted 4, checkpoint has 6"):
        load_model(ours, TINY)
    with pytest.raises(CheckpointError, match="another config"):
        train(TINY, small_digits, device="cpu", checkpoint_dir=ours, progress=False)
    with pytest.warns(UserWarning, match="another config.*Moved it to"):
        result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert result.trained_now and load_model(result.directory, TINY)[1]["config"].latent_dim == 4
    assert (ours / (MODEL_FILE + ".corrupt")).exists()


def test_divergence_names_a_checkpoint_folder_only_when_a_checkpoint_exists(tmp_path):
    with pytest.raises(TrainingDivergedError) as err:
        _check_finite(["loss"], [math.nan], 0, tmp_path)
    assert "no checkpoint was written" in str(err.value) and str(tmp_path) not in str(err.value)
    with pytest.raises(TrainingDivergedError, match="no checkpoint was written"):
        _check_finite(["loss"], [math.inf], 0, None)
    (tmp_path / MODEL_FILE).write_bytes(b"x")
    with pytest.raises(TrainingDivergedError, match="last good checkpoint is kept in"):
        _check_finite(["loss"], [math.nan], 1, tmp_path)


def test_divergence_in_the_first_epoch_does_not_point_at_an_empty_folder(tmp_path, small_digits, monkeypatch):
    real = TrainConfig.build_model

    def poisoned(self, *args, **kwargs):
        model = real(self, *args, **kwargs)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
        return model

    monkeypatch.setattr(TrainConfig, "build_model", poisoned)
    with pytest.raises(TrainingDivergedError) as err:
        train(TINY, small_digits, device="cpu", checkpoint_dir=tmp_path / "run", progress=False)
    assert err.value.epoch == 1 and "no checkpoint was written" in str(err.value)
    assert "last good checkpoint" not in str(err.value)


@pytest.mark.parametrize(
    "fields",
    [
        dict(arch="conv", hidden_sizes=()),
        dict(method="infonce", projection_dim=16),
        dict(arch="mlp", hidden_sizes=(32, 16)),
    ],
)
def test_every_architecture_rebuilds_through_the_meta_device_check(tmp_path, small_digits, fields):
    config = TINY.replace(**fields)
    model = config.build_model((1, 28, 28) if config.arch == "conv" else small_digits.input_shape)
    save_checkpoint(
        tmp_path, model, config, epochs_done=1, steps_done=5, complete=True, history=[], data_info=small_digits.info
    )
    loaded, meta = load_model(tmp_path, config)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
