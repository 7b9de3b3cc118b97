"""pyproject.toml, environment.yml, Makefile and CI stay consistent with each other."""

import re

import tomllib
import yaml

from cmim_lab.infra.paths import repo_path

CONDA_NAMES = {"torch": "pytorch", "kaleido": "python-kaleido"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject():
    return tomllib.loads(repo_path("pyproject.toml").read_text())


def test_environment_yml_lists_every_pyproject_dependency_with_the_same_range():
    project = _pyproject()["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    wanted = {CONDA_NAMES.get(n, n): spec for n, spec in map(_split, reqs)}
    env = yaml.safe_load(repo_path("environment.yml").read_text())
    have = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item in ("pip",) or item.startswith("python>="):
                continue
            name, spec = _split(item)
            have[name] = spec
    assert have == wanted


def test_torch_is_a_range_not_a_pin():
    deps = dict(map(_split, _pyproject()["project"]["dependencies"]))
    for name in ("torch", "torchvision"):
        assert ">=" in deps[name] and "==" not in deps[name]


def test_console_script_and_make_targets():
    assert _pyproject()["project"]["scripts"]["cmim-lab"] == "cmim_lab.cli:main"
    makefile = repo_path("Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = repo_path(".ci", "run").read_text()
    assert "make test" in ci and "dataset-fashion-mnist" in ci and "chromium" in ci


def test_conda_environment_uses_conda_forge_only():
    env = yaml.safe_load(repo_path("environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]  # the `pytorch` channel is deprecated


def test_license_and_citation_match_the_project():
    project = _pyproject()["project"]
    license_text = repo_path("LICENSE").read_text()
    assert project["license"]["text"] == "MIT" and license_text.startswith("MIT License")
    cff = yaml.safe_load(repo_path("CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == project["version"] and cff["license"] == "MIT"
    assert "2509.21511" in cff["preferred-citation"]["url"]  # the cMIM paper the kit implements


def test_make_figures_is_the_explicit_export():
    """Only `make figures` refreshes the committed figures/ (#17); `make run` writes under runs/."""
    makefile = repo_path("Makefile").read_text()
    recipe = re.search(r"^figures:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe and "cmim-lab notebooks" in recipe.group(1) and "--figures" in recipe.group(1)
    run = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "--figures" not in run
