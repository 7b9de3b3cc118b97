"""Profiles change sizes only, in every notebook; a profile set by the environment is announced.

Each notebook's ``parameters`` cell and its ``params.setup(...)`` call are read from the
notebook itself, and the setup is resolved under ``default`` and under ``smoke``: the two
must have the same parameters, and only sizes (numbers, none, lists of numbers) may differ --
never a method, dataset, reduction or any other name.
"""

import ast
import json
from pathlib import Path

import pytest

from cmim_lab import profiles
from cmim_lab.notebook import params

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _setup_arguments(path: Path) -> dict:
    """The keyword arguments a notebook passes to ``params.setup`` (its parameters' values)."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    literals = {}
    for node in ast.parse("".join(cells[0]["source"])).body:  # the parameters cell: plain literals
        if isinstance(node, ast.Assign):
            literals[node.targets[0].id] = ast.literal_eval(node.value)
    for cell in cells[1:]:
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setup":
                return {k.arg: literals[k.value.id] for k in node.keywords if k.arg != "profile"}
    raise AssertionError(f"{path.name} never calls params.setup")


def _names(value) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(isinstance(v, str) for v in values)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_changes_only_sizes(path, monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    given = _setup_arguments(path)
    default = params.setup("default", verbose=False, **given)
    smoke = params.setup("smoke", verbose=False, **given)
    assert set(default) == set(smoke), "a profile must not add or drop parameters"
    changed = sorted(k for k in default if not k.startswith("_") and k != "profile" and default[k] != smoke[k])
    assert changed, f"smoke should shrink something in {path.name}"
    for key in changed:
        assert profiles.is_size(default[key]) and profiles.is_size(smoke[key]), (key, default[key], smoke[key])
    unchanged_names = {k: default[k] for k in default if k != "profile" and _names(default[k])}
    assert {k: smoke[k] for k in unchanged_names} == unchanged_names  # methods, datasets, reductions...


def test_notebook_05_explores_the_same_methods_under_every_profile(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    given = _setup_arguments(next(p for p in NOTEBOOKS if p.stem.startswith("05")))
    shown = {name: params.setup(name, verbose=False, **given).methods for name in profiles.PROFILE_NAMES}
    assert shown["smoke"] == shown["default"] == shown["full"] == given["methods"]
    assert params.setup("smoke", verbose=False, **given).n_explore < given["n_explore"]  # but fewer images


def test_a_profile_that_sets_names_is_refused(monkeypatch):
    monkeypatch.setitem(profiles.PROFILES, "smoke", {**profiles.PROFILES["smoke"], "methods": ["vae"]})
    with pytest.raises(ValueError, match=r"profile 'smoke' sets \['methods'\].*sizes only"):
        profiles.profile_values("smoke")
    assert profiles.is_size([1, 2.5, None]) and not profiles.is_size(["vae"]) and not profiles.is_size(True)


def test_an_environment_override_is_announced(monkeypatch, capsys):
    monkeypatch.setenv(profiles.PROFILE_ENV, "smoke")
    P = params.setup("default", dataset="digits", n_train=1000, epochs=5)
    out = capsys.readouterr().out
    assert P.profile == "smoke" and P.n_train == 600 and P.epochs == 1
    assert "profile: smoke   (set by $CMIM_LAB_PROFILE), which overrides the notebook's profile = 'default'" in out
    assert "notebook default 1000" in out  # and every replaced size says what the notebook asked for


def test_no_announcement_without_an_override(monkeypatch, capsys):
    monkeypatch.setenv(profiles.PROFILE_ENV, "smoke")
    params.setup("smoke", dataset="digits", n_train=1000)
    monkeypatch.delenv(profiles.PROFILE_ENV)
    params.setup("default", dataset="digits", n_train=1000)
    assert "overrides" not in capsys.readouterr().out
