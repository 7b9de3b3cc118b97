"""Training that diverges or collapses is a result to report, not a crash (issue #30, item 1).

* divergence: the trainer's error is one line, ``loss is NaN at step N (epoch E): ...``, N the
  first step whose loss was not finite; a study (and the benchmark on top of it) logs that
  line, marks the entry ``diverged`` in its training table and still trains, evaluates and
  writes every other entry;
* collapse: codes mu that are the same for every sample are evaluated all the same, the
  result says ``codes are constant: probes at chance`` (``EvalResult.info``/``.note``, the
  study's log and training table, the benchmark's summary) and the scores are at chance.

Faults are planted: an objective that turns NaN at a chosen step, an encoder whose mu head
is zero and frozen (mu = its bias for every input). Models are tiny (digits, one hidden
layer of 32, a few dozen steps).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.errors import TrainingDivergedError
from cmim_lab.evaluation import CONSTANT_NOTE, codes_constant, evaluate
from cmim_lab.studies.benchmark import run_benchmark
from cmim_lab.studies.engine import EvalTask, grid, run_study
from cmim_lab.trainer import train

TINY = dict(dataset="digits", hidden_sizes=(32,), latent_dim=4, batch_size=64, epochs=2)
SHORT = {**TINY, "max_steps": 10}  # the studies' models: 10 steps of the first epoch
PROBES = dict(probes=("knn-euclidean",), embeddings=("mean",), clustering=False)


class _NaNAfter:
    """An objective whose every term is NaN from its ``at``-th call on (a planted divergence)."""

    def __init__(self, inner, at: int):
        self.inner, self.at, self.calls = inner, at, 0

    @property
    def term_names(self):
        return self.inner.term_names

    def __call__(self, model, x, **kwargs):
        out = self.inner(model, x, **kwargs)
        self.calls += 1
        if self.calls >= self.at:
            out = {k: v * math.nan for k, v in out.items()}
        return out


@pytest.fixture
def diverge(monkeypatch):
    """``diverge(at, when)``: configs for which ``when(config)`` holds get a loss that is NaN from
    step ``at`` on."""
    real = TrainConfig.objective

    def plant(at: int, when=lambda config: True):
        monkeypatch.setattr(
            TrainConfig, "objective", lambda self: _NaNAfter(real(self), at) if when(self) else real(self)
        )

    return plant


@pytest.fixture
def collapse(monkeypatch):
    """``collapse(when)``: models of configs for which ``when(config)`` holds encode every input
    to the same code (the encoder's head zeroed and frozen: mu is its bias)."""
    real = TrainConfig.build_model

    def plant(when=lambda config: True):
        def build(self, *args, **kwargs):
            model = real(self, *args, **kwargs)
            if when(self):
                with torch.no_grad():
                    model.encoder.head.weight.zero_()
                model.encoder.head.weight.requires_grad_(False)
            return model

        monkeypatch.setattr(TrainConfig, "build_model", build)

    return plant


# --- the trainer ------------------------------------------------------------------------------


@pytest.mark.parametrize("at", [1, 7, 30])  # the first step, inside the first epoch, in the second epoch
def test_divergence_names_the_first_step_with_a_nan_loss(at, diverge, digits):
    diverge(at)
    with pytest.raises(TrainingDivergedError) as err:
        train(TrainConfig(method="cmim", **TINY), digits, device="cpu", progress=False)
    steps_per_epoch = len(digits.x_train) // TINY["batch_size"]
    epoch = (at - 1) // steps_per_epoch + 1
    message = str(err.value)
    assert message.startswith(f"loss is NaN at step {at} (epoch {epoch}): training diverged"), message
    assert "\n" not in message and "smaller lr" in message
    assert (err.value.step, err.value.epoch, err.value.term) == (at, epoch, "loss")


# --- constant codes -----------------------------------------------------------------------------


def test_codes_constant_against_a_column_by_column_reference():
    rng = np.random.default_rng(0)

    def reference(z, rtol=1e-5):
        z = np.asarray(z, dtype=np.float64)
        return len(z) >= 2 and all(
            z[:, j].max() - z[:, j].min() <= rtol * np.abs(z[:, j]).max() for j in range(z.shape[1])
        )

    base = rng.normal(size=(1, 6)) * 100
    cases = [
        np.repeat(base, 50, 0),  # exactly constant
        np.repeat(base, 50, 0) * (1 + 1e-7 * rng.normal(size=(50, 6))),  # float rounding noise
        np.zeros((30, 3)),  # all-dead units
        rng.normal(size=(40, 5)),  # ordinary codes
        np.c_[np.zeros((40, 2)), rng.normal(size=(40, 1))],  # one live column is enough
        np.repeat(base, 50, 0) * (1 + 1e-3 * rng.normal(size=(50, 6))),  # small but real spread
        base,
    ]  # one sample: nothing to compare
    for z in cases:
        assert codes_constant(torch.as_tensor(z, dtype=torch.float32)) == reference(z.astype(np.float32)), z[:2]
    assert [codes_constant(z) for z in cases] == [True, True, True, False, False, False, False]


@pytest.mark.parametrize("backend", ["sklearn", "torch"])
def test_constant_codes_are_reported_and_scored_at_chance(backend, collapse, digits):
    collapse()
    model = TrainConfig(**TINY).build_model(digits.input_shape)
    lines = []
    probes = ("knn-euclidean", "knn-cosine", "mlp") + (("linear",) if backend == "sklearn" else ())
    ev = evaluate(model, digits, EvalConfig(probes=probes, backend=backend, mlp_max_epochs=5), progress=lines.append)
    assert ev.info["constant_codes"] and ev.note == CONSTANT_NOTE == "codes are constant: probes at chance"
    assert lines[0].startswith(CONSTANT_NOTE), lines
    chance = np.bincount(digits.y_test.numpy()).max() / len(digits.y_test)
    for kind, scores in ev.probes.items():
        for probe, acc in scores.items():
            assert acc <= chance + 0.02, (kind, probe, acc)


def test_ordinary_codes_carry_no_note(digits):
    torch.manual_seed(0)
    model = TrainConfig(**TINY).build_model(digits.input_shape)
    ev = evaluate(model, digits, EvalConfig(**PROBES))
    assert ev.info["constant_codes"] is False and ev.note == ""


def test_constant_codes_through_the_default_torch_linear_probe(collapse, digits):
    collapse()
    model = TrainConfig(**TINY).build_model(digits.input_shape)
    ev = evaluate(model, digits, EvalConfig(probes=("linear",), embeddings=("mean",), clustering=False))
    assert ev.note == CONSTANT_NOTE and ev.probes["mean"]["linear"] <= 0.12


# --- a study and a benchmark go on past a diverged or collapsed entry -------------------------


def test_a_study_reports_a_diverged_entry_and_evaluates_every_other(diverge, fresh_cache, digits):
    diverge(5, when=lambda c: c.seed == 1)
    lines = []
    study = run_study(
        grid(TrainConfig(**SHORT), ["cmim"], seeds=[0, 1, 2]),
        digits,
        [EvalTask("digits", digits, EvalConfig(**PROBES))],
        progress=False,
        log=lines.append,
    )
    training = study.training.set_index("seed")
    assert training["diverged"].tolist() == [False, True, False]
    assert training.loc[1, "note"].startswith("loss is NaN at step 5 (epoch 1)")
    assert training.loc[1, "steps"] == 5 and training.loc[0, "note"] == "" and training.loc[2, "note"] == ""
    assert sorted(study.rows["seed"].unique()) == [0, 2]  # every other entry scored
    assert set(study.rows[study.rows["metric"] == "knn-euclidean"]["seed"]) == {0, 2}
    assert any(line.startswith("cmim[sum] seed 1 diverged: loss is NaN at step 5") for line in lines), lines
    assert study.results[1] is None and study.result("cmim[sum]", 0).model is not None
    with pytest.raises(ValueError, match="seed 1 has no model: its training diverged"):
        study.result("cmim[sum]", 1)
    wide = study.wide()
    assert wide["note"].fillna("").str.startswith("loss is NaN").tolist() == [False, True, False]


def test_a_study_notes_a_collapsed_entry_in_its_log_and_training_table(collapse, fresh_cache, digits):
    collapse(when=lambda c: c.method == "vae")
    lines = []
    study = run_study(
        grid(TrainConfig(**SHORT), ["cmim", "vae"]),
        digits,
        [EvalTask("digits", digits, EvalConfig(**PROBES))],
        progress=False,
        log=lines.append,
    )
    notes = dict(zip(study.training["entry"], study.training["note"]))
    assert notes == {"cmim[sum]": "", "vae[sum]": CONSTANT_NOTE}
    assert f"  digits: {CONSTANT_NOTE}" in lines
    scores = study.rows[study.rows["metric"] == "knn-euclidean"].set_index("entry")["value"]
    assert scores["vae[sum]"] <= 0.12 and scores["cmim[sum]"] > 0.2  # chance: 0.1
    # loaded from the cache the next time: the note comes back with the cached evaluation
    again = run_study(
        grid(TrainConfig(**SHORT), ["cmim", "vae"]),
        digits,
        [EvalTask("digits", digits, EvalConfig(**PROBES))],
        progress=False,
    )
    assert not again.training["trained_now"].any()
    assert dict(zip(again.training["entry"], again.training["note"])) == notes


def test_a_benchmark_with_a_diverged_and_a_collapsed_entry_writes_every_other_row(
    diverge, collapse, fresh_cache, tmp_path
):
    diverge(3, when=lambda c: c.method == "mim")
    collapse(when=lambda c: c.method == "vae")
    out = tmp_path / "bench"
    lines = []
    result = run_benchmark(
        ["digits"],
        ["cmim", "mim", "vae"],
        seeds=[0],
        base=TrainConfig(**SHORT),
        eval_config=EvalConfig(
            probes=("knn-euclidean", "linear"), embeddings=("mean",), backend="sklearn", clustering=False
        ),
        baselines=False,
        out_dir=out,
        progress=False,
        log=lines.append,
    )
    raw = pd.read_csv(out / "raw.csv")
    assert set(raw["entry"]) == {"cmim[sum]", "vae[sum]"}  # the diverged entry has no scores
    probes = raw[raw["metric"].isin(["knn-euclidean", "linear"])]
    assert len(probes) == 2 * 2  # two entries x two probes
    assert probes[probes["entry"] == "vae[sum]"]["value"].max() <= 0.12
    summary = (out / "summary.md").read_text()
    assert "- mim[sum] seed 0 on digits: loss is NaN at step 3 (epoch 1)" in summary, summary
    assert f"- vae[sum] seed 0 on digits: {CONSTANT_NOTE}" in summary
    assert "cmim[sum] seed 0 on digits" not in summary
    assert result.training["diverged"].tolist() == [False, True, False] and (out / "ranks.csv").exists()
    assert sum("diverged: loss is NaN at step 3" in line for line in lines) == 1


def test_a_batch_sweep_keeps_a_diverged_run_as_a_row_without_scores(diverge, fresh_cache, tmp_path):
    from cmim_lab.studies.sweep import SWEEP_PROBES, run_batch_sweep

    diverge(2, when=lambda c: c.batch_size == 64)
    result = run_batch_sweep(
        ["cmim[sum]"],
        [32, 64],
        [0],
        base=TrainConfig(**{**TINY, "n_train": None}),
        protocol="steps",
        budget=4,
        out_dir=tmp_path / "sweep",
        progress=False,
    )
    table = result.table.set_index("batch_size")
    assert sorted(table.index) == [32, 64]
    assert table.loc[64, list(SWEEP_PROBES)].isna().all() and table.loc[64, "note"].startswith("loss is NaN at step 2")
    assert table.loc[32, list(SWEEP_PROBES)].notna().all()
    assert "- cmim[sum] seed 0, batch size 64: loss is NaN at step 2" in (tmp_path / "sweep" / "summary.md").read_text()
