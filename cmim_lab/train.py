"""Command-line training entry point, single- or multi-process.

    python -m cmim_lab.train --method cmim --dataset fashion-mnist --epochs 10
    torchrun --nproc_per_node=2 -m cmim_lab.train --method infonce --batch-size 256

The trainer itself is :mod:`cmim_lab.trainer` (``cmim_lab.train(config)`` is its function);
this module only starts it, so ``python -m`` does not import the trainer twice.
"""
if __name__ == "__main__":
    from cmim_lab.distributed import main

    main()
