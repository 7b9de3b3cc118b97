"""Trainer, checkpoints and the cache: repeatability, resume, corrupt and mismatched files."""

import pytest
import torch

from cmim_lab.checkpoint import MODEL_FILE, OPTIMIZER_FILE, load_model, load_optimizer_state
from cmim_lab.config import TrainConfig
from cmim_lab.errors import CheckpointError, TrainingDivergedError
from cmim_lab.infra.runtime import resolve_device
from cmim_lab.objectives import METHODS
from cmim_lab.trainer import load_or_train, model_dir, train

SMALL = dict(dataset="digits", hidden_sizes=(64,), latent_dim=8, batch_size=64)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_cpu_run_repeats_exactly(digits):
    cfg = TrainConfig(method="cmim", epochs=2, **SMALL)
    a = train(cfg, digits, device="cpu", progress=False)
    b = train(cfg, digits, device="cpu", progress=False)
    assert _same(_weights(a.model), _weights(b.model))
    assert a.history["loss"].tolist() == b.history["loss"].tolist()


def test_history_has_every_named_term_per_epoch(digits):
    cfg = TrainConfig(method="cmim", epochs=3, **SMALL)
    hist = train(cfg, digits, device="cpu", progress=False).history
    assert list(hist["epoch"]) == [1, 2, 3]
    for col in ["loss", "recon_nll", "log_q", "log_p", "contrastive", "seconds", "samples_per_s"]:
        assert col in hist.columns
    steps_per_epoch = len(digits.x_train) // 64
    assert hist["step"].tolist() == [steps_per_epoch * e for e in (1, 2, 3)]


@pytest.mark.parametrize("method", METHODS)
def test_a_few_hundred_steps_lower_every_loss(method, digits):
    cfg = TrainConfig(method=method, max_steps=300, **SMALL)
    hist = train(cfg, digits, device="cpu", progress=False).history
    assert hist["step"].iloc[-1] == 300
    assert hist["loss"].iloc[-1] < hist["loss"].iloc[0] - 0.05 * abs(hist["loss"].iloc[0])


def test_resume_after_interruption_gives_the_same_weights(tmp_path, digits):
    cfg = TrainConfig(method="cmim", epochs=4, **SMALL)
    full = train(cfg, digits, device="cpu", checkpoint_dir=tmp_path / "full", progress=False)

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, row, model):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, digits, device="cpu", checkpoint_dir=tmp_path / "cut", progress=False, callbacks=[stop_after_two])
    assert load_optimizer_state(tmp_path / "cut") is not None  # unfinished run keeps Adam's state (in the one file)
    assert not (tmp_path / "cut" / OPTIMIZER_FILE).exists()  # no separate optimizer file any more
    resumed = train(cfg, digits, device="cpu", checkpoint_dir=tmp_path / "cut", progress=False)
    assert _same(_weights(full.model), _weights(resumed.model))
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    assert load_optimizer_state(tmp_path / "cut") is None  # dropped once complete


def test_load_or_train_trains_once(fresh_cache, digits):
    cfg = TrainConfig(method="mim", epochs=1, **SMALL)
    first = load_or_train(cfg, digits, device="cpu", progress=False)
    second = load_or_train(cfg, digits, device="cpu", progress=False)
    assert first.trained_now and not second.trained_now
    assert _same(_weights(first.model), _weights(second.model))
    assert second.history["loss"].tolist() == pytest.approx(first.history["loss"].tolist())
    other = load_or_train(cfg.replace(seed=1), digits, device="cpu", progress=False)
    assert other.trained_now and other.directory != first.directory


def test_unused_fields_share_a_cache_entry():
    a = TrainConfig(method="mim", temperature=0.1)
    b = TrainConfig(method="mim", temperature=0.7)  # mim has no contrastive term
    assert a.key("v") == b.key("v")
    assert TrainConfig(method="cmim", temperature=0.1).key("v") != TrainConfig(method="cmim", temperature=0.7).key("v")
    assert a.key("v") != a.key("w")  # the kit version is part of the key


def test_corrupt_checkpoint_is_set_aside_and_retrained(fresh_cache, digits):
    cfg = TrainConfig(method="vae", epochs=1, **SMALL)
    first = load_or_train(cfg, digits, device="cpu", progress=False)
    path = first.directory / MODEL_FILE
    path.write_bytes(b"\x80\x04 this is not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(path)
    with pytest.warns(UserWarning, match="Moved it to"):
        again = load_or_train(cfg, digits, device="cpu", progress=False)
    assert again.trained_now
    assert (first.directory / (MODEL_FILE + ".corrupt")).read_bytes().startswith(b"\x80\x04")  # kept


def test_truncated_checkpoint_is_a_clear_error(tmp_path, digits):
    cfg = TrainConfig(method="vae", epochs=1, **SMALL)
    train(cfg, digits, device="cpu", checkpoint_dir=tmp_path, progress=False)
    blob = (tmp_path / MODEL_FILE).read_bytes()
    (tmp_path / MODEL_FILE).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="corrupt or not a cmim_lab checkpoint"):
        load_model(tmp_path)


def test_mismatched_checkpoint_names_the_differing_fields(tmp_path, digits):
    cfg = TrainConfig(method="cmim", epochs=1, **SMALL)
    train(cfg, digits, device="cpu", checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="latent_dim: wanted 4, checkpoint has 8"):
        load_model(tmp_path, cfg.replace(latent_dim=4))
    with pytest.raises(CheckpointError, match="another config"):
        train(cfg.replace(lr=0.01), digits, device="cpu", checkpoint_dir=tmp_path, progress=False)


def test_divergence_stops_names_epoch_and_term_and_keeps_last_good_checkpoint(tmp_path, digits):
    cfg = TrainConfig(method="cmim", epochs=3, **SMALL)

    def poison(epoch, row, model):
        if epoch == 1:  # after the first (good) epoch checkpoint, break the weights
            with torch.no_grad():
                model.encoder.head.weight.fill_(float("nan"))

    with pytest.raises(TrainingDivergedError) as err:
        train(cfg, digits, device="cpu", checkpoint_dir=tmp_path, progress=False, callbacks=[poison])
    assert err.value.epoch == 2 and err.value.term in {"loss", "recon_nll", "log_q", "log_p", "contrastive"}
    assert "epoch 2" in str(err.value) and "last good checkpoint" in str(err.value)
    model, meta = load_model(tmp_path)
    assert meta["epochs_done"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("method", "simclr", "valid methods are"),
        ("epochs", 0, "epochs must be > 0"),
        ("batch_size", -8, "batch_size must be > 0"),
        ("lr", 0.0, "lr must be > 0"),
        ("temperature", 0.0, "temperature must be > 0"),
        ("reduction", "mean", "valid reductions are: sum, normalised"),
        ("arch", "resnet", "valid archs are: mlp, conv"),
        ("epochs", 2.5, "epochs must be a integer|epochs must be an integer"),
    ],
)
def test_bad_config_values_raise_early(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_batch_larger_than_data_is_an_error(digits):
    with pytest.raises(ValueError, match="batch_size 4096 exceeds the 1437 training samples"):
        train(TrainConfig(dataset="digits", batch_size=4096), digits, progress=False)


def test_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="use auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}


def test_model_dir_is_readable(fresh_cache):
    path = model_dir(TrainConfig(method="cmim", dataset="digits", seed=2))
    assert path.name.startswith("digits-cmim-sum-s2-") and path.parent.name == "models"


def test_checkpoint_loads_without_unpickling(tmp_path, digits, monkeypatch):
    """The optimizer state lives inside the safetensors file; a pickled ``optimizer.pt``
    (the separate file of older kit versions) is never read, and saving removes it."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / OPTIMIZER_FILE).write_bytes(pickle.dumps(Evil()))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must never be called"))
    assert load_optimizer_state(tmp_path) is None
    cfg = TrainConfig(method="cmim", epochs=1, **SMALL)
    train(cfg, digits, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert not (tmp_path / OPTIMIZER_FILE).exists()
