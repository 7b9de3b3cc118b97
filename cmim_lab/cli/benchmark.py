"""``cmim-lab benchmark``: train and evaluate the grid datasets x methods x reductions x seeds
(:func:`cmim_lab.studies.benchmark.run_benchmark`), with the raw-pixel and PCA baselines, and
write raw.csv, zscores.csv, ranks.csv, summary.md and the figure to ``--out``; prints the
Markdown report."""

from __future__ import annotations

HELP = "train and evaluate a grid; write CSV, Markdown, Z-scores and a figure"
EXAMPLES = [
    "cmim-lab benchmark --datasets digits --methods vae,mim,cmim --seeds 0,1 --epochs 3",
    (
        "cmim-lab benchmark --datasets mnist-5k --methods vae,cmim --reductions sum,normalised"
        "   # = --methods 'vae[sum],vae[normalised],cmim[sum],cmim[normalised]'"
    ),
]


def _dataset_names(role: str):
    """argparse type: distinct registered dataset names of ``role``."""
    from .common import registry_with_datasets
    from .flags import names

    registry = registry_with_datasets()
    return names(None, "dataset", check=lambda name: registry.dataset(name, role=role))


def add_arguments(p) -> None:
    """The grid (``--datasets``, ``--methods``, ``--seeds``, ``--reductions``), the other
    TrainConfig fields, the EvalConfig fields, ``--no-baselines``, ``--out``, ``--device``, ``--no-progress``."""
    from ..config import REDUCTIONS
    from ..methods import names as method_names
    from .common import (
        add_eval_flags,
        add_out_flag,
        add_run_flags,
        add_train_flags,
        registry_with_datasets,
        variant_names,
    )
    from .flags import names, seeds, variants_help

    g = p.add_argument_group("grid")
    valid = list(registry_with_datasets().datasets(role="classification"))
    g.add_argument(
        "--datasets",
        type=_dataset_names("classification"),
        default=["mnist-5k"],
        help=f"any of {', '.join(valid)} (comma-separated) (default mnist-5k)",
    )
    every = list(method_names())
    g.add_argument(
        "--methods",
        type=variant_names(),
        default=every,
        help=f"comma-separated, each {variants_help()}; a bare method is crossed with every "
        f"--reductions (default {','.join(every)})",
    )
    g.add_argument(
        "--seeds",
        type=seeds(),
        default=[0, 1, 2],
        help="model seeds, distinct integers from 0 to 2**32-1 (default 0,1,2)",
    )
    g.add_argument(
        "--reductions",
        type=names(REDUCTIONS, "reduction"),
        default=["sum"],
        help=f"reductions crossed with the bare methods: any of {', '.join(REDUCTIONS)} (comma-separated); "
        f"--methods cmim --reductions normalised is --methods 'cmim[normalised]' (default sum)",
    )
    add_train_flags(p, skip=("method", "dataset", "seed", "reduction"))
    add_eval_flags(p)
    p.add_argument(
        "--no-baselines", action="store_true", help="skip the raw-pixel and PCA baselines (default: include them)"
    )
    add_out_flag(p, "benchmark")
    add_run_flags(p)


def run(args) -> int:
    """Run the benchmark grid and print the Markdown report."""
    from ..studies.benchmark import run_benchmark
    from .common import command_line, eval_config, registry_with_datasets, train_config, wrote

    registry = registry_with_datasets()
    for name in args.datasets:
        registry.dataset(name, role="classification")
    base = train_config(args, method="cmim", dataset=args.datasets[0])
    result = run_benchmark(
        args.datasets,
        args.methods,
        args.seeds,
        args.reductions,
        base=base,
        eval_config=eval_config(args),
        baselines=not args.no_baselines,
        out_dir=args.out,
        device=args.device,
        progress=not args.no_progress,
        log=print,
        command=command_line(args),
    )
    print(result.markdown)
    print(wrote(result.files))
    return 0
