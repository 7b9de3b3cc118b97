"""Exact resume: a kill between any two file operations of a checkpoint save resumes to the
weights of an uninterrupted run, bit for bit (CPU), and leaves no stale file behind.

A "kill" here is an exception raised by an instrumented file operation; from then on every
file operation in the checkpoint folder fails too, as if the process were gone, so the
interrupted save cannot tidy up after itself (a temporary file stays behind, as after a
real SIGKILL). The test first counts the file operations of a whole run, then kills at
each of them in turn.
"""

import os
import tempfile

import pytest
import torch

from cmim_lab import data
from cmim_lab.checkpoint import MODEL_FILE, OPTIMIZER_FILE, load_model, save_checkpoint
from cmim_lab.config import TrainConfig
from cmim_lab.errors import CheckpointError
from cmim_lab.infra import files
from cmim_lab.trainer import LOCK_FILE, load_or_train, model_dir, train

N_TRAIN = 320  # five steps of 64 per epoch: tiny, so every kill point runs in well under a second
TINY = TrainConfig(
    method="cmim", dataset="digits", hidden_sizes=(32,), latent_dim=4, epochs=3, batch_size=64, n_train=N_TRAIN
)


class Killed(BaseException):
    """The simulated kill (a BaseException, so no ``except Exception`` handler swallows it)."""


class FileOps:
    """Counts the file operations a save performs inside ``folder`` and kills at number ``kill_at``."""

    def __init__(self, folder, kill_at=None):
        self.folder, self.kill_at, self.count, self.dead, self.log = str(folder), kill_at, 0, False, []

    def inside(self, path) -> bool:
        path = os.fspath(path)
        return (path == self.folder or path.startswith(self.folder + os.sep)) and not path.endswith(LOCK_FILE)

    def op(self, name, path):
        if not self.inside(path):
            return
        if self.dead:
            raise Killed(f"process already dead ({name})")
        self.count += 1
        self.log.append((name, os.path.basename(os.fspath(path))))
        if self.count == self.kill_at:
            self.dead = True
            raise Killed(f"killed at file operation {self.count}: {name} {path}")

    def install(self, monkeypatch):
        real_mkstemp, real_replace, real_unlink = tempfile.mkstemp, os.replace, os.unlink
        real_write, real_sync = files._write_bytes, files._sync

        def mkstemp(*args, **kwargs):
            self.op("mkstemp", kwargs.get("dir", ""))
            return real_mkstemp(*args, **kwargs)

        def write_bytes(path, blob):
            self.op("write", path)
            return real_write(path, blob)

        def sync(path):
            self.op("fsync", path)
            return real_sync(path)

        def replace(src, dst, *args, **kwargs):
            self.op("rename", dst)
            return real_replace(src, dst, *args, **kwargs)

        def unlink(path, *args, **kwargs):
            self.op("unlink", path)
            return real_unlink(path, *args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(files, "_write_bytes", write_bytes)
        monkeypatch.setattr(files, "_sync", sync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "unlink", unlink)
        return self


@pytest.fixture(scope="module")
def small_digits():
    return data.load("digits", n_train=N_TRAIN)


@pytest.fixture(scope="module")
def reference(small_digits):
    result = train(TINY, small_digits, device="cpu", progress=False)
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def _same(state, model) -> bool:
    other = model.state_dict()
    return state.keys() == other.keys() and all(torch.equal(state[k], other[k]) for k in state)


def _leftovers(folder):
    return sorted(set(os.listdir(folder)) - {MODEL_FILE, LOCK_FILE})


def _count_ops(tmp_path, small_digits, monkeypatch) -> list:
    with monkeypatch.context() as m:
        ops = FileOps(tmp_path / "count").install(m)
        train(TINY, small_digits, device="cpu", checkpoint_dir=tmp_path / "count", progress=False)
    return ops.log


def test_a_save_is_one_rename_of_one_file(tmp_path, small_digits, monkeypatch):
    log = _count_ops(tmp_path, small_digits, monkeypatch)
    renames = [name for op, name in log if op == "rename"]
    assert renames == [MODEL_FILE] * TINY.epochs  # model, optimizer and progress: one unit, one rename each epoch
    assert {op for op, _ in log} == {"mkstemp", "write", "fsync", "rename", "unlink"}


def test_a_kill_between_any_two_file_operations_resumes_bit_identically(tmp_path, small_digits, reference, monkeypatch):
    n_ops = len(_count_ops(tmp_path, small_digits, monkeypatch))
    assert n_ops >= 4 * TINY.epochs
    for kill_at in range(1, n_ops + 1):
        folder = tmp_path / f"kill{kill_at}"
        folder.mkdir()
        (folder / OPTIMIZER_FILE).write_bytes(b"stale optimizer file of an older kit version")
        with monkeypatch.context() as m:
            FileOps(folder, kill_at).install(m)
            with pytest.raises(Killed):
                train(TINY, small_digits, device="cpu", checkpoint_dir=folder, progress=False)
        resumed = train(TINY, small_digits, device="cpu", checkpoint_dir=folder, progress=False)
        assert _same(reference, resumed.model), f"kill at file operation {kill_at} changed the final weights"
        assert _leftovers(folder) == [], f"kill at file operation {kill_at} left {_leftovers(folder)}"
        model, meta = load_model(folder)
        assert meta["complete"] and meta["optimizer_state"] is None and _same(reference, model)


def test_load_or_train_resumes_after_a_kill_and_leaves_nothing_stale(fresh_cache, small_digits, reference, monkeypatch):
    folder = model_dir(TINY, data=small_digits)
    with monkeypatch.context() as m:
        FileOps(folder, kill_at=8).install(m)  # writing the second epoch's temporary file
        with pytest.raises(Killed):
            load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert any(name.endswith(".tmp") for name in os.listdir(folder))  # what a hard kill leaves
    result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert result.trained_now and _same(reference, result.model)
    assert _leftovers(folder) == []


def _adam_after(model, steps: int):
    opt = torch.optim.Adam(model.parameters(), lr=TINY.lr)
    for _ in range(steps):
        opt.zero_grad()
        sum((p**2).sum() for p in model.parameters()).backward()
        opt.step()
    return opt


def test_an_optimizer_state_of_another_step_is_refused(tmp_path, small_digits):
    """The defect of issue 15: a 62-step model resumed with a 93-step optimizer. Written by
    hand here (the trainer cannot produce it any more): refused with a clear message."""
    model = TINY.build_model(small_digits.input_shape)
    save_checkpoint(
        tmp_path,
        model,
        TINY,
        epochs_done=1,
        steps_done=2,
        complete=False,
        history=[{"epoch": 1}],
        data_info=small_digits.info,
        optimizer=_adam_after(model, 3),
    )
    with pytest.raises(CheckpointError, match="taken 3 steps while the model has taken 2"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="do not belong together"):
        train(TINY, small_digits, device="cpu", checkpoint_dir=tmp_path, progress=False)


def test_an_unfinished_checkpoint_without_optimizer_state_is_refused(tmp_path, small_digits):
    model = TINY.build_model(small_digits.input_shape)
    save_checkpoint(
        tmp_path,
        model,
        TINY,
        epochs_done=1,
        steps_done=5,
        complete=False,
        history=[{"epoch": 1}],
        data_info=small_digits.info,
    )
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_model(tmp_path)


def test_load_or_train_sets_a_mismatched_optimizer_aside_and_retrains(fresh_cache, small_digits, reference):
    folder = model_dir(TINY, data=small_digits)
    model = TINY.build_model(small_digits.input_shape)
    save_checkpoint(
        folder,
        model,
        TINY,
        epochs_done=1,
        steps_done=2,
        complete=False,
        history=[{"epoch": 1}],
        data_info=small_digits.info,
        optimizer=_adam_after(model, 3),
    )
    with pytest.warns(UserWarning, match="do not belong together") as caught:
        result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert len([w for w in caught if "Moved it to" in str(w.message)]) == 1
    assert result.trained_now and _same(reference, result.model)
    assert (folder / (MODEL_FILE + ".corrupt")).exists()


def test_resume_restores_adam_exactly(tmp_path, small_digits):
    model = TINY.build_model(small_digits.input_shape)
    opt = _adam_after(model, 5)
    save_checkpoint(
        tmp_path,
        model,
        TINY,
        epochs_done=1,
        steps_done=5,
        complete=False,
        history=[{"epoch": 1}],
        data_info=small_digits.info,
        optimizer=opt,
    )
    _, meta = load_model(tmp_path)
    fresh = torch.optim.Adam(TINY.build_model(small_digits.input_shape).parameters(), lr=TINY.lr)
    from cmim_lab.checkpoint import restore_optimizer

    restore_optimizer(fresh, meta["optimizer_state"], tmp_path)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]  # betas come back as a tuple
    for i in a["state"]:
        for key in a["state"][i]:
            assert torch.equal(a["state"][i][key], b["state"][i][key])
