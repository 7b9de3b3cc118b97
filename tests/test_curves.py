"""The budget curve: scores taken at several steps of one run, through the trainer's step callbacks."""

import pytest
import torch

from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.evaluation import evaluate
from cmim_lab.studies.curves import check_curve_steps, total_steps, train_with_curve
from cmim_lab.trainer import load_or_train, train

TINY = dict(dataset="digits", hidden_sizes=(32,), latent_dim=4, batch_size=64)
CFG = EvalConfig(embeddings=("mean",), probes=("knn-cosine", "linear"), clustering=False)


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_step_callbacks_that_draw_random_numbers_leave_the_run_unchanged(digits):
    cfg = TrainConfig(method="cmim", reduction="normalised", max_steps=30, **TINY)
    seen = []

    def noisy(step, model):  # draws from torch's generator and probes the model, as a curve point does
        seen.append((step, model.training))
        torch.randn(1000)
        evaluate(model, digits, CFG)

    with_calls = train(cfg, digits, device="cpu", progress=False, step_callbacks=[noisy])
    plain = train(cfg, digits, device="cpu", progress=False)
    assert [s for s, _ in seen] == list(range(1, 31)) and not any(training for _, training in seen)
    assert _same_weights(with_calls.model, plain.model)


def test_a_curve_point_equals_a_model_trained_to_that_step(fresh_cache, digits):
    cfg = TrainConfig(method="mim", max_steps=45, **TINY)
    curve = train_with_curve(cfg, digits, [15, 45], eval_config=CFG, device="cpu", progress=False)
    rows = curve.rows.set_index(["step", "metric"])["value"]
    short = train(cfg.replace(max_steps=15), digits, device="cpu", progress=False)  # the first 15 steps, alone
    reference = evaluate(short.model, digits, CFG.replace(seed=cfg.seed))
    assert rows[(15, "knn-cosine")] == reference.probes["mean"]["knn-cosine"]
    assert rows[(15, "linear")] == pytest.approx(reference.probes["mean"]["linear"], abs=1e-9)
    assert rows[(15, "recon_nll")] == pytest.approx(reference.metrics["recon_nll"], rel=1e-6)
    final = evaluate(curve.result.model, digits, CFG.replace(seed=cfg.seed))
    assert rows[(45, "knn-cosine")] == final.probes["mean"]["knn-cosine"]
    assert set(curve.rows["step"]) == {15, 45} and set(curve.rows["dataset"]) == {"digits"}


def test_the_curve_is_cached_and_a_model_cached_without_it_is_run_again(fresh_cache, digits):
    cfg = TrainConfig(method="cmim", max_steps=40, **TINY)
    first = train_with_curve(cfg, digits, [20, 40], eval_config=CFG, device="cpu", progress=False)
    lines = []
    again = train_with_curve(cfg, digits, [20, 40], eval_config=CFG, device="cpu", progress=False, log=lines.append)
    assert not again.result.trained_now and "curve loaded from cache" in lines[-1]
    assert again.rows.equals(first.rows)
    lines.clear()  # other steps: the cached model has no score at step 10, so the run is repeated
    other = train_with_curve(cfg, digits, [10, 40], eval_config=CFG, device="cpu", progress=False, log=lines.append)
    assert any("needs a second run" in line for line in lines)
    at40 = lambda rows: rows[(rows["step"] == 40) & (rows["metric"] == "knn-cosine")]["value"].item()  # noqa: E731
    assert at40(other.rows) == at40(first.rows)
    assert load_or_train(cfg, digits, device="cpu", progress=False).trained_now is False  # the cache entry kept


def test_curve_steps_must_lie_within_the_run(digits):
    cfg = TrainConfig(method="mim", epochs=2, **TINY)
    assert total_steps(cfg, len(digits.x_train)) == 2 * (len(digits.x_train) // 64)
    assert check_curve_steps([30, 5], 44) == (5, 30)
    with pytest.raises(ValueError, match=r"curve steps \[50\] lie beyond the 44 optimiser steps"):
        check_curve_steps([5, 50], 44)
    with pytest.raises(ValueError, match="curve steps must be distinct"):
        check_curve_steps([5, 5], 44)
    with pytest.raises(ValueError, match="each of curve steps must be > 0"):
        train_with_curve(cfg, digits, [0, 10], device="cpu", progress=False)
