"""Every cmim-lab command end to end on the small digits dataset."""

import argparse
import subprocess
import sys

import pandas as pd
import pytest

from cmim_lab.cli import main

TINY = ["--dataset", "digits", "--hidden-sizes", "32", "--latent-dim", "4", "--batch-size", "64", "--no-progress"]


def test_data_lists_sources(capsys):
    assert main(["data", "--load", "digits"]) == 0
    out = capsys.readouterr().out
    assert "fashion-mnist" in out and "mnist-5k" in out and "1437 train / 360 test" in out


def test_train_then_evaluate_from_the_cache(fresh_cache, capsys):
    assert main(["train", "--method", "cmim", "--epochs", "2", *TINY]) == 0
    out = capsys.readouterr().out
    assert "trained: cmim[sum] on digits" in out and "contrastive" in out and "checkpoint:" in out
    assert main(["train", "--method", "cmim", "--epochs", "2", *TINY]) == 0
    assert "loaded from cache" in capsys.readouterr().out
    assert main(["evaluate", "--method", "cmim", "--epochs", "2", *TINY, "--probes", "knn-cosine,linear"]) == 0
    out = capsys.readouterr().out
    assert "knn-cosine" in out and "informative" in out and "recon_nll" in out


def test_evaluate_a_checkpoint_folder(tmp_path, capsys):
    assert main(["train", "--method", "vae", "--epochs", "1", *TINY, "--checkpoint-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(tmp_path), "--probes", "knn-euclidean", "--embeddings", "mean"]) == 0
    assert "vae[sum] on digits" in capsys.readouterr().out


def test_benchmark_writes_every_output(fresh_cache, tmp_path, capsys):
    out = tmp_path / "bench"
    assert (
        main(
            [
                "benchmark",
                "--datasets",
                "digits",
                "--methods",
                "vae,cmim",
                "--seeds",
                "0,1",
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--latent-dim",
                "4",
                "--probes",
                "knn-euclidean,linear",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for name in ["raw.csv", "zscores.csv", "ranks.csv", "summary.md"]:
        assert (out / name).exists(), name
    assert (out / "benchmark.png").exists() or (out / "benchmark.html").exists()
    raw = pd.read_csv(out / "raw.csv")
    assert set(raw["entry"]) == {"vae[sum]", "cmim[sum]", "pixels", "pca4"}
    assert set(raw[raw["kind"] == "model"]["seed"]) == {0, 1}
    ranks = pd.read_csv(out / "ranks.csv")
    assert set(ranks[ranks["view"] == "per kind"]["rank"]) <= {1, 2}
    assert set(ranks[ranks["view"] == "with -X"]["entry"]) == {"vae[sum]", "cmim[sum]", "vae[sum]-X", "cmim[sum]-X"}
    assert "cmim-lab benchmark" in (out / "summary.md").read_text() and "Mean Z-score" in printed


def test_batch_sweep_writes_table_and_figure(fresh_cache, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "batch-sweep",
                "--methods",
                "cmim[sum],infonce[pure]",
                "--batch-sizes",
                "32,64",
                "--seeds",
                "0",
                "--dataset",
                "digits",
                "--n-train",
                "none",
                "--budget",
                "640",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 4 and set(table["batch_size"]) == {32, 64}
    assert (table[table["batch_size"] == 32]["steps"] == 20).all()  # 640 samples / 32
    assert (
        table.dropna(subset=["nt_xent"])["nt_xent_collapsed"].round(4)
        == [round(__import__("math").log(63), 4), round(__import__("math").log(127), 4)]
    ).all()
    assert (out / "sensitivity.csv").exists() and (out / "summary.md").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--method", "simclr", "--dataset", "digits"], "valid methods are"),
        (["train", "--dataset", "cifar"], "valid datasets are"),
        (["train", "--dataset", "digits", "--epochs", "0"], "epochs must be > 0"),
        (["train", "--dataset", "digits", "--lr", "-1"], "lr must be > 0"),
        (
            [
                "evaluate",
                "--dataset",
                "digits",
                "--epochs",
                "1",
                "--probes",
                "svm",
                "--no-progress",
                "--batch-size",
                "64",
            ],
            "valid probes are",
        ),
        (["batch-sweep", "--methods", "cmim[mean]", "--dataset", "digits"], "unknown method or variant 'cmim[mean]'"),
        (["benchmark", "--datasets", "digits", "--methods", "cmim[mean]"], "unknown method or variant 'cmim[mean]'"),
        (["benchmark", "--datasets", "esol"], "cmim-lab molecules"),
        (["batch-sweep", "--methods", "cmim", "--dataset", "digits", "--protocol", "time"], "valid protocols are"),
        (["notebooks", "--profile", "huge"], "valid profiles are: smoke, default, full"),
        (["notebooks", "--only", "42"], "no notebook matches '42'"),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(argv, message, fresh_cache, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bare_command_prints_help_and_version(capsys):
    assert main([]) == 0
    assert "benchmark" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and "cmim-lab 0." in capsys.readouterr().out


def test_help_lists_every_config_field_with_its_default_and_choices(capsys):
    import dataclasses

    from cmim_lab.config import EvalConfig, TrainConfig

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for cls, skipped in ((TrainConfig, {"extra"}), (EvalConfig, {"seed"})):  # evaluation seed = model seed
        for f in dataclasses.fields(cls):
            if f.name not in skipped:
                assert "--" + f.name.replace("_", "-") in out, f.name
    assert "one of vae, cvae, mim, cmim, infonce" in out and "(default cmim)" in out
    assert "none = the whole train split" in out


def test_console_script_is_installed():
    proc = subprocess.run([sys.executable, "-m", "cmim_lab.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "benchmark" in proc.stdout and "batch-sweep" in proc.stdout


def test_run_notebooks_restores_the_environment(tmp_path, monkeypatch):
    """The kernels see the profile; the calling process gets its environment back (#15)."""
    import os

    import papermill

    from cmim_lab.notebook.runner import run_notebooks

    seen = []

    def fake_execute(source, target, **kwargs):
        seen.append((os.environ.get("CMIM_LAB_PROFILE"), os.environ.get("CMIM_LAB_FIGURES")))
        raise RuntimeError("kernel died")  # a failing notebook must not leave the environment changed either

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setenv("CMIM_LAB_PROFILE", "smoke")
    monkeypatch.delenv("CMIM_LAB_FIGURES", raising=False)
    assert run_notebooks(profile="default", only=["0"], out_dir=tmp_path, device="cpu") == 1
    assert run_notebooks(profile="default", only=["0"], out_dir=tmp_path, device="cpu", figures=True) == 1
    assert seen == [("default", "0"), ("default", "1")]  # figures/ only on an explicit export
    assert os.environ["CMIM_LAB_PROFILE"] == "smoke" and "CMIM_LAB_FIGURES" not in os.environ
    with pytest.raises(ValueError, match="needs the default or full profile"):
        run_notebooks(profile="smoke", only=["0"], out_dir=tmp_path, device="cpu", figures=True)
    assert len(seen) == 2  # refused before any notebook started


@pytest.mark.parametrize(
    "command, folder",
    [("benchmark", "benchmark"), ("batch-sweep", "batch-sweep"), ("molecules", "benchmark-molecules")],
)
def test_out_defaults_are_absolute_under_the_kits_home(command, folder, tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from cmim_lab.cli import build_parser
    from cmim_lab.infra.paths import repo_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CMIM_LAB_HOME", raising=False)
    args = build_parser().parse_args([command])  # in a checkout the home is the checkout, whatever the directory
    assert Path(args.out).is_absolute() and Path(args.out) == repo_path("runs", folder)
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # wrapped lines joined back
    assert "".join(str(repo_path("runs", folder)).split()) in help_text and "inthekit'shome" in help_text
    monkeypatch.setenv("CMIM_LAB_HOME", str(tmp_path / "home"))
    assert Path(build_parser().parse_args([command]).out) == tmp_path / "home" / "runs" / folder


def test_benchmark_reports_the_figure_it_really_wrote(tmp_path, monkeypatch, capsys):
    """PNG export failed -> the HTML file is what gets reported, never benchmark.png (#15)."""
    import cmim_lab.notebook.viz as viz
    import cmim_lab.studies.benchmark as benchmark

    monkeypatch.setattr(viz, "benchmark_figure", lambda raw, probes: object())
    monkeypatch.setattr(viz, "save_figure", lambda fig, path, **kw: [path.with_suffix(".html")])
    frame = pd.DataFrame({"entry": ["cmim[sum]"], "mean_z": [0.0], "rank": [1]})
    result = benchmark.BenchmarkResult(frame, frame, frame, frame, tmp_path, "# report")
    files = benchmark._write(result, ["linear"])
    assert [f.name for f in files] == ["raw.csv", "zscores.csv", "ranks.csv", "summary.md", "benchmark.html"]

    result.files = files
    monkeypatch.setattr(benchmark, "run_benchmark", lambda *a, **k: result)
    assert main(["benchmark", "--datasets", "digits", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "benchmark.html" in out and "benchmark.png" not in out


# --- the command line explains itself -------------------------------------------------------
# flags whose valid values the help must list: dest -> the values (filled from the kit itself)
def _choices() -> dict:
    from cmim_lab import registry
    from cmim_lab.config import CLASSIFICATION_PROBES, EMBEDDING_KINDS, REDUCTIONS
    from cmim_lab.notebook.params import PROFILE_NAMES
    from cmim_lab.objectives import METHODS, NEGATIVES
    from cmim_lab.studies.sweep import LR_RULES, PROTOCOLS

    return {
        "method": METHODS,
        "methods": METHODS,
        "reduction": REDUCTIONS,
        "reductions": REDUCTIONS,
        "negatives": NEGATIVES,
        "arch": ["mlp", "conv"],
        "likelihood": ["bernoulli", "gaussian"],
        "backend": ["torch", "sklearn"],
        "embeddings": EMBEDDING_KINDS,
        "protocol": PROTOCOLS,
        "lr_rule": LR_RULES,
        "profile": PROFILE_NAMES,
        "datasets": ["mnist-5k", "digits"],
        "dataset": ["fashion-mnist", "digits"],
        "load": list(registry.datasets()),
        "probes": CLASSIFICATION_PROBES,
    }


def _subcommands():
    from cmim_lab.cli import build_parser, subcommand_parsers

    return subcommand_parsers(build_parser())


@pytest.mark.parametrize(
    "command", ["data", "train", "evaluate", "benchmark", "batch-sweep", "notebooks", "kernel", "molecules"]
)
def test_every_option_shows_its_default_its_choices_and_what_none_means(command):
    parser = _subcommands()[command]
    choices = _choices()
    assert parser.epilog and "examples:" in parser.epilog, f"{command} has no examples"
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        text = " ".join((action.help or "").split())
        name = action.option_strings[0]
        assert "default" in text, f"{command} {name}: no default in {text!r}"
        if action.default is None and action.const is None and not isinstance(action, argparse._StoreTrueAction):
            assert "none =" in text, f"{command} {name}: default none without its meaning in {text!r}"
        if command != "molecules":  # the molecule command lists its own domain's choices
            for value in choices.get(action.dest, ()):
                assert value in text, f"{command} {name}: {value!r} not listed in {text!r}"


def test_method_variants_have_one_spelling_in_every_command(capsys):
    from cmim_lab.cli import build_parser
    from cmim_lab.cli.common import train_config

    for argv in (["train", "--method", "cmim[normalised]"], ["evaluate", "--method", "cmim[normalised]"]):
        args = build_parser().parse_args(argv)
        args.argv = argv
        config = train_config(args)
        assert (config.method, config.reduction) == ("cmim", "normalised")
    args = build_parser().parse_args(["train", "--method", "infonce[pure]"])
    args.argv = []
    assert (train_config(args).recon_weight, train_config(args).projection_dim) == (0.0, 128)
    for command in ("benchmark", "batch-sweep", "molecules"):
        assert build_parser().parse_args([command, "--methods", "cmim[normalised],mim"]).methods == [
            "cmim[normalised]",
            "mim",
        ]
    # a variant and an explicit flag that disagree: refused, naming both
    assert main(["train", "--dataset", "digits", "--method", "cmim[normalised]", "--reduction", "sum"]) == 2
    err = capsys.readouterr().err
    assert "argument --method" in err and "reduction=normalised" in err and "--reduction sum" in err


def test_top_level_help_imports_neither_torch_nor_the_datasets():
    code = (
        "import sys, contextlib, io\nfrom cmim_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out: main([])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'pandas', 'sklearn', "
        "'plotly', 'umap', 'cmim_lab') and m not in ('cmim_lab', 'cmim_lab.cli', 'cmim_lab.registry', "
        "'cmim_lab.infra', 'cmim_lab.infra.paths', 'cmim_lab.errors', 'cmim_lab.molecules', "
        "'cmim_lab.molecules.plugin')"
        " and not m.startswith('cmim_lab.cli.'))\n"  # the command modules: their kit imports are inside functions
        "print(heavy, 'getting started' in out.getvalue())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "[] True", proc.stdout + proc.stderr


def test_bare_command_in_a_process_prints_help_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "cmim_lab.cli"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: cmim-lab") and "getting started" in proc.stdout
    assert "``" not in proc.stdout and ":class:" not in proc.stdout  # no raw reStructuredText


def test_kernel_install_registers_this_python(tmp_path, monkeypatch, capsys):
    import json

    from cmim_lab.notebook.runner import KERNEL_NAME, choose_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    assert main(["kernel", "install", "--prefix", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == "Python (cmim-lab)"
    assert "registered the Jupyter kernel 'cmim-lab'" in capsys.readouterr().out
    name, note = choose_kernel()
    assert name == KERNEL_NAME and sys.executable in note
    assert main(["kernel", "show"]) == 0 and "kernel cmim-lab" in capsys.readouterr().out


def test_a_dataset_registered_with_conv_trains_conv_unless_arch_is_given():
    """cifar10 / colour-digits are registered with arch=conv: the CLI applies that default like
    TrainConfig.for_dataset does, and an explicit --arch wins."""
    from cmim_lab.cli import build_parser
    from cmim_lab.cli.common import train_config

    def config(*argv):
        args = build_parser().parse_args(["train", *argv])
        args.argv = list(argv)
        return train_config(args)

    assert config("--dataset", "colour-digits").arch == "conv"
    assert config("--dataset", "colour-digits", "--arch", "mlp").arch == "mlp"
    assert config("--dataset", "digits").arch == "mlp"
