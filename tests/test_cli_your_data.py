"""``cmim-lab claims --dataset``: the flags of your own data reach
:func:`cmim_lab.studies.your_data.run`, and are refused without ``--dataset``."""

import pytest

from cmim_lab.cli import main
from cmim_lab.studies import your_data


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--label", "y"], "--label only applies to your own data: add --dataset"),
        (["--budget", "100", "--dry-run"], "--budget, --dry-run only apply to your own data"),
        (["--dataset", "wine", "--search"], "--search runs on the paper's datasets only"),
        (["--dataset", "wine", "--methods", "mim,bogus"], "bogus"),
        (["--dataset", "wine", "--seeds", "0,0"], "seeds"),
        (["--latent-dim", "3"], "--latent-dim only applies to your own data"),
        (["--dataset", "wine", "--likelihood", "poisson", "--dry-run"], "poisson"),
    ],
)
def test_misplaced_or_bad_flags_are_one_line_errors(argv, message, fresh_cache, capsys):
    assert main(["claims", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (fresh_cache / "models").exists()


def test_the_flags_reach_the_library(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_run(dataset, **kwargs):
        seen.update(kwargs, dataset=dataset)
        return your_data.YourDataResult([], "", None, seconds=0.0)

    monkeypatch.setattr(your_data, "run", fake_run)
    argv = [
        "claims",
        "--dataset",
        "table.csv",
        "--label",
        "species",
        "--budget",
        "300",
        "--seeds",
        "0,1",
        "--methods",
        "mim,cmim",
        "--n-train",
        "100",
        "--profile",
        "smoke",
        "--out",
        str(tmp_path),
        "--no-progress",
        *("--likelihood", "gaussian-learned", "--hidden-sizes", "16,16", "--latent-dim", "3"),
    ]
    assert main(argv) == 0
    assert seen["dataset"] == "table.csv" and seen["label"] == "species" and seen["budget"] == 300
    assert seen["seeds"] == (0, 1) and seen["methods"] == ["mim", "cmim"] and seen["n_train"] == 100
    assert seen["profile"] == "smoke" and str(seen["out_dir"]) == str(tmp_path) and seen["dry_run"] is False
    assert seen["overrides"] == {"likelihood": "gaussian-learned", "hidden_sizes": (16, 16), "latent_dim": 3}


def test_an_override_reaches_the_plan(fresh_cache, capsys):
    argv = ["claims", "--dataset", "wine", "--profile", "smoke", "--dry-run", "--no-progress"]
    argv += ["--likelihood", "gaussian-learned", "--hidden-sizes", "16", "--latent-dim", "3"]
    assert main(argv) == 0
    assert "architecture mlp 16, latent 3, likelihood gaussian-learned" in capsys.readouterr().out


def test_the_cli_offers_the_librarys_methods(capsys):
    with pytest.raises(SystemExit):
        main(["claims", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"any of {', '.join(your_data.METHODS)}" in out


def test_a_dry_run_prints_the_plan_and_trains_nothing(fresh_cache, capsys):
    assert main(["claims", "--dataset", "wine", "--profile", "smoke", "--dry-run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "models: 0 cached" in out and "estimated time" in out and "dry run: stopping before training" in out
    assert not list((fresh_cache / "models").glob("*/model.safetensors")) if (fresh_cache / "models").exists() else True


def test_cmim_lab_claims_run_is_the_python_form(monkeypatch):
    import cmim_lab

    monkeypatch.setattr(your_data, "run", lambda dataset, **kw: ("ran", dataset, kw))
    assert cmim_lab.claims.run("wine", budget=10) == ("ran", "wine", {"budget": 10})
    assert callable(cmim_lab.claims.compare)  # the 0.2 verdict helpers stay where they were
