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


# The layout (docs/design.md): the readable core at the top (errors, registry, posterior, model,
# likelihoods, nets, objectives, augment, config, profiles, trainer, checkpoint, distributed,
# embeddings, evaluation), then one folder per concern: infra/, data/, probes/, cache/,
# notebook/, studies/, cli/ and the molecules/ plugin. Every module is reachable as an
# attribute (``cmim_lab.viz``); the 0.2 flat names map to where the module now lives, so
# ``from cmim_lab import viz, study`` keeps working.
MOVED = {
    "paths": "infra.paths",
    "runtime": "infra.runtime",
    "files": "infra.files",
    "progress": "infra.progress",
    "tally": "infra.tally",
    "sources": "data.sources",
    "medmnist_source": "data.medmnist",
    "flags": "cli.flags",
    "doctor": "cli.doctor",
    "cache_index": "cache.index",
    "cache_archive": "cache.archive",
    "study": "studies.engine",
    "curves": "studies.curves",
    "summary": "studies.summary",
    "claims": "studies.verdicts",
    "readme_results": "studies.readme_results",
    "claims_study": "studies.claims",
    "claims_search": "studies.search",
    "benchmark": "studies.benchmark",
    "sweep": "studies.sweep",
    "experiments": "studies.experiments",
    "figure_style": "notebook.figure_style",
    "static_figures": "notebook.static_figures",
    "viz": "notebook.viz",
    "widgets": "notebook.widgets",
    "params": "notebook.params",
    "notebooks": "notebook.runner",
    "notebook_kernel": "notebook.kernel",
}
# the modules and folders at the top of the package (tests/test_layers.py checks this list
# against the files)
SUBMODULES = {
    "errors",
    "validation",
    "registry",
    "methods",
    "augment",
    "posterior",
    "model",
    "likelihoods",
    "nets",
    "objectives",
    "config",
    "profiles",
    "checkpoint",
    "trainer",
    "distributed",
    "embeddings",
    "evaluation",
    "infra",
    "data",
    "probes",
    "cache",
    "notebook",
    "studies",
    "cli",
    "molecules",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in SUBMODULES or name in MOVED:
        import importlib

        return importlib.import_module(f"cmim_lab.{MOVED.get(name, name)}")
    raise AttributeError(f"module 'cmim_lab' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
