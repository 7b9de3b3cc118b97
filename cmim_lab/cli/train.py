"""``cmim-lab train``: train one model, or load it from the cache when a model of the same
config is there, and print its per-epoch history. ``--checkpoint-dir`` trains into a folder
instead of the cache; started by ``torchrun`` it trains with DistributedDataParallel over the
processes (:mod:`cmim_lab.distributed`)."""

from __future__ import annotations

HELP = "train one model (cached by config unless --checkpoint-dir); works under torchrun"
EXAMPLES = [
    "cmim-lab train --method cmim --dataset digits --epochs 3",
    "cmim-lab train --method 'cmim[normalised]' --dataset fashion-mnist --epochs 20 --device cuda",
    "torchrun --nproc_per_node=2 -m cmim_lab.cli train --method infonce --batch-size 256   # DDP",
]


def add_arguments(p) -> None:
    """Every TrainConfig field, ``--device``, ``--no-progress``, ``--retrain``, ``--checkpoint-dir``."""
    from .common import add_run_flags, add_train_flags

    add_train_flags(p)
    add_run_flags(p)
    p.add_argument("--retrain", action="store_true", help="ignore a cached model of the same config (default: load it)")
    p.add_argument(
        "--checkpoint-dir",
        default=None,
        help="train into this folder, or none = into the cache, keyed by the config (default none)",
    )


def run(args) -> int:
    """Train one model (or load it from the cache) and print its per-epoch history."""
    from ..distributed import train_distributed, world_size
    from ..trainer import load_or_train, train
    from .common import train_config

    config = train_config(args)
    if world_size() > 1:  # started by torchrun
        return train_distributed(
            config, checkpoint_dir=args.checkpoint_dir, progress=not args.no_progress, report=report
        )
    if args.checkpoint_dir:
        from .. import data

        ds = data.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
        result = train(
            config, ds, device=args.device, checkpoint_dir=args.checkpoint_dir, progress=not args.no_progress
        )
    else:
        result = load_or_train(config, device=args.device, retrain=args.retrain, progress=not args.no_progress)
    report(result)
    return 0


def report(result) -> None:
    """Print a training result: the history table, what was trained (or loaded) and where."""
    config = result.config
    print(result.history.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"\n{'trained' if result.trained_now else 'loaded from cache'}: {config.label} on "
        f"{result.data_info.get('name', config.dataset)} ({result.data_info.get('n_train')} train samples, "
        f"source: {result.data_info.get('source')}), reduction={config.reduction}"
    )
    print(f"checkpoint: {result.directory}")
