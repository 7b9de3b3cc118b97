"""``cmim-lab claims``: every claim of the paper with a verdict from your own run. Trains what is
missing (models, evaluations and curves are cached), compares each claim's entries paired by
seed (:func:`cmim_lab.studies.claims.run_claims`) and writes claims.md, claims.json and the
budget-curve figure; ``--search`` adds the fair hyper-parameter search of cMIM against MIM.
``--dataset NAME_OR_PATH`` asks the same questions of another dataset, the user's own
(:func:`cmim_lab.studies.your_data.run`): a registered name, a bundled table, an ``.npz``, a
``.csv``/``.parquet`` with ``--label``, or a folder of images in one sub-folder per class."""

from __future__ import annotations

HELP = "every claim of the paper with a verdict from your own run (paired by seed)"
DESCRIPTION = (
    "Train what is missing (models, evaluations and curves are cached), compare the entries of each "
    "claim paired by seed, and write claims.md, claims.json (one row per claim and setting) and the "
    "budget-curve figure of claim 2."
)
EXAMPLES = [
    "cmim-lab claims --profile smoke",
    "cmim-lab claims --profile default --search --device cuda",
    "cmim-lab claims --dataset wine",
    "cmim-lab claims --dataset my_table.csv --label species --dry-run",
    "cmim-lab claims --dataset ./my_images --budget 2000 --seeds 0,1,2",
]
# only with --dataset (the paper's run has its sizes in --profile)
YOUR_DATA_FLAGS = ("label", "budget", "seeds", "methods", "n_train", "dry_run")
# the kit's choice by data kind, overridden by name (TrainConfig fields, checked by the library)
OVERRIDES = ("arch", "likelihood", "hidden_sizes", "latent_dim", "batch_size")


def add_arguments(p) -> None:
    """``--profile``, ``--search``, ``--out``, ``--device``, ``--no-progress``."""
    from ..profiles import PROFILE_NAMES
    from ..validation import BATCH, LATENT_DIM, SAMPLES, STEPS, WIDTH
    from .common import add_profile_out_flag, add_run_flags
    from .flags import bounded, bounded_list, choice, names, seeds

    METHODS = ("vae", "cvae", "mim", "cmim", "infonce", "infonce[pure]")  # studies.your_data.METHODS (a test checks)

    p.add_argument(
        "--profile",
        default="default",
        type=choice(PROFILE_NAMES, "profile"),
        help="sizes: smoke (digits, about a minute), default (20,000 Fashion-MNIST images, 3 seeds, the "
        "curve to 5,000 steps; about an hour on a 2-core CPU) or full (all images; for a GPU) "
        "(default default)",
    )
    p.add_argument(
        "--search",
        action="store_true",
        help="also tune cMIM and MIM on the same grid, choose each side's best on a validation split of "
        "the training images, and compare the two on the test split (default: off)",
    )
    add_profile_out_flag(p, "claims", "output folder")
    add_run_flags(p)
    g = p.add_argument_group("your own data (with --dataset)")
    g.add_argument(
        "--dataset",
        default=None,
        metavar="NAME_OR_PATH",
        help="ask the claims of another dataset: a registered name (cmim-lab data), a bundled table "
        "(wine, breast-cancer, iris), a .npz (x_train, y_train[, x_test, y_test]), a .csv/.parquet "
        "with --label, or a folder of images in one sub-folder per class; without a test split a "
        "stratified one is made (default none: the paper's datasets of --profile)",
    )
    g.add_argument("--label", default=None, help="the class column of a .csv/.parquet table (default none)")
    g.add_argument(
        "--budget",
        default=None,
        type=bounded(STEPS, "budget"),
        help="optimiser steps of every model, the budget curve's last point (default: the profile's "
        "for the kind of data)",
    )
    g.add_argument("--seeds", default=None, type=seeds(), help="model seeds, at least two for verdicts (default 0,1,2)")
    g.add_argument(
        "--methods",
        default=None,
        type=names(METHODS, "method"),
        help=f"any of {', '.join(METHODS)} (comma-separated; default all)",
    )
    g.add_argument(
        "--n-train",
        default=None,
        type=bounded(SAMPLES, "n_train"),
        help="a stratified subset of the training samples (default none = all)",
    )
    g.add_argument("--arch", default=None, help="override the architecture chosen by data kind (mlp, conv, ...)")
    g.add_argument(
        "--likelihood",
        default=None,
        help="override the decoder likelihood chosen by data kind (bernoulli for images in [0, 1], "
        "gaussian-fixed for real-valued features; gaussian-learned, ...)",
    )
    g.add_argument(
        "--hidden-sizes",
        default=None,
        type=bounded_list(WIDTH, "hidden_sizes"),
        help="override the hidden widths, comma-separated (default: the profile's for the kind of data)",
    )
    g.add_argument(
        "--latent-dim",
        default=None,
        type=bounded(LATENT_DIM, "latent_dim"),
        help="override the code size (default: the profile's for the kind of data)",
    )
    g.add_argument(
        "--batch-size",
        default=None,
        type=bounded(BATCH, "batch_size"),
        help="override the batch size (default: the profile's, at most half the training samples)",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (models to train, cached) and the time estimate from a short measured "
        "warm-up, then stop (default: off)",
    )


def run(args) -> int:
    """Run every claim with a verdict per setting; write claims.md, claims.json and the budget curve
    (with ``--dataset``: on that dataset, plus report.html and a recommendation)."""
    from ..registry import resolve
    from .common import command_line, wrote
    from .flags import out_default

    own = YOUR_DATA_FLAGS + OVERRIDES
    given = [f"--{name.replace('_', '-')}" for name in own if getattr(args, name) not in (None, False)]
    if args.dataset is None and given:
        raise ValueError(
            f"{', '.join(given)} only {'apply' if len(given) > 1 else 'applies'} to your own data: "
            f"add --dataset NAME_OR_PATH"
        )
    if args.dataset is not None:
        if args.search:
            raise ValueError("--search runs on the paper's datasets only; drop it with --dataset")
        return _your_data(args, resolve("cmim_lab.studies.your_data:run"), command_line(args), wrote, out_default)
    # a reference resolved at run time, as for plugin commands: a static import would put this module
    # on an import chain deeper than the layer rules allow (the claims run the sweep and the curves)
    run_claims = resolve("cmim_lab.studies.claims:run_claims")
    out = args.out or out_default(f"claims-{args.profile}")
    result = run_claims(
        args.profile,
        search=args.search,
        out_dir=out,
        device=args.device,
        progress=not args.no_progress,
        log=print,
        command=command_line(args),
    )
    print(result.markdown)
    print(wrote(result.files))
    return 0


def _your_data(args, run_your_data, command: str, wrote, out_default) -> int:
    import re
    from pathlib import Path

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(args.dataset).stem or args.dataset).strip("-") or "data"
    out = args.out or out_default(f"claims-{slug}-{args.profile}")
    result = run_your_data(
        args.dataset,
        label=args.label,
        budget=args.budget,
        seeds=tuple(args.seeds) if args.seeds else (0, 1, 2),
        methods=args.methods,
        profile=args.profile,
        dry_run=args.dry_run,
        n_train=args.n_train,
        overrides={k: _tupled(getattr(args, k)) for k in OVERRIDES if getattr(args, k) is not None},
        out_dir=None if args.dry_run else out,
        device=args.device,
        progress=not args.no_progress,
        log=print,
        command=command,
    )
    if not args.dry_run:
        print(wrote(result.files))
    return 0


def _tupled(value):
    return tuple(value) if isinstance(value, list) else value
