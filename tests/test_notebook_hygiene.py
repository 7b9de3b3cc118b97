"""Notebooks are committed clean, parameterised, and call the library rather than define models."""

import ast
import json
import re

import pytest

from cmim_lab import profiles
from cmim_lab.infra.paths import repo_path
from cmim_lab.notebook import params
from cmim_lab.notebook.runner import _select, notebook_paths

NOTEBOOKS = notebook_paths()


def test_the_sequence_exists():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) >= 7 and names[0].startswith("00_") and names[6].startswith("06_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_has_one_literal_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        "commit notebooks without outputs"
    )
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
    monkeypatch.delenv(params.FIGURES_ENV, raising=False)
    p = params.setup(profile="default", dataset="digits", n_train=1000, epochs=7, seeds=[0, 1], device="cpu")
    assert p.n_train == 1000 and p.epochs == 7 and p.figures_dir == repo_path("runs", "figures-default")
    assert "set by $" not in capsys.readouterr().out
    s = params.setup(profile="smoke", dataset="digits", n_train=1000, epochs=7, seeds=[0, 1], device="cpu")
    assert s.n_train == profiles.PROFILES["smoke"]["n_train"] and s.epochs == 1 and s.seeds == [0, 1]
    assert s.dataset == "digits" and s.profile == "smoke"
    assert s.figures_dir == repo_path("runs", "figures-smoke")  # never the committed figures/
    assert "notebook default 7" in capsys.readouterr().out


@pytest.mark.parametrize(
    "env, argument, folder",
    [
        (None, None, ("runs", "figures-default")),
        ("0", None, ("runs", "figures-default")),
        ("1", None, ("figures",)),
        ("true", None, ("figures",)),
        (None, True, ("figures",)),
        ("1", False, ("runs", "figures-default")),
    ],
)
def test_only_an_explicit_export_writes_the_committed_figures(env, argument, folder, monkeypatch, capsys):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    monkeypatch.delenv(params.FIGURES_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(params.FIGURES_ENV, env)
    p = params.setup(profile="default", figures=argument, epochs=7)
    assert p.figures_dir == repo_path(*folder) and "figures" not in p
    assert f"figures: {repo_path(*folder)}" in capsys.readouterr().out


def test_a_figures_export_is_refused_under_smoke_or_a_bad_value(monkeypatch):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    monkeypatch.setenv(params.FIGURES_ENV, "1")
    with pytest.raises(ValueError, match="needs the default or full profile"):
        params.setup(profile="smoke", verbose=False)
    monkeypatch.setenv(params.FIGURES_ENV, "please")
    with pytest.raises(ValueError, match=r"\$CMIM_LAB_FIGURES='please': use 1 to refresh figures/"):
        params.setup(profile="default", verbose=False)
    monkeypatch.delenv(params.FIGURES_ENV)
    with pytest.raises(ValueError, match="figures must be True or False, got 'yes'"):
        params.setup(profile="default", figures="yes", verbose=False)
    f = params.setup(profile="full", n_train=1000, probe_n_train=2000, verbose=False)
    assert f.n_train is None and f.probe_n_train is None  # full: every image


def test_the_environment_profile_wins_and_is_announced(monkeypatch, capsys):
    monkeypatch.setenv(params.PROFILE_ENV, "smoke")  # CI: the environment wins
    p = params.setup(profile="default", epochs=7, methods=["vae", "cmim"])
    assert p.epochs == 1 and p.profile == "smoke"
    assert p.methods == ["vae", "cmim"]  # profiles replace sizes, never the methods shown
    out = capsys.readouterr().out
    assert f"profile: smoke   (set by ${params.PROFILE_ENV})" in out and "notebook default 7" in out
    params.setup(profile="smoke", epochs=7)  # asked for by the notebook itself: nothing to announce
    assert "set by $" not in capsys.readouterr().out
    monkeypatch.setenv(params.PROFILE_ENV, "quick")
    with pytest.raises(ValueError, match="valid profiles are: smoke, default, full"):
        params.setup(profile="default")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dataset="svhn"), "valid datasets are"),
        (dict(datasets=["mnist-5k", "svhn"]), "valid datasets are"),
        (dict(methods=["vae", "bert"]), "unknown method or variant 'bert'"),
        (dict(methods=["cmim[mean]"]), "unknown method or variant 'cmim\\[mean\\]'"),
        (dict(epochs=0), "epochs must be > 0"),
        (dict(n_train=-5), "n_train must be > 0"),
        (dict(latent_dim=0), "latent_dim must be > 0"),
        (dict(probe_n_train=0), "probe_n_train must be > 0"),
        (dict(n_test=0), "n_test must be > 0"),
        (dict(n_umap=0), "n_umap must be > 0"),
        (dict(samples_seen=0), "samples_seen must be > 0"),
        (dict(seeds=[]), "seeds must be a non-empty list"),
        (dict(seeds=[0, 0]), "seeds must be distinct"),
        (dict(temperatures=[0.1, 0.0]), "each of temperatures must be > 0"),
        (dict(batch_sizes=[32, 0]), "each of batch_sizes must be > 0"),
        (dict(device="tpu"), "use auto, cpu, cuda"),
        (dict(reductions=["mean"]), "valid reductions are"),
        (dict(methods=["vae", "mim"], ablation_methods=["cmim"]), r"ablation_methods \['cmim'\] are not among methods"),
        (dict(methods=["vae"], ablation_methods=["vea"]), "unknown method or variant 'vea'"),
        (dict(ablation_probe_n_train=0), "ablation_probe_n_train must be > 0"),
    ],
)
def test_setup_rejects_bad_values_with_clear_messages(kwargs, message, monkeypatch):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    with pytest.raises(ValueError, match=message):
        params.setup(profile="default", verbose=False, **kwargs)


def test_the_ablation_within_its_methods_is_a_study_sizes_check():
    profiles.StudySizes(methods=("vae", "mim", "cmim"), ablation_methods=("mim", "cmim"))
    with pytest.raises(ValueError, match=r"ablation_methods \['cmim'\] are not among methods"):
        profiles.StudySizes(methods=("vae", "mim"), ablation_methods=("cmim",))


@pytest.mark.parametrize(
    "methods",
    [["vae", "cmim", "infonce"], ["vae", "mim"], ["cmim[sum]", "cmim[normalised]", "mim[normalised]", "infonce[pure]"]],
)
def test_setup_takes_methods_and_variants_without_an_ablation(methods, monkeypatch):
    """A notebook without an ablation (03, 05, 06) passes its methods alone."""
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    assert params.setup(profile="default", verbose=False, methods=methods).methods == methods


def test_knobs_no_dataclass_owns_pass_through(monkeypatch):
    """A notebook's own choices (03's lr_rule) are the notebook's to check."""
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    assert params.setup(profile="default", verbose=False, lr_rule="bogus").lr_rule == "bogus"


def test_unknown_profile(monkeypatch):
    monkeypatch.delenv(params.PROFILE_ENV, raising=False)
    with pytest.raises(ValueError, match="valid profiles are: smoke, default, full"):
        params.setup(profile="quick")


CHOICE_KNOBS = {"method", "methods", "dataset", "datasets", "reductions", "ablation_methods"}


@pytest.mark.parametrize("name", ["smoke", "full"])
def test_profiles_replace_sizes_only(name):
    """Profiles never change which methods, datasets or reductions a notebook shows."""
    for knobs in (profiles.PROFILES[name], profiles.profile_values(name)):
        chosen = {k for k in knobs if k in CHOICE_KNOBS | {"mol_datasets", "map_methods", "map_dataset"}}
        assert not chosen, f"profile {name} replaces {sorted(chosen)}: profiles replace sizes only"
    assert profiles.PROFILES["default"] == {} and profiles.profile_values("default") == {}


@pytest.mark.parametrize("name", profiles.PROFILE_NAMES)
def test_every_profile_value_is_owned_and_valid(name):
    """Each knob a profile sets is a field of a config dataclass, which accepts its value."""
    import dataclasses

    from cmim_lab.config import EvalConfig, TrainConfig

    owned = {f.name for cls in (TrainConfig, EvalConfig, profiles.StudySizes) for f in dataclasses.fields(cls)}
    core = profiles.PROFILES[name]
    assert set(core) <= owned, f"knobs no dataclass owns: {sorted(set(core) - owned)}"
    profiles.validate(profiles.profile_values(name))
