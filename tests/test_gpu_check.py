"""The prepared GPU check exits 0 with one clear line where there is no CUDA device."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available() or shutil.which("bash") is None, reason="a GPU is present")
def test_gpu_check_says_there_is_no_gpu_and_exits_0():
    out = subprocess.run(["bash", str(SCRIPT), sys.executable], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no CUDA device" in out.stdout
