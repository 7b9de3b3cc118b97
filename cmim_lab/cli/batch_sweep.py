"""``cmim-lab batch-sweep``: batch-size sensitivity of each method under a stated protocol --
every run gets the same samples seen, optimiser steps or epochs, with the learning rate scaled
by ``--lr-rule`` (:func:`cmim_lab.studies.sweep.run_batch_sweep`); writes sweep.csv,
sensitivity.csv, summary.md and the figure to ``--out`` and prints the report."""

from __future__ import annotations

HELP = "batch-size sensitivity under a stated protocol"
EXAMPLES = [
    "cmim-lab batch-sweep --methods cmim,infonce --batch-sizes 32,128,512 --seeds 0,1",
    "cmim-lab batch-sweep --methods 'cmim[sum],infonce[pure]' --protocol steps --budget 500",
]


def add_arguments(p) -> None:
    """The sweep (``--methods``, ``--batch-sizes``, ``--seeds``, ``--protocol``, ``--budget``,
    ``--lr-rule``), the other TrainConfig fields (Fashion-MNIST, 20,000 images by default), the
    EvalConfig fields the sweep uses, ``--out``, ``--device``, ``--no-progress``."""
    from ..config import BATCH, SAMPLES
    from ..studies.sweep import LR_RULES, PROTOCOLS
    from .common import add_eval_flags, add_out_flag, add_run_flags, add_train_flags, variant_names
    from .flags import bounded, bounded_list, choice, optional, seeds, variants_help

    g = p.add_argument_group("sweep")
    g.add_argument(
        "--methods",
        type=variant_names(),
        default=["cmim", "infonce", "mim"],
        help=f"comma-separated, each {variants_help()}; a bare method runs under both reductions "
        f"(infonce: with reconstruction and pure) (default cmim,infonce,mim)",
    )
    g.add_argument(
        "--batch-sizes",
        type=bounded_list(BATCH, "batch_sizes", distinct=True),
        default=[16, 32, 64, 128, 256, 512, 1024],
        help=f"distinct batch sizes, each {BATCH.describe()} (default 16,32,64,128,256,512,1024)",
    )
    g.add_argument(
        "--seeds",
        type=seeds(),
        default=[0, 1, 2],
        help="model seeds, distinct integers from 0 to 2**32-1 (default 0,1,2)",
    )
    g.add_argument(
        "--protocol",
        default="samples",
        type=choice(PROTOCOLS, "protocol"),
        help=f"what every run gets the same of: one of {', '.join(PROTOCOLS)} -- samples seen, "
        f"optimiser steps, or epochs (default samples)",
    )
    g.add_argument(
        "--budget",
        type=optional(bounded(SAMPLES, "budget")),
        default=None,
        help=f"samples seen / optimiser steps / epochs per run: {SAMPLES.describe()}, or none = "
        f"100000 / 500 / 5 by --protocol (default none)",
    )
    g.add_argument(
        "--lr-rule",
        default="sqrt",
        type=choice(LR_RULES, "lr rule"),
        help=f"how --lr (the rate at batch 128) scales with the batch: one of {', '.join(LR_RULES)} (default sqrt)",
    )
    add_train_flags(
        p,
        skip=("method", "seed", "batch_size", "epochs", "max_steps"),
        defaults={"dataset": "fashion-mnist", "n_train": 20_000},
    )
    add_eval_flags(p, skip=("seed", "probes", "embeddings", "clustering", "layers"))
    add_out_flag(p, "batch-sweep")
    add_run_flags(p)


def run(args) -> int:
    """Run the batch-size sweep and print its report."""
    from ..studies.sweep import run_batch_sweep
    from .common import command_line, eval_config, train_config, wrote

    base = train_config(args, method="cmim")
    result = run_batch_sweep(
        args.methods,
        args.batch_sizes,
        args.seeds,
        base=base,
        protocol=args.protocol,
        budget=args.budget,
        lr_rule=args.lr_rule,
        eval_config=eval_config(args),
        out_dir=args.out,
        device=args.device,
        progress=not args.no_progress,
        log=print,
        command=command_line(args),
    )
    print(result.markdown)
    print(wrote(result.files))
    return 0
