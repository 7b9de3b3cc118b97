"""Behaviour unchanged across refactors: a small golden run recorded before the redesign.

``fixtures/golden_digits.json`` was written by ``fixtures/record_golden_before_redesign.py``
against the pre-redesign code (commit dc662ea): cMIM and InfoNCE on ``digits`` (MLP 64,
latent 8, batch 64, 3 epochs, seed 0, one torch thread) -- final weights' SHA-256, the
per-epoch history, the scikit-learn probe scores and metrics, and a small benchmark table.
The same run through today's API must give identical numbers on the CPU. Bit-identity is
asserted where the CPU kernels are the ones the fixture was recorded with (same torch
version and CPU capability); elsewhere floating-point results may differ in the last
digits, so the values are compared to 1e-6 relative and the weights' checksum is skipped.
"""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from cmim_lab import data
from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.evaluation import evaluate
from cmim_lab.studies.benchmark import run_benchmark
from cmim_lab.trainer import train

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden_digits.json").read_text())
SAME_KERNELS = (
    GOLDEN["torch"] == torch.__version__ and GOLDEN["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
)
SKLEARN_PROTOCOL = EvalConfig(probe_n_train=None, backend="sklearn")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _digest(model) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _same(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b), (sorted(a), sorted(b))
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and not SAME_KERNELS:
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9)
    else:
        assert a == b


@pytest.mark.parametrize("method", ["cmim", "infonce"])
def test_golden_training_and_evaluation(method, fresh_cache):
    gold = GOLDEN["runs"][method]
    config = TrainConfig.from_dict(gold["config"])
    ds = data.load("digits")
    result = train(config, ds, device="cpu", progress=False)
    if SAME_KERNELS:
        assert _digest(result.model) == gold["weights_sha256"]
    history = result.history.drop(columns=["seconds", "samples_per_s"]).to_dict(orient="records")
    _same(json.loads(json.dumps(history)), gold["history"])
    ev = evaluate(result.model, ds, SKLEARN_PROTOCOL)
    _same(json.loads(json.dumps(ev.probes)), gold["probes"])
    _same(json.loads(json.dumps(ev.metrics)), gold["metrics"])


def test_golden_benchmark_table(fresh_cache):
    base = TrainConfig(dataset="digits", epochs=3, batch_size=64, latent_dim=8, hidden_sizes=(64,))
    b = run_benchmark(
        ["digits"],
        ["cmim", "infonce"],
        [0],
        ["sum", "normalised"],
        base=base,
        eval_config=SKLEARN_PROTOCOL,
        device="cpu",
        progress=False,
    )
    raw = b.raw.sort_values(["entry", "seed", "embedding", "metric"]).reset_index(drop=True)
    rows = raw[["kind", "entry", "dataset", "seed", "embedding", "metric", "value"]].to_dict(orient="records")
    _same(json.loads(json.dumps(rows)), GOLDEN["benchmark"]["raw"])
    _same(json.loads(json.dumps(b.ranks.to_dict(orient="records"))), GOLDEN["benchmark"]["ranks"])
