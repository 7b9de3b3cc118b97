"""Storage faults (issue #30, items 2-5): a full disk, a special file where a cache file
should be, the temporary files of killed saves, and a cache that says what changed since
it was written.

* A full disk is a write that raises ``ENOSPC`` (monkeypatched: a small real file system
  needs root to mount), at every kind of write of the kit: checkpoint, evaluation JSON,
  dataset cache, archive. Each gives one line (folder, bytes needed, bytes free), leaves
  the previous file as it was and no temporary file.
* A FIFO planted at a checkpoint (or evaluation, dataset cache, lock) path is refused at
  once; every call that could hang runs in a thread joined with a timeout, so a
  regression fails instead of hanging the suite.
* Killed saves: a process killed by the kernel inside safetensors' own writer (its file
  size limit, ``RLIMIT_FSIZE``), and one killed inside the kit's writer; the next run
  leaves no temporary file.
* :func:`cmim_lab.cache.verify.verify_cache` reports a changed weight, an edited
  evaluation and a dataset cache with shifted labels, and nothing for an untouched cache
  (nor for the cache written before the folder move, which carries fewer digests).
"""

import errno
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from cmim_lab import data
from cmim_lab.cache.archive import export_cache
from cmim_lab.cache.verify import verify_cache
from cmim_lab.checkpoint import HEADER_DIGEST, MODEL_FILE, header_digest, load_model, read_checkpoint, save_checkpoint
from cmim_lab.cli import main
from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.errors import CheckpointError, DiskFullError, SpecialFileError
from cmim_lab.infra import files
from cmim_lab.infra.files import atomic_write, read_json, write_json
from cmim_lab.studies.engine import EvalTask, grid, run_study
from cmim_lab.trainer import LOCK_FILE, load_or_train, model_dir, train

N_TRAIN = 320
TINY = TrainConfig(
    method="vae", dataset="digits", hidden_sizes=(16,), latent_dim=2, epochs=1, batch_size=64, n_train=N_TRAIN
)
EVAL = EvalConfig(probes=["knn-cosine"], embeddings=["mean"], clustering=False)
HANG_S = 30  # a call that takes longer than this is waiting on a FIFO
FIXTURE = Path(__file__).parent / "fixtures" / "cache_before_move"


@pytest.fixture(scope="module")
def small_digits():
    return data.load("digits", n_train=N_TRAIN)


def _leftovers(folder: Path) -> list[str]:
    """Temporary files in ``folder``: the kit's (``.<name>.*.tmp``) and safetensors' (``.tmpXXXXXX``)."""
    return sorted(
        p.name
        for p in Path(folder).iterdir()
        if p.name.endswith(files.TMP_SUFFIX) or files.SAFETENSORS_TEMP.fullmatch(p.name)
    )


def _disk_full_after(half: bool = True):
    """A stand-in for the kit's byte writer that writes half of the bytes, then finds the disk full."""

    def write(tmp, blob):
        with open(tmp, "wb") as fh:
            fh.write(blob[: len(blob) // 2] if half else b"")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def _one_line_disk_full(exc: DiskFullError, folder: Path, needed: int | None = None) -> str:
    text = str(exc)
    assert isinstance(exc, OSError) and "\n" not in text and text.startswith("disk full:")
    assert exc.folder == folder and isinstance(exc.free, int) and exc.errno == errno.ENOSPC
    assert str(folder) in text and f"that disk has {exc.free:,} bytes free" in text
    if needed is not None:
        assert exc.needed == needed and f"needs {needed:,} bytes" in text
    return text


# --- a full disk -------------------------------------------------------------------------------------


def test_a_full_disk_during_a_checkpoint_save_keeps_the_previous_one(tmp_path, small_digits, monkeypatch):
    from safetensors.torch import save

    train(TINY, small_digits, device="cpu", checkpoint_dir=tmp_path, progress=False)
    before = (tmp_path / MODEL_FILE).read_bytes()
    model, meta = load_model(tmp_path)
    monkeypatch.setattr(files, "_write_bytes", _disk_full_after())
    with pytest.raises(DiskFullError) as full:
        save_checkpoint(tmp_path, model, TINY, epochs_done=2, steps_done=10, complete=True, history=[], data_info={})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    assert full.value.needed > len(save(tensors)) // 2  # the whole serialised file, header included
    _one_line_disk_full(full.value, tmp_path, full.value.needed)
    assert (tmp_path / MODEL_FILE).read_bytes() == before and _leftovers(tmp_path) == []


def test_a_full_disk_while_training_releases_the_lock_and_leaves_nothing_half_written(
    fresh_cache, small_digits, monkeypatch
):
    from filelock import FileLock

    monkeypatch.setattr(files, "_write_bytes", _disk_full_after())
    with pytest.raises(DiskFullError):
        load_or_train(TINY, small_digits, device="cpu", progress=False)
    folder = model_dir(TINY, data=small_digits)
    assert not (folder / MODEL_FILE).exists() and _leftovers(folder) == []
    lock = FileLock(str(folder / LOCK_FILE))
    lock.acquire(timeout=0)  # released: another process could take it at once
    lock.release()


def test_a_full_disk_reported_by_a_library_or_by_fsync_is_one_line_too(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    target = tmp_path / "eval-0123.json"
    write_json(target, {"old": 1})

    def library_writer(tmp):
        Path(tmp).write_bytes(b"x" * 1000)
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    with pytest.raises(DiskFullError) as full:
        atomic_write(target, library_writer)
    text = _one_line_disk_full(full.value, tmp_path)
    assert "needs more than the 1,000 bytes it had written" in text and full.value.needed is None

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFullError):
        write_json(target, {"new": 2})
    assert read_json(target) == {"old": 1} and _leftovers(tmp_path) == []


def test_a_full_disk_for_an_evaluation_a_dataset_cache_and_an_archive(fresh_cache, small_digits, tmp_path, monkeypatch):
    result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    task = EvalTask("digits", small_digits, EVAL)
    with monkeypatch.context() as m:
        m.setattr(files, "_write_bytes", _disk_full_after())
        with pytest.raises(DiskFullError) as full:  # the evaluation JSON
            run_study(grid(TINY, ["vae"]), small_digits, [task], device="cpu", progress=False)
        _one_line_disk_full(full.value, result.directory)
        assert not list(result.directory.glob("eval-*")) and _leftovers(result.directory) == []
        (fresh_cache / "data").mkdir(exist_ok=True)
        for old in (fresh_cache / "data").glob("*.safetensors"):
            old.unlink()
        with pytest.raises(DiskFullError) as full:  # the dataset cache
            data.load("digits", n_train=N_TRAIN)
        _one_line_disk_full(full.value, fresh_cache / "data")
        assert not list((fresh_cache / "data").glob("*.safetensors")) and _leftovers(fresh_cache / "data") == []

    def tar_writer_fails(tmp):
        Path(tmp).write_bytes(b"x" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    real_atomic_write = files.atomic_write
    monkeypatch.setattr(
        "cmim_lab.cache.archive.atomic_write", lambda path, write, **kw: real_atomic_write(path, tar_writer_fails, **kw)
    )
    with pytest.raises(DiskFullError, match="needs more than the 4,096 bytes"):  # the archive
        export_cache(tmp_path / "models.tar.gz", log=None)
    assert sorted(os.listdir(tmp_path)) == ["cache"]  # no archive, no checksum file, no temporary


def test_the_cli_prints_a_full_disk_in_one_line(fresh_cache, monkeypatch, capsys):
    monkeypatch.setattr(files, "_write_bytes", _disk_full_after())
    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--method",
            "vae",
            "--n-train",
            str(N_TRAIN),
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--hidden-sizes",
            "16",
            "--latent-dim",
            "2",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "disk full: writing" in err and "bytes free" in err


# --- a special file where a cache file should be ----------------------------------------------------


def _promptly(fn):
    """Run ``fn`` in a thread; the exception it raised (None if none). Fails if it hangs."""
    outcome = {}

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["exc"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), f"{fn} is still waiting after {HANG_S} s (reading a FIFO?)"
    return outcome.get("exc")


def test_a_fifo_at_a_checkpoint_path_is_refused_at_once_and_the_lock_released(fresh_cache, small_digits):
    from filelock import FileLock

    folder = model_dir(TINY, data=small_digits)
    folder.mkdir(parents=True)
    os.mkfifo(folder / MODEL_FILE)
    for call in (
        lambda: load_model(folder),
        lambda: read_checkpoint(folder / MODEL_FILE),
        lambda: load_or_train(TINY, small_digits, device="cpu", progress=False),
        lambda: train(TINY, small_digits, device="cpu", checkpoint_dir=folder, progress=False),
    ):
        exc = _promptly(call)
        assert isinstance(exc, SpecialFileError) and isinstance(exc, OSError), exc
        assert f"{folder / MODEL_FILE} is a FIFO (named pipe), not a regular file" in str(exc)
        assert "\n" not in str(exc) and "remove it" in str(exc)
    lock = FileLock(str(folder / LOCK_FILE))
    lock.acquire(timeout=0)
    lock.release()
    assert verify_cache(fresh_cache) == [
        f"models/{folder.name}/{MODEL_FILE}: is a FIFO (named pipe), not a regular file (never opened); remove it"
    ]


def test_a_folder_at_a_checkpoint_path_and_fifos_at_other_cache_files(fresh_cache, small_digits, tmp_path):
    folder = model_dir(TINY, data=small_digits)
    (folder / MODEL_FILE).mkdir(parents=True)
    exc = _promptly(lambda: load_or_train(TINY, small_digits, device="cpu", progress=False))
    assert isinstance(exc, SpecialFileError) and "is a folder, not a regular file" in str(exc)
    os.mkfifo(tmp_path / "eval-x.json")
    assert isinstance(_promptly(lambda: read_json(tmp_path / "eval-x.json")), SpecialFileError)
    (tmp_path / "entry").mkdir()
    os.mkfifo(tmp_path / "entry" / LOCK_FILE)
    exc = _promptly(lambda: files.locked(tmp_path / "entry" / LOCK_FILE).__enter__())
    assert isinstance(exc, SpecialFileError) and "lock file" in str(exc)
    dataset_cache = fresh_cache / "data" / "digits-split0.safetensors"
    dataset_cache.parent.mkdir(exist_ok=True)
    dataset_cache.unlink(missing_ok=True)
    os.mkfifo(dataset_cache)
    exc = _promptly(lambda: data.load("digits", n_train=N_TRAIN))
    assert isinstance(exc, SpecialFileError) and "dataset cache" in str(exc)


# --- temporary files of killed saves ----------------------------------------------------------------

KILLED_INSIDE_SAFETENSORS = textwrap.dedent("""
    import resource, signal, sys, torch
    from safetensors.torch import save_file
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; by default it kills the process
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # the kernel kills it (SIGXFSZ) at 1 MB
    save_file({"w": torch.zeros(4 << 20)}, sys.argv[1])            # 16 MB: killed inside safetensors' writer
""")

KILLED_INSIDE_THE_KIT = textwrap.dedent("""
    import json, os, signal, sys
    from cmim_lab import data
    from cmim_lab.config import TrainConfig
    from cmim_lab.infra import files
    from cmim_lab.trainer import load_or_train

    real = files._write_bytes

    def write(tmp, blob):
        if ".model.safetensors." not in tmp:
            return real(tmp, blob)
        with open(tmp, "wb") as fh:
            fh.write(blob[: len(blob) // 2])
            fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill, half-way through the checkpoint's bytes

    files._write_bytes = write
    config = TrainConfig.from_dict(json.loads(sys.argv[1]))
    load_or_train(config, data.load("digits", n_train=config.n_train), device="cpu", progress=False)
""")


def _run(script: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_kill_inside_safetensors_own_save_leaves_nothing_after_the_next_run(fresh_cache, small_digits):
    folder = model_dir(TINY, data=small_digits)
    folder.mkdir(parents=True)
    killed = _run(KILLED_INSIDE_SAFETENSORS, str(folder / MODEL_FILE))
    assert killed.returncode == -signal.SIGXFSZ, killed.stderr[-2000:]
    strays = [n for n in _leftovers(folder) if files.SAFETENSORS_TEMP.fullmatch(n)]
    assert strays and not (folder / MODEL_FILE).exists()  # what the issue saw: safetensors' .tmpXXXXXX
    (folder / ".tmp-not-ours").write_text("a file of someone else's naming")
    result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert result.trained_now and _leftovers(folder) == []
    assert (folder / ".tmp-not-ours").exists()  # only safetensors' exact naming is removed


def test_a_kill_inside_the_kits_save_leaves_nothing_after_the_next_run(fresh_cache, small_digits):
    killed = _run(KILLED_INSIDE_THE_KIT, json.dumps(TINY.to_dict()))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    folder = model_dir(TINY, data=small_digits)
    left = _leftovers(folder)
    assert left and all(n.startswith(f".{MODEL_FILE}.") for n in left)  # the kit's own, never safetensors'
    result = load_or_train(TINY, small_digits, device="cpu", progress=False)
    assert result.trained_now and _leftovers(folder) == []


def test_safetensors_leftovers_in_the_data_folder_are_removed_only_when_stale(fresh_cache):
    data.load("digits")
    folder = fresh_cache / "data"
    stale, young = folder / ".tmpAbC123", folder / ".tmpXyZ789"
    for path in (stale, young):
        path.write_bytes(b"\0" * 1000)
    old = os.path.getmtime(stale) - files.STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    for cached in folder.glob("*.safetensors"):
        cached.unlink()
    data.load("digits")  # rebuilt: under the file's lock, but another dataset's writer may share the folder
    assert not stale.exists() and young.exists()


# --- what changed since it was written ------------------------------------------------------------


@pytest.fixture
def studied(fresh_cache, small_digits):
    """A fresh cache with a dataset cache, one trained model and one cached evaluation."""
    data.load("digits", n_train=N_TRAIN)
    run_study(grid(TINY, ["vae"]), small_digits, [EvalTask("digits", small_digits, EVAL)], device="cpu", progress=False)
    entry = model_dir(TINY, data=small_digits)
    return {"cache": fresh_cache, "entry": entry, "eval": next(entry.glob("eval-*.json"))}


def test_an_untouched_cache_verifies_clean_and_its_evaluation_names_the_checkpoint(studied):
    assert verify_cache(studied["cache"]) == []
    blob = json.loads(studied["eval"].read_text())
    assert blob["checkpoint_sha256"] == read_checkpoint(studied["entry"])[1]["sha256"] and "sha256" in blob


def test_a_changed_weight_is_reported(studied):
    path = studied["entry"] / MODEL_FILE
    blob = bytearray(path.read_bytes())
    blob[8 + struct.unpack("<Q", blob[:8])[0] + 10] ^= 0x01
    path.write_bytes(bytes(blob))
    lines = verify_cache(studied["cache"])
    assert len(lines) == 1 and lines[0].startswith(f"models/{studied['entry'].name}/{MODEL_FILE}:")
    assert "do not match the SHA-256" in lines[0]


def test_an_edited_evaluation_is_reported_and_computed_again(studied, small_digits):
    blob = json.loads(studied["eval"].read_text())
    key = next(iter(blob["probes"]))
    blob["probes"][key] = {k: 0.99 if isinstance(v, float) else v for k, v in blob["probes"][key].items()}
    studied["eval"].write_text(json.dumps(blob))
    lines = verify_cache(studied["cache"])
    assert lines == [
        f"models/{studied['entry'].name}/{studied['eval'].name}: edited since it was written (its "
        f"content does not match its SHA-256); delete it, it is computed again"
    ]
    log = []
    run_study(
        grid(TINY, ["vae"]),
        small_digits,
        [EvalTask("digits", small_digits, EVAL)],
        device="cpu",
        progress=False,
        log=log.append,
    )
    assert not any("evaluation loaded from cache" in line for line in log)  # not used: computed again
    assert verify_cache(studied["cache"]) == []


def test_an_evaluation_of_another_checkpoint_is_reported(studied, small_digits):
    other = train(TINY.replace(seed=1), small_digits, device="cpu", progress=False)
    save_checkpoint(
        studied["entry"], other.model, TINY, epochs_done=1, steps_done=5, complete=True, history=[], data_info={}
    )
    lines = verify_cache(studied["cache"])
    assert len(lines) == 1 and studied["eval"].name in lines[0] and "computed from checkpoint weights" in lines[0]


def test_a_dataset_cache_with_shifted_labels_is_reported_and_rebuilt(studied):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    path = studied["cache"] / "data" / "digits-split0.safetensors"
    with safe_open(str(path), framework="numpy") as fh:
        meta, arrays = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    arrays["y_train"] = np.roll(arrays["y_train"], 1)
    save_file(arrays, str(path), metadata=meta)
    assert verify_cache(studied["cache"]) == [
        "data/digits-split0.safetensors: its arrays (images or labels) changed "
        "since it was written (they do not match its SHA-256); delete it, it "
        "is rebuilt from its source"
    ]
    with pytest.warns(UserWarning, match="changed since it was written"):
        data.load("digits", n_train=N_TRAIN)
    assert verify_cache(studied["cache"]) == []


def test_the_cache_written_before_the_folder_move_verifies_and_loads(tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(FIXTURE, cache)
    assert verify_cache(cache) == []  # fewer digests, nothing to report
    for entry in sorted((cache / "models").iterdir()):
        model, meta = load_model(entry)
        assert meta["complete"] and HEADER_DIGEST not in meta


# --- an unfinished checkpoint re-marked complete ----------------------------------------------------


def _unfinished(folder: Path, small_digits):
    model = TINY.build_model(small_digits.input_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=TINY.lr)
    save_checkpoint(
        folder, model, TINY, epochs_done=0, steps_done=0, complete=False, history=[], data_info={}, optimizer=optimizer
    )
    return folder / MODEL_FILE


def _remark(path: Path, *, reseal: bool, drop_digest: bool = False) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        meta, tensors = dict(fh.metadata()), {k: fh.get_tensor(k) for k in fh.keys()}
    meta["complete"] = "true"
    if drop_digest:
        del meta[HEADER_DIGEST]
    elif reseal:
        meta[HEADER_DIGEST] = header_digest(meta)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize(
    "how, match",
    [
        (dict(reseal=False), "changed after it was written"),
        (dict(reseal=True), "marked complete but still holds an optimizer state"),
        (dict(reseal=False, drop_digest=True), "marked complete but still holds an optimizer state"),
    ],
)
def test_an_unfinished_checkpoint_re_marked_complete_never_loads_as_complete(fresh_cache, small_digits, how, match):
    folder = model_dir(TINY, data=small_digits)
    path = _unfinished(folder, small_digits)
    assert read_checkpoint(path)[1]["complete"] is False
    _remark(path, **how)
    with pytest.raises(CheckpointError, match=match):
        load_model(folder)
    assert len(verify_cache(fresh_cache)) == 1
    with pytest.warns(UserWarning, match=match):  # set aside as corrupt, and trained for real
        assert load_or_train(TINY, small_digits, device="cpu", progress=False).trained_now
