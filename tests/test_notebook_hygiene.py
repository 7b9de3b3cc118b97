"""Notebooks are committed clean, parameterised, and call the library rather than define models."""
import ast
import json
import re

import pytest

from cmim_lab import params
from cmim_lab.notebooks import _select, notebook_paths

NOTEBOOKS = notebook_paths()


def test_the_sequence_exists():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) >= 7 and names[0].startswith("00_") and names[6].startswith("06_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_has_one_literal_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        "commit notebooks without outputs"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(tagged[0]["source"]))
    for node in tree.body:  # papermill does not recompute derived values: literals only
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)
    names = {t.id for node in tree.body for t in node.targets}
    assert "profile" in names
    following = "".join(nb["cells"][nb["cells"].index(tagged[0]) + 1]["source"])
    assert "params.setup(" in following, "the cell after the parameters validates them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_model_code_inline(path):
    src = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    for pattern in [r"nn\.Module", r"^\s*class \w+", r"\.backward\(", r"optim\.", r"^\s*def \w+"]:
        assert not re.search(pattern, src, re.M), f"{pattern!r}: model and helper code belongs in cmim_lab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path):
    """papermill's --help-notebook parser must understand each line (it warns and skips otherwise)."""
    from papermill.translators import PythonTranslator

    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    assigned = [n.targets[0].id for n in ast.parse(source).body]
    assert [p.name for p in PythonTranslator.inspect({"source": source})] == assigned


def test_select_by_number_or_name():
    assert [p.stem for p in _select(NOTEBOOKS, ["0", "3"])] == [NOTEBOOKS[0].stem, NOTEBOOKS[3].stem]
    assert _select(NOTEBOOKS, ["latent"])[0].stem.startswith("05_")


def test_setup_applies_profiles_and_reports_changes(monkeypatch, capsys):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    p = params.setup(profile="default", dataset="digits", n_train=1000, epochs=7, seeds=[0, 1], device="cpu")
    assert p.n_train == 1000 and p.epochs == 7 and p.figures_dir is not None
    s = params.setup(profile="smoke", dataset="digits", n_train=1000, epochs=7, seeds=[0, 1], device="cpu")
    assert s.n_train == params.PROFILES["smoke"]["n_train"] and s.epochs == 1 and s.seeds == [0]
    assert s.figures_dir is None  # smoke never overwrites committed figures
    assert "notebook default 7" in capsys.readouterr().out
    monkeypatch.setenv(params.PROFILE_ENV, "smoke")  # CI: the environment wins
    assert params.setup(profile="default", epochs=7, verbose=False).epochs == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="cifar10"), "valid datasets are"),
    (dict(methods=["vae", "bert"]), "valid methods are"),
    (dict(epochs=0), "epochs must be > 0"),
    (dict(n_train=-5), "n_train must be > 0"),
    (dict(seeds=[]), "seeds must be a non-empty list"),
    (dict(temperatures=[0.1, 0.0]), "each of temperatures must be > 0"),
    (dict(device="tpu"), "use auto, cpu, cuda"),
    (dict(reductions=["mean"]), "valid reductions are"),
    (dict(methods=["vae", "mim"], ablation_methods=["cmim"]), r"ablation_methods \['cmim'\] are not among methods"),
    (dict(methods=["vae"], ablation_methods=["vea"]), "valid methods are"),
    (dict(ablation_probe_n_train=0), "ablation_probe_n_train must be > 0"),
])
def test_setup_rejects_bad_values_with_clear_messages(kwargs, message, monkeypatch):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    with pytest.raises(ValueError, match=message):
        params.setup(profile="default", verbose=False, **kwargs)


def test_unknown_profile(monkeypatch):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    with pytest.raises(ValueError, match="valid profiles are: smoke, default, full"):
        params.setup(profile="quick")


def test_every_profile_keeps_the_ablation_within_its_methods():
    for name, knobs in params.PROFILES.items():
        if "ablation_methods" in knobs:
            assert set(knobs["ablation_methods"]) <= set(knobs["methods"]), name
