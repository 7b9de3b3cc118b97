"""``cmim-lab data``: list the registered datasets by domain; with ``--load NAME``, load one and
print its description (samples per split, shape, source)."""

from __future__ import annotations

HELP = "list the datasets (and load one with --load NAME)"
EXAMPLES = ["cmim-lab data", "cmim-lab data --load digits"]


def add_arguments(p) -> None:
    """``--load`` (a registered dataset or none) and ``--n-train`` (its training subset)."""
    from ..config import TrainConfig
    from .common import registry_with_datasets
    from .flags import bounded, choice, optional

    valid = list(registry_with_datasets().datasets())
    p.add_argument(
        "--load",
        default=None,
        metavar="NAME",
        type=choice(valid, "dataset"),
        help=f"load this dataset and describe it: one of {', '.join(valid)}, or none = only list them (default none)",
    )
    p.add_argument(
        "--n-train",
        type=optional(bounded(TrainConfig.BOUNDS["n_train"], "n_train")),
        default=None,
        help=f"training subset for --load: {TrainConfig.BOUNDS['n_train'].describe()}, or none = all "
        f"training samples (default none)",
    )


def run(args) -> int:
    """List the registered datasets; with --load, load one and describe it."""
    from .. import data, registry

    by_domain: dict = {}
    for spec in registry.datasets().values():
        by_domain.setdefault(spec.domain, []).append(spec)
    for domain, specs in by_domain.items():
        print(f"{domain}:")
        for spec in specs:
            print(f"  {spec.name:18s} {spec.role:14s} {spec.description}")
    if args.load:
        print("\n" + data.load(args.load, n_train=args.n_train).describe())
    return 0
