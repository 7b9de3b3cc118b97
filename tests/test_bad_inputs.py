"""Every bad value is refused at the door (issue #15, item 6), on three surfaces:

* the CLI (``cmim_lab.cli.main`` in-process): exit status 2, one clean line on stderr that
  names the flag and the bad value, no traceback, and no training started;
* the Python API (``TrainConfig``, ``EvalConfig``, ``run_batch_sweep``, ``run_benchmark``,
  ``evaluate``, ``embed``, the molecule embedding): ``ValueError`` naming the field and the
  value, raised before any work;
* papermill-style notebook parameters (``cmim_lab.notebook.params.setup``, what every notebook calls).

Each case is cheap: nothing trains (``cmim_lab.trainer.train`` fails the test if called) and
no data set is loaded by the refused calls. A few valid edge values are accepted too.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmim_lab.cli import build_parser, main
from cmim_lab.config import MAX_SEED, EvalConfig, TrainConfig
from cmim_lab.embeddings import embed
from cmim_lab.nets import build_model
from cmim_lab.notebook import params

INF, NAN = float("inf"), float("nan")


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Fail the test if a model starts training or a notebook starts running."""
    import papermill

    import cmim_lab.trainer

    def refuse(*args, **kwargs):
        raise AssertionError("work started although the input was bad")

    monkeypatch.setattr(cmim_lab.trainer, "train", refuse)
    monkeypatch.setattr(papermill, "execute_notebook", refuse)


# --- the CLI --------------------------------------------------------------------------------
# (argv, the flag the message must name, text of the bad value the message must quote)
D = ["--dataset", "digits"]
CLI = [
    # train: every TrainConfig field is a flag, checked while parsing
    (["train", *D, "--temperature", "inf"], "--temperature", "inf"),
    (["train", *D, "--temperature", "nan"], "--temperature", "nan"),
    (["train", *D, "--temperature", "0"], "--temperature", "got 0"),
    (["train", *D, "--temperature", "-0.5"], "--temperature", "-0.5"),
    (["train", *D, "--temperature", "1e9"], "--temperature", "1000000000"),
    (["train", *D, "--seed", "-1"], "--seed", "-1"),
    (["train", *D, "--seed", "1.5"], "--seed", "1.5"),
    (["train", *D, "--seed", "4294967296"], "--seed", "4294967296"),
    (["train", *D, "--data-seed", "-3"], "--data-seed", "-3"),
    (["train", *D, "--latent-dim", "1000000000"], "--latent-dim", "1000000000"),
    (["train", *D, "--latent-dim", "0"], "--latent-dim", "got 0"),
    (["train", *D, "--latent-dim", "2.5"], "--latent-dim", "2.5"),
    (["train", *D, "--epochs", "1e14"], "--epochs", "1e14"),
    (["train", *D, "--epochs", "0"], "--epochs", "got 0"),
    (["train", *D, "--epochs", "1.5"], "--epochs", "1.5"),
    (["train", *D, "--epochs", "-2"], "--epochs", "-2"),
    (["train", *D, "--epochs", "100001"], "--epochs", "100001"),
    (["train", *D, "--epochs", "ten"], "--epochs", "ten"),
    (["train", *D, "--max-steps", "0"], "--max-steps", "got 0"),
    (["train", *D, "--max-steps", "100000000000"], "--max-steps", "100000000000"),
    (["train", *D, "--batch-size", "0"], "--batch-size", "got 0"),
    (["train", *D, "--batch-size", "2000000"], "--batch-size", "2000000"),
    (["train", *D, "--batch-size", "64.5"], "--batch-size", "64.5"),
    (["train", *D, "--lr", "0"], "--lr", "got 0"),
    (["train", *D, "--lr", "-1"], "--lr", "-1"),
    (["train", *D, "--lr", "inf"], "--lr", "inf"),
    (["train", *D, "--lr", "11"], "--lr", "11"),
    (["train", *D, "--lr", "nan"], "--lr", "nan"),
    (["train", *D, "--logvar-floor", "50"], "--logvar-floor", "50"),
    (["train", *D, "--logvar-floor", "-100"], "--logvar-floor", "-100"),
    (["train", *D, "--logvar-floor", "nan"], "--logvar-floor", "nan"),
    (["train", *D, "--contrastive-weight", "-1"], "--contrastive-weight", "-1"),
    (["train", *D, "--contrastive-weight", "inf"], "--contrastive-weight", "inf"),
    (["train", *D, "--recon-weight", "-0.1"], "--recon-weight", "-0.1"),
    (["train", *D, "--latent-weight", "nan"], "--latent-weight", "nan"),
    (["train", *D, "--augment-strength", "-1"], "--augment-strength", "-1"),
    (["train", *D, "--augment-strength", "100"], "--augment-strength", "100"),
    (["train", *D, "--projection-dim", "-1"], "--projection-dim", "-1"),
    (["train", *D, "--projection-dim", "100000"], "--projection-dim", "100000"),
    (["train", *D, "--hidden-sizes", "1.7"], "--hidden-sizes", "1.7"),
    (["train", *D, "--hidden-sizes", "0"], "--hidden-sizes", "got 0"),
    (["train", *D, "--hidden-sizes", "32,-4"], "--hidden-sizes", "-4"),
    (["train", *D, "--hidden-sizes", "100000"], "--hidden-sizes", "100000"),
    (["train", *D, "--hidden-sizes", "32,,32"], "--hidden-sizes", "32,,32"),
    (["train", *D, "--n-train", "0"], "--n-train", "got 0"),
    (["train", *D, "--n-train", "-5"], "--n-train", "-5"),
    (["train", *D, "--n-train", "2.5"], "--n-train", "2.5"),
    (["train", *D, "--method", "simclr"], "--method", "simclr"),
    (["train", *D, "--reduction", "mean"], "--reduction", "mean"),
    (["train", *D, "--negatives", "max"], "--negatives", "max"),
    (["train", *D, "--arch", "resnet"], "--arch", "resnet"),
    (["train", *D, "--likelihood", "poisson"], "--likelihood", "poisson"),
    (["train", "--dataset", "cifar"], "--dataset", "cifar"),
    (["train", *D, "--device", "tpu"], "--device", "tpu"),
    (["train", *D, "--device", "cuda:x"], "--device", "cuda:x"),
    (["train", *D, "--arch", "gru"], "--arch", "gru"),
    (["train", *D, "--method", "infonce", "--contrastive-weight", "0"], "--contrastive-weight", "got 0"),
    # evaluate: every EvalConfig field too; probe names before any model is trained
    (["evaluate", *D, "--probes", "bogus"], "--probes", "bogus"),
    (["evaluate", *D, "--probes", "ridge"], "--probes", "ridge"),
    (["evaluate", *D, "--probes", "linear,linear"], "--probes", "linear,linear"),
    (["evaluate", *D, "--embeddings", "hidden"], "--embeddings", "hidden"),
    (["evaluate", *D, "--backend", "jax"], "--backend", "jax"),
    (["evaluate", *D, "--knn-k", "0"], "--knn-k", "got 0"),
    (["evaluate", *D, "--knn-k", "1e3"], "--knn-k", "1e3"),
    (["evaluate", *D, "--knn-chunk", "0"], "--knn-chunk", "got 0"),
    (["evaluate", *D, "--linear-c", "0"], "--linear-c", "got 0"),
    (["evaluate", *D, "--linear-c", "inf"], "--linear-c", "inf"),
    (["evaluate", *D, "--linear-tol", "0"], "--linear-tol", "got 0"),
    (["evaluate", *D, "--linear-tol", "2"], "--linear-tol", "2"),
    (["evaluate", *D, "--linear-max-iter", "0"], "--linear-max-iter", "got 0"),
    (["evaluate", *D, "--mlp-hidden", "0"], "--mlp-hidden", "got 0"),
    (["evaluate", *D, "--mlp-lr", "nan"], "--mlp-lr", "nan"),
    (["evaluate", *D, "--mlp-alpha", "-1"], "--mlp-alpha", "-1"),
    (["evaluate", *D, "--mlp-batch-size", "0"], "--mlp-batch-size", "got 0"),
    (["evaluate", *D, "--mlp-val-fraction", "1.5"], "--mlp-val-fraction", "1.5"),
    (["evaluate", *D, "--mlp-val-fraction", "0"], "--mlp-val-fraction", "got 0"),
    (["evaluate", *D, "--mlp-patience", "0"], "--mlp-patience", "got 0"),
    (["evaluate", *D, "--mlp-max-epochs", "1000000"], "--mlp-max-epochs", "1000000"),
    (["evaluate", *D, "--ridge-alphas", "0"], "--ridge-alphas", "got 0"),
    (["evaluate", *D, "--ridge-alphas", "1,-1"], "--ridge-alphas", "-1"),
    (["evaluate", *D, "--layers", "1.5"], "--layers", "1.5"),
    (["evaluate", *D, "--layers", "0,0"], "--layers", "0,0"),
    (["evaluate", *D, "--probe-n-train", "0"], "--probe-n-train", "got 0"),
    (["evaluate", *D, "--clustering", "maybe"], "--clustering", "maybe"),
    (["evaluate", *D, "--seed", "-1"], "--seed", "-1"),
    (["evaluate", "--checkpoint", "/no/such/checkpoint"], "--checkpoint", "/no/such/checkpoint"),
    # benchmark: the grid
    (["benchmark", "--datasets", "esol"], "--datasets", "esol"),
    (["benchmark", "--datasets", "cifar"], "--datasets", "cifar"),
    (["benchmark", "--datasets", "digits,digits"], "--datasets", "digits,digits"),
    (["benchmark", "--datasets", "digits", "--methods", "cmim[mean]"], "--methods", "cmim[mean]"),
    (["benchmark", "--datasets", "digits", "--methods", "simclr"], "--methods", "simclr"),
    (["benchmark", "--datasets", "digits", "--methods", "cmim,cmim"], "--methods", "cmim,cmim"),
    (["benchmark", "--datasets", "digits", "--seeds", "0,0"], "--seeds", "0,0"),
    (["benchmark", "--datasets", "digits", "--seeds", "-1"], "--seeds", "-1"),
    (["benchmark", "--datasets", "digits", "--seeds", "1.5"], "--seeds", "1.5"),
    (["benchmark", "--datasets", "digits", "--seeds", "a"], "--seeds", "'a'"),
    (["benchmark", "--datasets", "digits", "--seeds", ""], "--seeds", "''"),
    (["benchmark", "--datasets", "digits", "--reductions", "mean"], "--reductions", "mean"),
    (["benchmark", "--datasets", "digits", "--reductions", "sum,sum"], "--reductions", "sum,sum"),
    (["benchmark", "--datasets", "digits", "--probes", "ridge"], "--probes", "ridge"),
    (["benchmark", "--datasets", "digits", "--epochs", "0"], "--epochs", "got 0"),
    (["benchmark", "--datasets", "digits", "--device", "tpu"], "--device", "tpu"),
    # batch-sweep: budgets and batch sizes
    (["batch-sweep", *D, "--budget", "0"], "--budget", "got 0"),
    (["batch-sweep", *D, "--budget", "-5"], "--budget", "-5"),
    (["batch-sweep", *D, "--budget", "1.5"], "--budget", "1.5"),
    (["batch-sweep", *D, "--budget", "1000000000000"], "--budget", "1000000000000"),
    (["batch-sweep", *D, "--batch-sizes", "0"], "--batch-sizes", "got 0"),
    (["batch-sweep", *D, "--batch-sizes", "32,32"], "--batch-sizes", "32,32"),
    (["batch-sweep", *D, "--batch-sizes", "2000000"], "--batch-sizes", "2000000"),
    (["batch-sweep", *D, "--batch-sizes", "64", "--budget", "10"], "--budget", "10"),
    (["batch-sweep", *D, "--protocol", "time"], "--protocol", "time"),
    (["batch-sweep", *D, "--protocol", "steps", "--budget", "100000000"], "--budget", "100000000"),
    (["batch-sweep", *D, "--protocol", "epochs", "--budget", "1000000"], "--budget", "1000000"),
    (["batch-sweep", *D, "--budget", "1000000000", "--batch-sizes", "1"], "--budget", "1000000000"),
    (["batch-sweep", *D, "--lr-rule", "cubic"], "--lr-rule", "cubic"),
    (["batch-sweep", *D, "--seeds", "0,0"], "--seeds", "0,0"),
    (["batch-sweep", *D, "--seeds", "-1"], "--seeds", "-1"),
    (["batch-sweep", *D, "--methods", "cmim[mean]"], "--methods", "cmim[mean]"),
    (["batch-sweep", *D, "--n-train", "0"], "--n-train", "got 0"),
    (["batch-sweep", *D, "--lr", "inf"], "--lr", "inf"),
    # notebooks and data
    (["notebooks", "--profile", "huge"], "--profile", "huge"),
    (["notebooks", "--only", "42"], "--only", "42"),
    (["notebooks", "--only", "0,0"], "--only", "0,0"),
    (["notebooks", "--device", "tpu"], "--device", "tpu"),
    (["claims", "--profile", "huge"], "--profile", "huge"),
    (["claims", "--device", "tpu"], "--device", "tpu"),
    (["data", "--load", "nope"], "--load", "nope"),
    (["data", "--load", "digits", "--n-train", "0"], "--n-train", "got 0"),
    # molecules: the plugin's command, same checks
    (["molecules", "--n-generate", "-5"], "--n-generate", "-5"),
    (["molecules", "--n-generate", "0"], "--n-generate", "got 0"),
    (["molecules", "--n-generate", "1.5"], "--n-generate", "1.5"),
    (["molecules", "--seeds", "0,0"], "--seeds", "0,0"),
    (["molecules", "--split-seeds", "0,-1"], "--split-seeds", "-1"),
    (["molecules", "--split", "bogus"], "--split", "bogus"),
    (["molecules", "--datasets", "digits"], "--datasets", "digits"),
    (["molecules", "--datasets", "bogus"], "--datasets", "bogus"),
    (["molecules", "--pretrain", "esol"], "--pretrain", "esol"),
    (["molecules", "--dataset", "digits"], "--dataset", "digits"),
    (["molecules", "--arch", "mlp"], "--arch", "mlp"),
    (["molecules", "--probes", "linear"], "--probes", "linear"),
    (["molecules", "--pretrain-size", "0"], "--pretrain-size", "got 0"),
    (["molecules", "--methods", "simclr"], "--methods", "simclr"),
    (["molecules", "--temperature", "inf"], "--temperature", "inf"),
    (["molecules", "--device", "tpu"], "--device", "tpu"),
]


def _run_cli(argv, capsys) -> tuple[int, str]:
    """Exit status of ``cmim-lab argv`` run in-process (returned, or raised by argparse) and its stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, flag, value", CLI, ids=[" ".join(c[0]) for c in CLI])
def test_cli_refuses_bad_values_in_one_line(argv, flag, value, capsys):
    code, err = _run_cli(argv, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err  # one clean line, no traceback
    assert lines[0].startswith(f"cmim-lab {argv[0]}: error:"), err
    assert flag in err, f"the message does not name {flag}: {err}"
    assert value in err, f"the message does not quote the bad value {value!r}: {err}"


def test_cli_exit_status_and_stderr_of_the_console_script():
    """The real process: exit status 2 and one line on stderr, before any data is touched."""
    proc = subprocess.run(
        [sys.executable, "-m", "cmim_lab.cli", "batch-sweep", "--batch-sizes", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "--batch-sizes" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [
            "train",
            *D,
            "--latent-dim",
            "4096",
            "--epochs",
            "100000",
            "--lr",
            "10",
            "--logvar-floor",
            "-20",
            "--seed",
            str(MAX_SEED),
            "--temperature",
            "1000",
            "--contrastive-weight",
            "0",
            "--n-train",
            "none",
        ],
        [
            "train",
            *D,
            "--logvar-floor",
            "5",
            "--batch-size",
            str(2**20),
            "--max-steps",
            "10000000",
            "--hidden-sizes",
            "65536,1",
            "--projection-dim",
            "0",
            "--augment-strength",
            "0",
        ],
        [
            "evaluate",
            *D,
            "--probes",
            "knn-cosine",
            "--knn-k",
            "10000",
            "--mlp-alpha",
            "0",
            "--layers=-1,0",
            "--probe-n-train",
            "all",
            "--clustering",
            "false",
        ],
        ["benchmark", "--datasets", "digits,mnist-5k", "--seeds", f"0,{MAX_SEED}", "--methods", "cmim[normalised],vae"],
        ["batch-sweep", "--budget", "1", "--protocol", "epochs", "--batch-sizes", "1,1048576", "--seeds", "3"],
        ["molecules", "--n-generate", "1", "--split", "random,scaffold", "--split-seeds", "0,1"],
    ],
)
def test_valid_edge_values_parse(argv):
    args = build_parser().parse_args(argv)
    assert args.command == argv[0]


# --- the Python API -------------------------------------------------------------------------
# (keyword arguments, the field the message must name, text of the bad value)
TRAIN = [
    (dict(seed=1.5), "seed", "1.5"),
    (dict(seed=-1), "seed", "-1"),
    (dict(seed=True), "seed", "True"),
    (dict(seed=2**32), "seed", "4294967296"),
    (dict(seed="0"), "seed", "'0'"),
    (dict(seed=None), "seed", "None"),
    (dict(data_seed=-1), "data_seed", "-1"),
    (dict(latent_dim=10**9), "latent_dim", "1000000000"),
    (dict(latent_dim=np.float64(4.0)), "latent_dim", "4.0"),
    (dict(hidden_sizes=(1.7,)), "hidden_sizes", "1.7"),
    (dict(hidden_sizes="512"), "hidden_sizes", "'512'"),
    (dict(hidden_sizes=32), "hidden_sizes", "32"),
    (dict(hidden_sizes=()), "hidden_sizes", "0"),
    (dict(hidden_sizes=(0,)), "hidden_sizes", "got 0"),
    (dict(hidden_sizes=[True]), "hidden_sizes", "True"),
    (dict(hidden_sizes=(32,) * 65), "hidden_sizes", "65"),
    (dict(hidden_sizes=(10**6,)), "hidden_sizes", "1000000"),
    (dict(logvar_floor=50), "logvar_floor", "50"),
    (dict(logvar_floor=NAN), "logvar_floor", "nan"),
    (dict(logvar_floor=-1e3), "logvar_floor", "-1000"),
    (dict(temperature=INF), "temperature", "inf"),
    (dict(temperature=0), "temperature", "got 0"),
    (dict(temperature=-1.0), "temperature", "-1.0"),
    (dict(lr=0), "lr", "got 0"),
    (dict(lr=11), "lr", "11"),
    (dict(lr="0.1"), "lr", "'0.1'"),
    (dict(lr=NAN), "lr", "nan"),
    (dict(epochs=1e14), "epochs", "100000000000000.0"),
    (dict(epochs=1.5), "epochs", "1.5"),
    (dict(epochs=None), "epochs", "None"),
    (dict(epochs=0), "epochs", "got 0"),
    (dict(epochs=np.int64(-3)), "epochs", "-3"),
    (dict(batch_size=2**21), "batch_size", "2097152"),
    (dict(batch_size=False), "batch_size", "False"),
    (dict(max_steps=0), "max_steps", "got 0"),
    (dict(max_steps=10**12), "max_steps", "1000000000000"),
    (dict(n_train=0), "n_train", "got 0"),
    (dict(n_train=2.5), "n_train", "2.5"),
    (dict(contrastive_weight=-1), "contrastive_weight", "-1"),
    (dict(contrastive_weight=NAN), "contrastive_weight", "nan"),
    (dict(recon_weight=INF), "recon_weight", "inf"),
    (dict(latent_weight=1e7), "latent_weight", "10000000"),
    (dict(projection_dim=-1), "projection_dim", "-1"),
    (dict(augment_strength=-1), "augment_strength", "-1"),
    (dict(method="simclr"), "method", "simclr"),
    (dict(method=None), "method", "None"),
    (dict(reduction="mean"), "reduction", "mean"),
    (dict(negatives=1), "negatives", "1"),
    (dict(arch="resnet"), "arch", "resnet"),
    (dict(likelihood="poisson"), "likelihood", "poisson"),
    (dict(dataset=""), "dataset", "''"),
    (dict(dataset=None), "dataset", "None"),
    (dict(extra=[]), "extra", "[]"),
    (dict(extra={"a": object()}), "extra", "'a'"),
    (dict(method="infonce", contrastive_weight=0), "contrastive_weight", "got 0"),
    (dict(arch="gru"), "arch", "gru"),
]


@pytest.mark.parametrize("kwargs, field, value", TRAIN, ids=[repr(k) for k, *_ in TRAIN])
def test_train_config_refuses(kwargs, field, value):
    with pytest.raises(ValueError) as exc:
        TrainConfig(**{"dataset": "digits", **kwargs})
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


def test_validate_catches_values_set_after_construction():
    config = TrainConfig(dataset="digits")
    config.temperature = INF
    with pytest.raises(ValueError, match="temperature must be finite, got inf"):
        config.validate()


EVAL = [
    (dict(probes="linear"), "probes", "'linear'"),
    (dict(probes=[]), "probes", "at least one"),
    (dict(probes=["svm"]), "probe", "svm"),
    (dict(probes=["linear", "linear"]), "probes", "'linear', 'linear'"),
    (dict(probes=[3]), "probes", "3"),
    (dict(embeddings=["hidden"]), "embedding", "hidden"),
    (dict(embeddings=[]), "embeddings", "at least one"),
    (dict(backend="jax"), "backend", "jax"),
    (dict(backend=None), "backend", "None"),
    (dict(knn_k=0), "knn_k", "got 0"),
    (dict(knn_k=1.5), "knn_k", "1.5"),
    (dict(knn_k=10**6), "knn_k", "1000000"),
    (dict(knn_chunk=0), "knn_chunk", "got 0"),
    (dict(linear_c=0), "linear_c", "got 0"),
    (dict(linear_c=INF), "linear_c", "inf"),
    (dict(linear_tol=1), "linear_tol", "got 1"),
    (dict(linear_max_iter=0), "linear_max_iter", "got 0"),
    (dict(mlp_hidden=10**6), "mlp_hidden", "1000000"),
    (dict(mlp_lr=INF), "mlp_lr", "inf"),
    (dict(mlp_alpha=-1), "mlp_alpha", "-1"),
    (dict(mlp_batch_size=0), "mlp_batch_size", "got 0"),
    (dict(mlp_val_fraction=1.0), "mlp_val_fraction", "1.0"),
    (dict(mlp_val_fraction=NAN), "mlp_val_fraction", "nan"),
    (dict(mlp_patience=0), "mlp_patience", "got 0"),
    (dict(mlp_max_epochs=10**6), "mlp_max_epochs", "1000000"),
    (dict(ridge_alphas=[]), "ridge_alphas", "[]"),
    (dict(ridge_alphas=[0.0]), "ridge_alphas", "0.0"),
    (dict(ridge_alphas=[1.0, NAN]), "ridge_alphas", "nan"),
    (dict(layers=[1.5]), "layers", "1.5"),
    (dict(layers=[True]), "layers", "True"),
    (dict(layers=[0, 0]), "layers", "[0, 0]"),
    (dict(layers=[1000]), "layers", "1000"),
    (dict(clustering="yes"), "clustering", "'yes'"),
    (dict(seed=-1), "seed", "-1"),
    (dict(probe_n_train=0), "probe_n_train", "got 0"),
    (dict(probe_n_train=2.5), "probe_n_train", "2.5"),
    (dict(mlp_precision="float16"), "mlp_precision", "float16"),
    (dict(mlp_precision="bfloat16", backend="sklearn"), "mlp_precision", "sklearn"),
]


@pytest.mark.parametrize("kwargs, field, value", EVAL, ids=[repr(k) for k, *_ in EVAL])
def test_eval_config_refuses(kwargs, field, value):
    with pytest.raises(ValueError) as exc:
        EvalConfig(**kwargs)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


SWEEP = [
    (dict(budget=0), "budget", "got 0"),
    (dict(budget=-5), "budget", "-5"),
    (dict(budget=1.5), "budget", "1.5"),
    (dict(batch_sizes=[0]), "batch_sizes", "got 0"),
    (dict(batch_sizes=[32, 32]), "batch_sizes", "[32, 32]"),
    (dict(batch_sizes=[64], budget=10), "budget", "10"),
    (dict(batch_sizes=32), "batch_sizes", "32"),
    (dict(seeds=[0, 0]), "seeds", "[0, 0]"),
    (dict(seeds=[-1]), "seeds", "-1"),
    (dict(seeds=[]), "seeds", "0"),
    (dict(protocol="time"), "protocol", "time"),
    (dict(lr_rule="cubic"), "lr rule", "cubic"),
    (dict(methods="cmim"), "methods", "'cmim'"),
    (dict(methods=[]), "methods", "[]"),
    (dict(methods=["cmim[mean]"]), "method", "cmim[mean]"),
    (dict(methods=["cmim", "cmim"]), "methods", "'cmim', 'cmim'"),
    (dict(base="digits"), "base", "str"),
    (dict(eval_config={"knn_k": 5}), "eval_config", "dict"),
    (dict(protocol="steps", budget=10**8), "budget", "100000000"),
]


@pytest.mark.parametrize("kwargs, field, value", SWEEP, ids=[repr(k) for k, *_ in SWEEP])
def test_batch_sweep_refuses_before_loading_data(kwargs, field, value, monkeypatch):
    import cmim_lab.studies.sweep as sweep

    monkeypatch.setattr(sweep.data_module, "load", lambda *a, **k: pytest.fail("data loaded for a bad sweep"))
    args = {"methods": ["cmim"], "batch_sizes": [32], "seeds": [0], "base": TrainConfig(dataset="digits"), **kwargs}
    with pytest.raises(ValueError) as exc:
        sweep.run_batch_sweep(args.pop("methods"), args.pop("batch_sizes"), args.pop("seeds"), **args)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


def test_batch_sweep_budget_none_means_the_protocol_default_and_zero_is_refused():
    from cmim_lab.studies.sweep import DEFAULT_BUDGET, check_sweep

    assert check_sweep(["cmim"], [32], [0], protocol="steps", budget=None, lr_rule="sqrt")[3] == DEFAULT_BUDGET["steps"]
    with pytest.raises(ValueError, match="budget .* must be > 0, got 0"):
        check_sweep(["cmim"], [32], [0], protocol="steps", budget=0, lr_rule="sqrt")


BENCH = [
    (dict(datasets="digits"), "datasets", "'digits'"),
    (dict(datasets=[]), "datasets", "[]"),
    (dict(datasets=["cifar"]), "dataset", "cifar"),
    (dict(datasets=["esol"]), "dataset", "esol"),
    (dict(datasets=["digits", "digits"]), "datasets", "'digits', 'digits'"),
    (dict(methods=["simclr"]), "method", "simclr"),
    (dict(methods="cmim"), "methods", "'cmim'"),
    (dict(seeds=[0, 0]), "seeds", "[0, 0]"),
    (dict(seeds=[1.5]), "seeds", "1.5"),
    (dict(seeds=[-2]), "seeds", "-2"),
    (dict(reductions=["mean"]), "reduction", "mean"),
    (dict(reductions="sum"), "reductions", "'sum'"),
    (dict(eval_config=EvalConfig(probes=["ridge"])), "probes", "ridge"),
    (dict(base={"epochs": 1}), "base", "dict"),
]


@pytest.mark.parametrize("kwargs, field, value", BENCH, ids=[repr(k) for k, *_ in BENCH])
def test_benchmark_refuses_before_loading_data(kwargs, field, value, monkeypatch):
    import cmim_lab.studies.benchmark as benchmark

    monkeypatch.setattr(benchmark.data_module, "load", lambda *a, **k: pytest.fail("data loaded for a bad benchmark"))
    args = {"datasets": ["digits"], "methods": ["cmim"], "seeds": [0], **kwargs}
    with pytest.raises(ValueError) as exc:
        benchmark.run_benchmark(args.pop("datasets"), args.pop("methods"), args.pop("seeds"), **args)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


# embed(): shapes and finiteness are checked against the model
@pytest.fixture(scope="module")
def image_model():
    return build_model((1, 8, 8), latent_dim=4, hidden_sizes=(16,), logvar_floor=-6.0)


def _with(value, at=(0, 0, 1, 1)):
    x = torch.rand(5, 1, 8, 8)
    x[at] = value
    return x


EMBED = [
    (dict(x=torch.rand(5, 64)), "shape", "(5, 64)"),
    (dict(x=torch.rand(5, 1, 8, 9)), "shape", "(5, 1, 8, 9)"),
    (dict(x=torch.rand(1, 8, 8)), "shape", "(1, 8, 8)"),
    (dict(x=_with(NAN)), "NaN", "1 NaN"),
    (dict(x=_with(INF)), "NaN or infinite", "1 NaN"),
    (dict(x=torch.zeros(5, 1, 8, 8, dtype=torch.long)), "dtype", "int64"),
    (dict(x=np.zeros((5, 1, 8, 8), dtype=np.float32)), "torch.Tensor", "ndarray"),
    (dict(kind="hidden"), "embedding kind", "hidden"),
    (dict(batch_size=0), "batch_size", "got 0"),
    (dict(batch_size=2.5), "batch_size", "2.5"),
    (dict(kind="informative", layers=[True]), "layers", "True"),
    (dict(kind="informative", layers="0"), "layers", "'0'"),
    (dict(kind="informative", layers=[5]), "layers", "[5]"),
]


@pytest.mark.parametrize("kwargs, field, value", EMBED, ids=[repr(k)[:60] for k, *_ in EMBED])
def test_embed_refuses(kwargs, field, value, image_model):
    args = {"x": torch.rand(5, 1, 8, 8), **kwargs}
    with pytest.raises(ValueError) as exc:
        embed(image_model, args.pop("x"), **args)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


def test_embed_never_returns_nan_codes_and_accepts_valid_input(image_model):
    assert torch.isfinite(embed(image_model, torch.rand(5, 1, 8, 8))).all()
    with pytest.raises(ValueError, match="NaN"):
        embed(image_model, _with(NAN))


# evaluate(): inputs checked before any probe or metric
def _fake(n_train=40, n_test=10, classes=4, x_test=None):
    y_tr = torch.arange(n_train) % classes
    return SimpleNamespace(
        name="fake",
        x_train=torch.rand(n_train, 1, 8, 8),
        y_train=y_tr,
        x_test=torch.rand(n_test, 1, 8, 8) if x_test is None else x_test,
        y_test=torch.arange(n_test) % classes,
    )


EVALUATE = [
    (dict(probes=["ridge"]), "probe", "ridge"),
    (dict(likelihood="poisson"), "likelihood", "poisson"),
    (dict(data=SimpleNamespace(x_train=torch.rand(4, 1, 8, 8), y_train=torch.arange(4))), "y_test", "SimpleNamespace"),
    (dict(knn_k=100, probe_n_train=None), "knn_k", "100"),
    (dict(probe_n_train=2), "probe_n_train", "2"),
    (dict(data=_fake(x_test=torch.cat([_with(NAN), torch.rand(5, 1, 8, 8)]))), "NaN", "1 NaN"),
    (dict(data=_fake(x_test=torch.rand(10, 64))), "shape", "(10, 64)"),
    (dict(config={"probes": ["linear"]}), "config", "dict"),
]


@pytest.mark.parametrize("kwargs, field, value", EVALUATE, ids=[repr(k)[:60] for k, *_ in EVALUATE])
def test_evaluate_refuses_before_computing(kwargs, field, value, image_model, monkeypatch):
    import cmim_lab.evaluation as evaluation

    monkeypatch.setattr(evaluation, "probe_scores", lambda *a, **k: pytest.fail("probes ran on bad input"))
    args = {"data": _fake(), **kwargs}
    with pytest.raises(ValueError) as exc:
        evaluation.evaluate(image_model, args.pop("data"), args.pop("config", None), **args)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


# the molecule embedding: invalid SMILES are reported (count and examples), refused by default
@pytest.fixture(scope="module")
def gru_model():
    pytest.importorskip("rdkit")
    from cmim_lab.molecules.nets import build_gru
    from cmim_lab.molecules.smiles import Vocabulary

    vocab = Vocabulary.build(["CCO", "c1ccccc1", "CC(=O)N", "CN1CCCC1c1cccnc1"])
    return build_gru((24,), latent_dim=4, hidden_sizes=(8,), logvar_floor=-6.0, context={"vocab": vocab})


VALID = ["CCO", "c1ccccc1", "CC(=O)N"]
MOLECULES = [
    (dict(smiles=VALID + ["C1CC", "xyz"]), "2 of 5 SMILES are invalid", "'C1CC' (index 3)"),
    (dict(smiles=VALID + [""]), "1 of 4 SMILES", "'' (index 3)"),
    (dict(smiles=VALID + [None]), "1 of 4 SMILES", "None (index 3)"),
    (dict(smiles=VALID + [5]), "1 of 4 SMILES", "5 (index 3)"),
    (dict(smiles=["Q"] * 8), "8 of 8 SMILES", "and 3 more"),
    (dict(smiles=["C1CC", "xyz"], on_invalid="skip"), "2 of 2 SMILES", "none is left"),
    (dict(on_invalid="drop"), "on_invalid", "drop"),
    (dict(smiles="CCO"), "smiles must be a list", "'CCO'"),
    (dict(smiles=[]), "smiles", "empty"),
    (dict(kind="hidden"), "embedding kind", "hidden"),
    (dict(batch_size=0), "batch_size", "got 0"),
]


@pytest.mark.parametrize("kwargs, field, value", MOLECULES, ids=[repr(k)[:60] for k, *_ in MOLECULES])
def test_molecule_embedding_refuses(kwargs, field, value, gru_model):
    from cmim_lab.molecules.evaluation import embed_smiles

    args = {"smiles": VALID, **kwargs}
    with pytest.raises(ValueError) as exc:
        embed_smiles(gru_model, args.pop("smiles"), **args)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


def test_molecule_embedding_can_skip_invalid_smiles_with_a_warning(gru_model):
    from cmim_lab.molecules.evaluation import embed_smiles
    from cmim_lab.molecules.smiles import invalid_smiles

    smiles = ["CCO", "C1CC", "c1ccccc1", "xyz"]
    with pytest.warns(UserWarning, match=r"2 of 4 SMILES are invalid.*'C1CC' \(index 1\)"):
        e = embed_smiles(gru_model, smiles, on_invalid="skip")
    assert e.shape == (2, 4) and invalid_smiles(smiles) == [1, 3]
    np.testing.assert_allclose(e, embed_smiles(gru_model, ["CCO", "c1ccccc1"]), rtol=1e-5, atol=1e-6)


TOKENS = [
    (torch.rand(3, 5), "dtype", "float32"),
    (torch.zeros(3, 5, 2, dtype=torch.long), "shape", "(3, 5, 2)"),
    (torch.full((3, 5), 999, dtype=torch.long), "token ids", "999"),
    (torch.full((3, 5), -1, dtype=torch.long), "token ids", "-1"),
]


@pytest.mark.parametrize("x, field, value", TOKENS, ids=[str(i) for i in range(len(TOKENS))])
def test_sequence_model_checks_token_ids(x, field, value, gru_model):
    with pytest.raises(ValueError) as exc:
        embed(gru_model, x)
    assert field in str(exc.value) and value in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    "kwargs, value",
    [
        (dict(n_prior=-5), "-5"),
        (dict(n_prior=0), "0"),
        (dict(n_prior=2.5), "2.5"),
        (dict(n_recon=0), "0"),
        (dict(n_prior=True), "True"),
    ],
)
def test_generation_metrics_refuse_bad_counts(kwargs, value, gru_model):
    from cmim_lab.molecules.evaluation import generation_metrics

    with pytest.raises(ValueError) as exc:
        generation_metrics(gru_model, None, **kwargs)
    assert next(iter(kwargs)) in str(exc.value) and value in str(exc.value)


# --- papermill notebook parameters (cmim_lab.notebook.params.setup, the first call of every notebook) ---
NOTEBOOK = dict(
    dataset="digits", n_train=600, n_test=None, epochs=1, latent_dim=4, n_umap=100, probe_n_train=300, device="cpu"
)
PARAMS = [
    (dict(epochs=0), "epochs", "got 0"),
    (dict(epochs=1.5), "epochs", "1.5"),
    (dict(epochs=10.0), "epochs", "10.0"),
    (dict(epochs=True), "epochs", "True"),
    (dict(epochs="3"), "epochs", "'3'"),
    (dict(latent_dim=10**9), "latent_dim", "1000000000"),
    (dict(n_train=-5), "n_train", "-5"),
    (dict(n_test=0), "n_test", "got 0"),
    (dict(probe_n_train=0), "probe_n_train", "got 0"),
    (dict(seeds=[0, 0]), "seeds", "[0, 0]"),
    (dict(seeds=[-1]), "seeds", "-1"),
    (dict(seeds=[1.5]), "seeds", "1.5"),
    (dict(seeds=[]), "seeds", "non-empty"),
    (dict(seeds="0"), "seeds", "'0'"),
    (dict(temperatures=[INF]), "temperatures", "inf"),
    (dict(temperatures=[0.1, 0.0]), "temperatures", "got 0.0"),
    (dict(weights=[-1.0]), "weights", "-1.0"),
    (dict(weights=[NAN]), "weights", "nan"),
    (dict(latent_sizes=[0]), "latent_sizes", "got 0"),
    (dict(latent_sizes=[10**6]), "latent_sizes", "1000000"),
    (dict(batch_sizes=[0]), "batch_sizes", "got 0"),
    (dict(batch_sizes=[32, 32]), "batch_sizes", "[32, 32]"),
    (dict(samples_seen=0), "samples_seen", "got 0"),
    (dict(n_umap=0), "n_umap", "got 0"),
    (dict(n_umap=10**9), "n_umap", "1000000000"),
    (dict(n_explore=-1), "n_explore", "-1"),
    (dict(dataset="cifar"), "dataset", "cifar"),
    (dict(dataset=["digits"]), "dataset", "['digits']"),
    (dict(datasets=["esol"]), "dataset", "esol"),
    (dict(methods=["simclr"]), "method", "simclr"),
    (dict(methods="cmim"), "methods", "'cmim'"),
    (dict(reductions=["mean"]), "reduction", "mean"),
    (dict(methods=["cmim"], ablation_methods=["vae"]), "ablation_methods", "['vae']"),
    (dict(ablation_probe_n_train=0), "ablation_probe_n_train", "got 0"),
    (dict(device="tpu"), "device", "tpu"),
    (dict(profile="huge"), "profile", "huge"),
    (dict(pretrain_size=0), "pretrain_size", "got 0"),
    (dict(mol_epochs=0), "mol_epochs", "got 0"),
    (dict(split_seeds=[0, 0]), "split_seeds", "[0, 0]"),
    (dict(neighbour_radius=NAN), "neighbour_radius", "nan"),
    (dict(lr=INF), "lr", "inf"),
    (dict(temperature=NAN), "temperature", "nan"),
    (dict(hidden_sizes=[1.7]), "hidden_sizes", "1.7"),
    (dict(logvar_floor=50), "logvar_floor", "50"),
    (dict(seed=-1), "seed", "-1"),
    (dict(knn_k=0), "knn_k", "got 0"),
    (dict(search="yes"), "search", "'yes'"),
    (dict(search=1), "search", "1"),
    (dict(search_budgets=[0, 4]), "search_budgets", "got 0"),
    (dict(search_budgets=[4, 4]), "search_budgets", "[4, 4]"),
]


@pytest.mark.parametrize("values, name, value", PARAMS, ids=[repr(k)[:60] for k, *_ in PARAMS])
def test_notebook_parameters_are_refused_by_name(values, name, value, monkeypatch):
    monkeypatch.delenv("CMIM_LAB_PROFILE", raising=False)
    with pytest.raises(ValueError) as exc:
        params.setup(verbose=False, **{**NOTEBOOK, **values})
    assert name in str(exc.value) and value in str(exc.value), str(exc.value)


def test_valid_notebook_parameters_and_edge_values_pass(monkeypatch):
    monkeypatch.delenv("CMIM_LAB_PROFILE", raising=False)
    P = params.setup(
        verbose=False,
        **{
            **NOTEBOOK,
            "seeds": [0, MAX_SEED],
            "latent_dim": np.int64(4096),
            "temperatures": [1000.0],
            "n_train": None,
            "query": "CCO",
        },
    )
    assert P.latent_dim == 4096 and P.device == "cpu"


def test_valid_edge_values_are_accepted_and_numpy_numbers_become_python_numbers():
    config = TrainConfig(
        dataset="digits",
        latent_dim=np.int64(4096),
        epochs=100_000,
        lr=10,
        logvar_floor=-20.0,
        seed=MAX_SEED,
        data_seed=0,
        batch_size=2**20,
        temperature=np.float32(0.5),
        hidden_sizes=np.array([32, 65536]),
        contrastive_weight=0,
        max_steps=10**7,
    )
    assert type(config.latent_dim) is int and type(config.temperature) is float
    assert config.hidden_sizes == (32, 65536) and isinstance(config.key("0"), str)  # JSON-able cache key
    assert TrainConfig(dataset="digits", logvar_floor=5).logvar_floor == 5
    cfg = EvalConfig(mlp_alpha=0, knn_k=10_000, layers=np.array([-1, 0]), seed=np.uint32(MAX_SEED), probe_n_train=None)
    assert cfg.layers == (-1, 0) and type(cfg.seed) is int


def test_the_case_count_covers_the_issue():
    """At least 200 bad inputs across the three surfaces (the issue's probe tried 200)."""
    n = (
        len(CLI)
        + len(TRAIN)
        + len(EVAL)
        + len(SWEEP)
        + len(BENCH)
        + len(EMBED)
        + len(EVALUATE)
        + len(MOLECULES)
        + len(TOKENS)
        + 5
        + len(PARAMS)
    )
    assert n >= 200, n


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(seeds=[0, 0]), "seeds"),
        (dict(seeds=[-1]), "seeds"),
        (dict(split_seeds=[1, 1]), "split_seeds"),
        (dict(datasets=["tox21"]), "tox21"),
        (dict(datasets="esol"), "datasets"),
        (dict(methods=[]), "methods"),
        (dict(methods=["bogus"]), "bogus"),
        (dict(n_generate=-5), "n_generate"),
        (dict(n_generate=1.5), "n_generate"),
    ],
)
def test_molecule_benchmark_arguments_are_checked_before_any_work(monkeypatch, kwargs, match):
    from cmim_lab.molecules import benchmark as mb

    monkeypatch.setattr(mb, "run_study", lambda *a, **k: pytest.fail("work started on a bad argument"))
    monkeypatch.setattr(mb, "load_property", lambda *a, **k: pytest.fail("data loaded on a bad argument"))
    with pytest.raises(ValueError, match=match):
        mb.run_molecule_benchmark(**kwargs)


def test_a_study_grid_refuses_a_repeated_seed():
    from cmim_lab.studies.engine import grid

    with pytest.raises(ValueError, match="seeds"):
        grid(TrainConfig(dataset="digits"), ["cmim"], seeds=[0, 0])


def test_a_study_grid_takes_seeds_as_a_range():
    from cmim_lab.studies.engine import grid

    assert [e.config.seed for e in grid(TrainConfig(dataset="digits"), ["cmim"], seeds=range(3))] == [0, 1, 2]


# --- the remaining unclear inputs (issue #30, item 6): each a ValueError from the kit -----------------
# (a call with one bad input, texts its message must hold: the value and what is valid)
def _images(dtype, high, n=50, classes=5, shape=(8, 8)):
    x = np.random.default_rng(0).integers(0, high + 1, (n, *shape)).astype(dtype)
    x.reshape(n, -1)[0, 0] = high  # the largest value occurs
    return x, np.arange(n) % classes


def _from_arrays(x_y, **kwargs):
    from cmim_lab import data

    return lambda: data.from_arrays(*x_y, name="mine", **kwargs)


def _data(call):
    from cmim_lab import data

    return lambda: call(data)


def _molecules(call):
    from cmim_lab.molecules import data as mdata
    from cmim_lab.molecules import smiles

    return lambda: call(smiles, mdata)


ONE_OF_CLASS_7 = (_images(np.uint8, 255)[0], np.r_[np.arange(49) % 5, 7])
BELOW_ZERO = (_images(np.int64, 255)[0] - 1, _images(np.int64, 255)[1])
PAPERMILL = [
    "",
    'profile = "default"\ndataset = "digits"\nepochs = 10\n',
    "# Parameters\nepochz = 3\n",
    "P = params.setup(profile=profile, dataset=dataset, epochs=epochs)",
]
UNCLEAR = [
    (_data(lambda d: d.load("digits", seed=-1)), ["seed", "-1", "0 to 4294967295"]),
    (_data(lambda d: d.load("digits", split_seed=-1)), ["split_seed", "-1", "0 to 4294967295"]),
    (_data(lambda d: d.load("digits", seed=2**32)), ["seed", "4294967296"]),
    (_data(lambda d: d.load("digits", seed=1.5)), ["seed", "1.5"]),
    (_data(lambda d: d.load_images("digits", split_seed=-7)), ["split_seed", "-7"]),
    (_data(lambda d: d.load("digits", n_train=1430)), ["n_train=1430", "n_train <= 1427"]),
    (_from_arrays(_images(np.uint8, 255), seed=-1), ["seed", "-1"]),
    (_from_arrays(_images(np.uint8, 255), split_seed=-1), ["split_seed", "-1"]),
    (_from_arrays(_images(np.uint16, 4095)), ["uint16", "0..4095", "astype(np.float32) / 4095", "standardise=True"]),
    (_from_arrays(_images(np.int64, 1000, shape=(3, 4, 4))), ["int64", "0..1000", "8-bit"]),
    (_from_arrays(BELOW_ZERO), ["int64", "-1..254"]),
    (_from_arrays(ONE_OF_CLASS_7), ["class 7", "count 1", "at least 2 samples"]),
    (_from_arrays(_images(np.uint8, 255, n=12)), ["3 and 9", "5 classes"]),
    (_molecules(lambda s, m: s.scaffold("C1CC")), ["'C1CC'", "not a valid SMILES"]),
    (_molecules(lambda s, m: s.scaffold("")), ["''", "not a valid SMILES"]),
    (
        _molecules(lambda s, m: m.split_indices(["CCO", "c1ccccc1", "C1CC", "CCN", "CCC"], "scaffold")),
        ["'C1CC' (index 2)", "scaffold split"],
    ),
    (_molecules(lambda s, m: s.Vocabulary.from_json("{bad")), ["'{bad'", "not JSON", '{"tokens"']),
    (_molecules(lambda s, m: s.Vocabulary.from_json('{"tokens": 3}')), ["'{\"tokens\": 3}'", "Vocabulary.to_json"]),
    (_molecules(lambda s, m: s.Vocabulary.from_json(None)), ["None", "not JSON"]),
    (lambda: params.check_injected(PAPERMILL), ["'epochz'", "did you mean 'epochs'", "profile, dataset, epochs"]),
    (lambda: TrainConfig(dataset="digits", negatives="bogus"), ["'bogus'", "valid negatives are"]),
]


@pytest.mark.parametrize("call, texts", UNCLEAR, ids=[" ".join(t)[:60] for _, t in UNCLEAR])
def test_unclear_inputs_get_a_clear_error_naming_the_value(call, texts):
    with pytest.raises(ValueError) as exc:
        call()
    message = str(exc.value)
    assert all(text in message for text in texts), message
    assert "negativess" not in message and "\n" not in message


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.int32])
def test_integer_images_in_0_to_255_are_read_as_8_bit_intensities(dtype):
    from cmim_lab import data

    x, y = _images(dtype, 255)
    ours, reference = data.from_arrays(x, y, name="mine"), data.from_arrays(x.astype(np.uint8), y, name="mine")
    assert not ours.real_valued and float(ours.x_train.max()) == 1.0
    assert data.fingerprint(ours) == data.fingerprint(reference)  # the very same dataset as uint8 gives
    assert data.from_arrays(x, y, name="mine", standardise=False).x_train.equal(reference.x_train)
    assert data.from_arrays(x, y, name="mine", standardise=True).real_valued  # asked for: real-valued features
    vectors = data.from_arrays(x.reshape(len(x), -1), y, name="mine")  # [N, D] integers: features, as before
    assert vectors.real_valued


def test_a_token_outside_the_vocabulary_is_encoded_with_a_warning_naming_it_and_the_smiles():
    from cmim_lab.molecules.smiles import UNK_ID, Vocabulary

    vocab = Vocabulary.build(["CCO", "c1ccccc1"])
    with pytest.warns(UserWarning, match=r"a token outside the vocabulary \('\[Xe\]'\).*'\[Xe\]'"):
        assert vocab.encode("[Xe]")[1:-1] == [UNK_ID]
    with pytest.warns(
        UserWarning,
        match=r"2 SMILES hold tokens .*'\[Xe\]', 'Br'.*'C\[Xe\]C' \(index 1\), 'CBr' "
        r"\(index 2\)",
    ):
        vocab.encode_batch(["CCO", "C[Xe]C", "CBr"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known tokens only: no warning
        vocab.encode_batch(["CCO", "c1ccccc1O"])
        vocab.encode("OCC")


def test_papermill_parameters_the_notebook_declares_pass_and_only_papermill_cells_are_read():
    declared = PAPERMILL[:2] + ['# Parameters\nepochs = 3\nprofile = "smoke"\n', PAPERMILL[3]]
    params.check_injected(declared)  # a known name
    params.check_injected(PAPERMILL[:2] + PAPERMILL[3:])  # run by hand or by nbval: nothing injected
    params.check_injected(["", "# Parameters: plain literals\nepochz = 3\n", "x = 1"])  # not papermill's header
    params.check_injected([])
    assert params._kernel_history() == []  # outside a kernel: nothing to read


def test_the_cache_folder_message_reads_as_one_sentence(tmp_path, monkeypatch):
    from cmim_lab.errors import CacheFolderError
    from cmim_lab.infra import paths

    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(paths.os, "getuid", lambda: folder.stat().st_uid + 1)
    with pytest.raises(CacheFolderError) as exc:
        paths.check_private(folder)
    assert "Use a folder of your own: or set" not in str(exc.value)
    assert "would be loaded. Set CMIM_LAB_CACHE to a folder of your own" in str(exc.value)
