"""What a study tells its reader: one progress bar per grid, a line per model saying whether it
was trained (and how long it took) or loaded from the cache (and its key), and the per-process
counts that ``cmim-lab notebooks`` sums over kernels (:mod:`cmim_lab.infra.tally`)."""

import json

import pytest
import tqdm.auto

from cmim_lab.config import TrainConfig
from cmim_lab.infra import tally
from cmim_lab.studies.engine import grid, run_study
from cmim_lab.trainer import planned_steps

BASE = TrainConfig(dataset="digits", hidden_sizes=(16,), latent_dim=2, epochs=1, batch_size=256)


@pytest.fixture
def bars(monkeypatch):
    """Every enabled tqdm bar opened while the test runs."""
    opened = []

    class Recorded(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not self.disable:
                opened.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    return opened


def test_one_bar_per_grid_and_a_line_per_model(digits, fresh_cache, bars, tmp_path, monkeypatch):
    entries = grid(BASE, ["cmim", "mim"], seeds=[0, 1])
    total = sum(planned_steps(e.config, digits) for e in entries)
    monkeypatch.setenv(tally.TALLY_ENV, str(tmp_path / "tally.json"))
    before = tally.counts()
    lines = []
    run_study(entries, digits, tasks=[], device="cpu", log=lines.append)
    assert len(bars) == 1 and bars[0].total == total == 4 * 5 and bars[0].n == total  # 1437 // 256 = 5 steps each
    assert len(lines) == 4 and all(" trained in " in line and "(cache entry digits-" in line for line in lines), lines
    bars.clear()
    run_study(entries, digits, tasks=[], device="cpu", log=lines.append)  # everything cached now
    assert len(bars) == 1 and bars[0].n == total  # a cached model advances the bar at once
    assert all(" loaded from cache (digits-" in line for line in lines[4:]) and len(lines) == 8
    after = tally.counts()
    assert (after["trained"] - before["trained"], after["loaded"] - before["loaded"]) == (4, 4)
    assert json.loads((tmp_path / "tally.json").read_text()) == after  # what the notebook runner reads


def test_no_bar_without_progress(digits, fresh_cache, bars):
    run_study(grid(BASE, ["vae"]), digits, tasks=[], device="cpu", progress=False)
    assert bars == []


def test_tally_reads_zeros_from_a_missing_or_torn_file(tmp_path):
    assert tally.read(tmp_path / "missing.json") == {"trained": 0, "loaded": 0, "train_seconds": 0.0}
    (tmp_path / "torn.json").write_text('{"trained": 2, "loa')
    assert tally.read(tmp_path / "torn.json")["trained"] == 0
    (tmp_path / "odd.json").write_text('{"trained": true, "loaded": 3}')
    assert tally.read(tmp_path / "odd.json") == {"trained": 0, "loaded": 3, "train_seconds": 0.0}
