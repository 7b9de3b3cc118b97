"""Every public function and class of the library says what it does (shapes and units where
they apply): the notebooks teach from these docstrings."""

import importlib
import inspect
import pkgutil

import pytest

import cmim_lab

MODULES = sorted(m.name for m in pkgutil.walk_packages(cmim_lab.__path__, "cmim_lab."))


@pytest.mark.parametrize("name", MODULES)
def test_public_api_is_documented(name):
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip(), f"{name} has no module docstring"
    missing = []
    for attr, obj in vars(module).items():
        if attr.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            if not (obj.__doc__ or "").strip():
                missing.append(attr)
    assert not missing, f"{name}: no docstring for {missing}"


def test_core_docstrings_state_shapes_and_units():
    from cmim_lab import embeddings, evaluation, objectives

    for fn in [
        objectives.contrastive_term,
        objectives.nt_xent,
        objectives.recon_nll,
        objectives.gaussian_log_prob,
        objectives.kl_to_standard_normal,
        embeddings.embed,
        evaluation.generative_metrics,
    ]:
        doc = fn.__doc__
        assert "[" in doc and ("nats" in doc or "float32" in doc or "module docstring" in doc), fn.__name__
