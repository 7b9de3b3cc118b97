"""``cmim-lab evaluate``: probe a trained model's frozen codes and print the probe scores and
the generative metrics. The model is ``--checkpoint`` (a model.safetensors file or its folder)
or the cached model of the model flags, trained first when absent."""

from __future__ import annotations

import time

HELP = "probe a trained model (from --checkpoint or the config's cache entry)"
EXAMPLES = [
    "cmim-lab evaluate --method cmim --dataset digits --epochs 3 --probes knn-cosine,linear",
    "cmim-lab evaluate --checkpoint runs/my-model --embeddings mean",
]


def add_arguments(p) -> None:
    """Every TrainConfig and EvalConfig field, ``--device``, ``--no-progress``, ``--checkpoint``."""
    from .common import add_eval_flags, add_run_flags, add_train_flags

    add_train_flags(p)
    add_eval_flags(p)
    add_run_flags(p)
    p.add_argument(
        "--checkpoint",
        default=None,
        help="a model.safetensors file or its folder, or none = the cached model of the model flags "
        "(trained first if absent) (default none)",
    )


def run(args) -> int:
    """Probe a trained model and print scores and generative metrics."""
    from .. import data as data_module
    from ..checkpoint import load_model
    from ..evaluation import evaluate
    from ..infra.runtime import resolve_device
    from ..trainer import load_or_train
    from .common import eval_config, train_config

    if args.checkpoint:
        from pathlib import Path

        if not Path(args.checkpoint).exists():
            raise ValueError(
                f"checkpoint {args.checkpoint!r} does not exist; give a model.safetensors file or the "
                f"folder that holds one"
            )
        eval_config(args)  # every flag checked before the checkpoint is read
        model, meta = load_model(args.checkpoint, device=resolve_device(args.device))
        config = meta["config"]
    else:
        config = train_config(args)
    cfg = eval_config(args, seed=config.seed)
    ds = data_module.load(config.dataset, n_train=config.n_train, seed=config.data_seed)
    if not hasattr(ds, "y_test"):
        raise ValueError(
            f"{config.dataset} has no labelled test split to probe; see `cmim-lab --help` for the command of its domain"
        )
    if not args.checkpoint:
        model = load_or_train(config, ds, device=args.device, progress=not args.no_progress).model
    backend = cfg.backend + (f", MLP in {cfg.mlp_precision}" if cfg.mlp_precision != "float32" else "")
    print(
        f"evaluating {config.label} on {ds.describe()}: probes ({backend}) fitted on "
        f"{cfg.probe_n_train or len(ds.y_train)} training codes",
        flush=True,
    )
    start = time.perf_counter()
    ev = evaluate(model, ds, cfg, likelihood=config.likelihood, progress=lambda line: print(f"  {line}", flush=True))
    print(f"evaluated in {time.perf_counter() - start:.1f} s\n")
    print(f"{config.label} on {ds.describe()}")
    print(
        f"probes ({backend}) fitted on {ev.info['probe_n_train']} train samples, scored on "
        f"{ev.info['n_test']} test samples"
    )
    print(ev.table().to_string(float_format=lambda v: f"{v:.4f}"))
    for k, v in ev.metrics.items():
        print(f"{k:22s} {v:.4g}")
    return 0
