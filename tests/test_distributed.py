"""Two gloo processes on the CPU compute the same loss and gradients as one process."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from cmim_lab.config import TrainConfig
from cmim_lab.trainer import TrainStep

GLOBAL_BATCH = 8
WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inputs(method):
    """Model config, global batch, and the fixed noise of one step (identical in every process)."""
    cfg = TrainConfig(
        method=method, dataset="digits", hidden_sizes=(32,), latent_dim=6, projection_dim=4, temperature=0.5
    )
    g = torch.Generator().manual_seed(1)
    x = torch.rand(GLOBAL_BATCH, 1, 8, 8, generator=g)
    eps = torch.randn(GLOBAL_BATCH, 6, generator=g)
    views = (torch.rand(GLOBAL_BATCH, 1, 8, 8, generator=g), torch.rand(GLOBAL_BATCH, 1, 8, 8, generator=g))
    return cfg, x, eps, views


def _step(runner, method, x, eps, views):
    kwargs = {"views": views} if method == "infonce" else {"eps": eps}
    return runner(x, **kwargs)


def _worker(rank, method, port, out_path):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    tdist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from cmim_lab.distributed import make_context

        cfg, x, eps, views = _inputs(method)
        torch.manual_seed(0)
        model = cfg.build_model((1, 8, 8))
        ctx = make_context(torch.device("cpu"))
        runner = ctx.wrap(TrainStep(model, cfg.objective(), ctx.gather))
        sl = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
        out = _step(runner, method, x[sl], eps[sl], tuple(v[sl] for v in views))
        out["loss"].backward()
        terms = {k: ctx.all_reduce_mean(v.detach()) for k, v in out.items()}
        if rank == 0:
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            torch.save({"terms": terms, "grads": grads}, out_path)
    finally:
        tdist.destroy_process_group()


@pytest.mark.parametrize("method", ["cmim", "infonce"])
def test_two_processes_match_one_process_on_the_concatenated_batch(method, tmp_path):
    out_path = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(method, _free_port(), str(out_path)), nprocs=WORLD, join=True)
    dist = torch.load(out_path, weights_only=True)

    cfg, x, eps, views = _inputs(method)
    torch.manual_seed(0)
    model = cfg.build_model((1, 8, 8))
    single = _step(TrainStep(model, cfg.objective()), method, x, eps, views)
    single["loss"].backward()
    for name, value in single.items():
        assert float(dist["terms"][name]) == pytest.approx(float(value.detach()), abs=1e-5), name
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == set(dist["grads"])
    for name, g in grads.items():
        torch.testing.assert_close(dist["grads"][name], g, atol=1e-5, rtol=1e-4, msg=name)
    # the contrastive gradient really crosses ranks: without the gather the answer differs
    contrastive = "contrastive" if method == "cmim" else "nt_xent"
    assert single[contrastive].item() > 0


def _torchrun():
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def test_torchrun_two_processes_write_a_checkpoint_that_loads(tmp_path):
    from cmim_lab.checkpoint import load_model

    ckpt = tmp_path / "ckpt"
    cmd = _torchrun() + [
        "--nproc_per_node=2",
        "--master_port",
        str(_free_port()),
        "-m",
        "cmim_lab.cli",
        "train",
        "--method",
        "cmim",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--hidden-sizes",
        "32",
        "--latent-dim",
        "4",
        "--checkpoint-dir",
        str(ckpt),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model, meta = load_model(ckpt)
    assert meta["complete"] and meta["epochs_done"] == 2
    assert meta["config"].method == "cmim" and all(torch.isfinite(p).all() for p in model.parameters())
    assert proc.stdout.count("checkpoint:") == 1  # only rank 0 reports


def test_torchrun_bad_batch_fails_cleanly_on_every_rank(tmp_path):
    cmd = _torchrun() + [
        "--nproc_per_node=2",
        "--master_port",
        str(_free_port()),
        "-m",
        "cmim_lab.cli",
        "train",
        "--method",
        "infonce",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--batch-size",
        "63",
        "--checkpoint-dir",
        str(tmp_path),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode != 0
    assert "[rank 0] training failed" in proc.stderr and "divisible by the number of processes (2)" in proc.stderr
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.skipif(shutil.which("nvidia-smi") is None or not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_training_smoke(tmp_path):
    from cmim_lab.trainer import train

    res = train(
        TrainConfig(method="cmim", dataset="digits", epochs=1, batch_size=64),
        device="cuda",
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert next(res.model.parameters()).is_cuda
