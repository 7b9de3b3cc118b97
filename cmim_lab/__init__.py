"""cmim_lab: cMIM, MIM, VAE and InfoNCE side by side, for teaching and analysis.

The top-level import is light (torch only); plotting, UMAP and Jupyter are imported by
the functions that need them. Main entry points::

    from cmim_lab import data, TrainConfig, load_or_train, embed, evaluate
"""
__version__ = "0.2.0"

_LAZY = {
    "TrainConfig": ("cmim_lab.config", "TrainConfig"),
    "EvalConfig": ("cmim_lab.config", "EvalConfig"),
    "train": ("cmim_lab.trainer", "train"),
    "load_or_train": ("cmim_lab.trainer", "load_or_train"),
    "load_model": ("cmim_lab.checkpoint", "load_model"),
    "embed": ("cmim_lab.embeddings", "embed"),
    "evaluate": ("cmim_lab.evaluation", "evaluate"),
    "build_model": ("cmim_lab.nets", "build_model"),
}


# submodules reachable as attributes (``cmim_lab.data.load``); ``train``, ``embed`` and
# ``evaluate`` are functions (their modules are trainer, embeddings and evaluation)
_SUBMODULES = {"errors", "paths", "runtime", "files", "progress", "tally", "registry", "sources", "data", "augment",
               "posterior", "model", "likelihoods", "nets", "objectives", "config", "flags", "profiles",
               "checkpoint", "trainer", "distributed", "embeddings", "probes", "evaluation", "study", "summary",
               "figure_style", "static_figures", "viz", "widgets", "benchmark", "sweep", "experiments", "params",
               "notebooks", "cli", "molecules",
               "cache_index", "cache_archive", "doctor"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"cmim_lab.{name}")
    raise AttributeError(f"module 'cmim_lab' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
