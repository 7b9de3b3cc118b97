"""Cache keys that cover everything a result depends on: the data's content (train and test
inputs and labels), every training and evaluation setting, the library versions; retrain
clears an entry's evaluations; user arrays cannot take a built-in dataset's name; data with
one class or unseen test labels is refused at the door."""

import numpy as np
import pytest
import torch

from cmim_lab import data
from cmim_lab import trainer as trainer_module
from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.studies.engine import EvalTask, cached_evaluate, evaluation_key
from cmim_lab.trainer import EVAL_GLOB, load_or_train, model_dir

TINY = TrainConfig(method="mim", dataset="arrays", hidden_sizes=(32,), latent_dim=4, epochs=1, batch_size=64)
FAST_EVAL = EvalConfig(
    probes=("knn-euclidean",), embeddings=("mean",), clustering=False, backend="torch", probe_n_train=None
)


@pytest.fixture(scope="module")
def arrays():
    """digits as the user's own arrays: (x_train, y_train, x_test, y_test), uint8 images."""
    ds = data.load("digits")
    to_u8 = lambda t: (t.squeeze(1).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    return to_u8(ds.x_train[:400]), ds.y_train[:400].numpy(), to_u8(ds.x_test), ds.y_test.numpy()


def _ds(x_train, y_train, x_test, y_test):
    return data.from_arrays(x_train, y_train, x_test, y_test, name="arrays")


def _logged(result, task, cfg):
    lines = []
    ev = cached_evaluate(result, task, cfg, log=lines.append)
    return ev, " ".join(lines)


def test_fingerprint_covers_inputs_labels_and_both_splits(arrays):
    x, y, xt, yt = arrays
    base = data.fingerprint(_ds(x, y, xt, yt))
    assert data.fingerprint(_ds(x, y, xt, yt)) == base  # deterministic
    rng = np.random.default_rng(0)
    changed = {
        "shuffled train labels": _ds(x, rng.permutation(y), xt, yt),
        "shuffled test labels": _ds(x, y, xt, rng.permutation(yt)),
        "other test set": _ds(x, y, xt[::-1].copy(), yt),
        "one train pixel": _ds(np.where(np.arange(x.size).reshape(x.shape) == 5, 255 - x, x), y, xt, yt),
        "subset": _ds(x[:-1], y[:-1], xt, yt),
    }
    for what, ds in changed.items():
        assert data.fingerprint(ds) != base, what


def test_fingerprint_follows_in_place_edits(arrays):
    ds = _ds(*arrays)
    before = data.fingerprint(ds)
    ds.x_train[0, 0, 0, 0] += 0.5  # the remembered hash must not hide an in-place change
    edited = data.fingerprint(ds)
    assert edited != before
    ds.y_test = ds.y_test.flip(0)  # a replaced tensor
    assert data.fingerprint(ds) != edited


def test_model_cache_is_not_shared_by_shuffled_labels_or_another_test_set(fresh_cache, arrays):
    x, y, xt, yt = arrays
    first = load_or_train(TINY, _ds(x, y, xt, yt), device="cpu", progress=False)
    assert not load_or_train(TINY, _ds(x, y, xt, yt), device="cpu", progress=False).trained_now
    shuffled = load_or_train(
        TINY, _ds(x, np.random.default_rng(1).permutation(y), xt, yt), device="cpu", progress=False
    )
    other_test = load_or_train(TINY, _ds(x, y, xt[:200], yt[:200]), device="cpu", progress=False)
    assert shuffled.trained_now and other_test.trained_now
    assert len({first.directory, shuffled.directory, other_test.directory}) == 3


def test_model_key_covers_library_versions(fresh_cache, arrays, monkeypatch):
    ds = _ds(*arrays)
    before = model_dir(TINY, data=ds)
    real = trainer_module.library_versions
    monkeypatch.setattr(trainer_module, "library_versions", lambda: {**real(), "torch": "0.0.1"})
    assert model_dir(TINY, data=ds) != before
    monkeypatch.setattr(trainer_module, "library_versions", lambda: {**real(), "scikit-learn": "0.0.1"})
    assert model_dir(TINY, data=ds) != before


def test_evaluation_cache_follows_test_labels_and_probe_settings(fresh_cache, arrays):
    x, y, xt, yt = arrays
    ds = _ds(x, y, xt, yt)
    result = load_or_train(TINY, ds, device="cpu", progress=False)
    task = EvalTask("arrays", ds, FAST_EVAL)
    ev, log = _logged(result, task, FAST_EVAL)
    assert "evaluated" in log
    assert "loaded from cache" in _logged(result, task, FAST_EVAL)[1]
    # the same model probed on a wrongly labelled test set: recomputed, and it scores differently
    wrong = EvalTask("arrays", _ds(x, y, xt, np.random.default_rng(2).permutation(yt)), FAST_EVAL)
    ev_wrong, log = _logged(result, wrong, FAST_EVAL)
    assert "evaluated" in log and ev_wrong.probes != ev.probes
    # a changed probe setting (k = 5 -> 1): recomputed
    k1 = FAST_EVAL.replace(knn_k=1)
    assert evaluation_key(result, task, k1) != evaluation_key(result, task, FAST_EVAL)
    assert "evaluated" in _logged(result, task, k1)[1]
    # the MLP probe's precision: keyed when set away from float32, which leaves the keys of
    # results cached before the setting existed unchanged
    assert "mlp_precision" not in FAST_EVAL.key_dict() and FAST_EVAL.key_dict() == {
        k: v for k, v in FAST_EVAL.to_dict().items() if k != "mlp_precision"
    }
    low = FAST_EVAL.replace(mlp_precision="bfloat16")
    assert low.key_dict()["mlp_precision"] == "bfloat16"
    assert evaluation_key(result, task, low) != evaluation_key(result, task, FAST_EVAL)


def test_evaluation_key_covers_the_weights_and_library_versions(fresh_cache, arrays, monkeypatch):
    ds = _ds(*arrays)
    result = load_or_train(TINY, ds, device="cpu", progress=False)
    task = EvalTask("arrays", ds, FAST_EVAL)
    key = evaluation_key(result, task, FAST_EVAL)
    import cmim_lab.studies.engine as study

    real = study.library_versions
    with monkeypatch.context() as m:
        m.setattr(study, "library_versions", lambda: {**real(), "scikit-learn": "0.0.1"})
        assert evaluation_key(result, task, FAST_EVAL) != key
    assert evaluation_key(result, task, FAST_EVAL) == key
    with torch.no_grad():
        next(result.model.parameters()).add_(1.0)
    assert evaluation_key(result, task, FAST_EVAL) != key


def test_retrain_clears_the_entrys_evaluations(fresh_cache, arrays):
    ds = _ds(*arrays)
    result = load_or_train(TINY, ds, device="cpu", progress=False)
    cached_evaluate(result, EvalTask("arrays", ds, FAST_EVAL), FAST_EVAL)
    cached_evaluate(result, EvalTask("arrays", ds, FAST_EVAL), FAST_EVAL.replace(knn_k=3))
    assert len(list(result.directory.glob(EVAL_GLOB))) == 2
    again = load_or_train(TINY, ds, device="cpu", progress=False, retrain=True)
    assert again.trained_now and list(result.directory.glob(EVAL_GLOB)) == []


def test_user_arrays_cannot_take_a_built_in_name(fresh_cache):
    rng = np.random.default_rng(0)
    noise, labels = rng.random((100, 64)), np.arange(100) % 10
    for name in ("digits", "fashion-mnist", "mnist-5k"):
        with pytest.raises(ValueError, match=f"name '{name}' belongs to a built-in dataset"):
            data.from_arrays(noise, labels, name=name)
    assert not (fresh_cache / "models").exists()


@pytest.mark.parametrize(
    "y_train, y_test, message",
    [
        (np.zeros(20, dtype=int), None, r"y_train holds a single class \(\[0\]\)"),
        (np.full(20, 7), np.full(5, 7), r"single class \(\[7\]\)"),
        (np.arange(20) % 2, np.array([0, 1, 2, 5, 1]), r"y_test holds labels \[2, 5\] that y_train lacks"),
    ],
)
def test_data_with_one_class_or_unseen_test_labels_is_refused(y_train, y_test, message):
    rng = np.random.default_rng(0)
    x_test = None if y_test is None else rng.random((len(y_test), 6))
    with pytest.raises(ValueError, match=message):
        data.from_arrays(rng.random((20, 6)), y_train, x_test, y_test)
