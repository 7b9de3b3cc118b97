"""Concurrency: several real processes on one cache entry all succeed, one trains and
evaluates, the others wait and load what it wrote; concurrent atomic writes to one target
never fail and never expose a torn file."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cmim_lab.infra.files import atomic_write, locked, read_json, write_json

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
ready, n, me = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
import torch
torch.set_num_threads(1)
from cmim_lab import data
from cmim_lab.checkpoint import tensor_digest
from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.studies.engine import EvalTask, cached_evaluate
from cmim_lab.trainer import load_or_train
(ready / me).touch()
deadline = time.time() + 300
while len(os.listdir(ready)) < n and time.time() < deadline:  # start together: every step is contended
    time.sleep(0.01)
ds = data.load("digits", n_train=320)
config = TrainConfig(method="cmim", dataset="digits", hidden_sizes=(32,), latent_dim=4, epochs=2, batch_size=64,
                     n_train=320)
result = load_or_train(config, ds, device="cpu", progress=False)
cfg = EvalConfig(probes=("knn-euclidean",), embeddings=("mean",), clustering=False, backend="torch")
lines = []
ev = cached_evaluate(result, EvalTask("digits", ds, cfg), cfg, log=lines.append)
print(json.dumps({"trained_now": result.trained_now, "weights": tensor_digest(result.model.state_dict()),
                  "eval": " ".join(lines), "probes": ev.probes, "directory": str(result.directory)}))
"""


def _env(cache: Path) -> dict:
    env = dict(os.environ, CMIM_LAB_CACHE=str(cache), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize("n", [2, 4])
def test_processes_on_one_entry_wait_for_each_other_and_load(tmp_path, n):
    cache, ready = tmp_path / "cache", tmp_path / "ready"
    ready.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ready), str(n), str(i)],
            env=_env(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sum(r["trained_now"] for r in runs) == 1  # one trains ...
    assert len({r["weights"] for r in runs}) == 1  # ... the others load exactly what it wrote
    assert sum("evaluated in" in r["eval"] for r in runs) == 1
    assert sum("loaded from cache" in r["eval"] for r in runs) == n - 1
    assert len({json.dumps(r["probes"], sort_keys=True) for r in runs}) == 1
    entry = Path(runs[0]["directory"])
    left = sorted(f for f in os.listdir(entry) if not f.startswith("eval-"))
    assert left == [".lock", "model.safetensors"], left
    assert not [f for f in os.listdir(cache / "data") if f.endswith(".tmp")]


WRITER = r"""
import sys
from cmim_lab.infra.files import write_json
target, me, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
failures = 0
for k in range(count):
    try:
        write_json(target, {"writer": me, "k": k, "payload": [me] * 20000})
    except Exception as exc:
        failures += 1
        print(repr(exc), file=sys.stderr)
print(failures)
"""


def test_concurrent_atomic_writes_to_one_target_never_fail_or_tear(tmp_path):
    target = tmp_path / "eval-target.json"
    writers, count = 4, 75
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(i), str(count)],
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    torn = reads = 0
    while any(p.poll() is None for p in procs):
        if target.exists():
            blob = read_json(target)
            reads += 1
            if not (isinstance(blob, dict) and blob["payload"] == [blob["writer"]] * 20000):
                torn += 1
    outs = [p.communicate(timeout=120) for p in procs]
    failures = sum(int(out.strip()) for out, _ in outs)
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    assert failures == 0, [err[-2000:] for _, err in outs]  # 0 of 300 saves failed
    assert torn == 0 and reads > 0
    assert os.listdir(tmp_path) == ["eval-target.json"]  # no temporary file left behind


def test_a_lock_excludes_other_threads_and_is_reentrant_in_its_own(tmp_path):
    lock, counter = tmp_path / "entry" / ".lock", tmp_path / "counter.json"
    write_json(counter, 0)

    def bump():
        for _ in range(20):
            with locked(lock):
                with locked(lock):  # re-entering one's own lock does not deadlock
                    value = read_json(counter)
                    time.sleep(0.001)
                    write_json(counter, value + 1)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert read_json(counter) == 80  # no lost update


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_text("old")

    def broken(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.safetensors"]
