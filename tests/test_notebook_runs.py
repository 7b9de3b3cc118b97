"""``cmim-lab notebooks`` / ``make run`` output, the kit's home, on two tiny notebooks.

What a user reads: one line per notebook (name, time, ok/FAILED, models trained and loaded,
where the executed copy went), no kernel-transport warning, and a last line with the totals.
"""

import re

import nbformat
import pytest

from cmim_lab.infra import paths
from cmim_lab.notebook.runner import notebook_paths, run_notebooks, runs_this_python

TRAIN = (
    "from cmim_lab import TrainConfig, load_or_train\n"
    "config = TrainConfig(method='cmim', dataset='digits', hidden_sizes=(16,), latent_dim=2, epochs=1, "
    "batch_size=256)\n"
    "load_or_train(config, device='cpu', progress=False, log=print)"
)


def _notebook(path, *code):
    cells = [nbformat.v4.new_code_cell('profile = "default"\ndevice = "auto"', metadata={"tags": ["parameters"]})]
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    nb = nbformat.v4.new_notebook(cells=cells + [nbformat.v4.new_code_cell(c) for c in code], metadata=meta)
    nbformat.write(nb, path)


@pytest.fixture
def home(tmp_path, monkeypatch, fresh_cache):
    """A kit home with two notebooks: the first trains a model, then loads it again; the second fails."""
    (tmp_path / "notebooks").mkdir()
    _notebook(tmp_path / "notebooks" / "00_first.ipynb", TRAIN, TRAIN)
    _notebook(tmp_path / "notebooks" / "01_broken.ipynb", "1 / 0")
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_one_line_per_notebook_no_kernel_warning_and_the_totals(home, capfd):
    assert run_notebooks(profile="smoke", device="cpu", figures=False) == 1  # one notebook failed
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err and "eavesdropping" not in out + err
    lines = out.strip().splitlines()
    assert lines[0].startswith("running 2 notebooks: profile smoke, kernel ")
    first, broken = lines[1], lines[2]
    assert re.match(
        r"  00_first +\d+\.\d s  ok +1 trained, +1 loaded  -> runs/notebooks-smoke/00_first\.ipynb$", first
    ), first
    assert re.match(
        r"  01_broken +\d+\.\d s  FAILED +0 trained, +0 loaded  -> runs/notebooks-smoke/01_broken\.ipynb"
        r"  \(ZeroDivisionError: division by zero\)$",
        broken,
    ), broken
    assert re.match(
        r"done: 2 notebooks in \d+\.\d min, 1 ok, 1 FAILED; models: 1 trained, 1 loaded from the cache$", lines[3]
    ), lines[3]
    assert len(lines) == 4
    executed = nbformat.read(home / "runs" / "notebooks-smoke" / "00_first.ipynb", as_version=4)  # where it says
    printed = "".join(o.get("text", "") for cell in executed.cells for o in cell.get("outputs", []))
    assert (
        "cmim[sum] seed 0: trained in" in printed
        and "cmim[sum] seed 0: loaded from cache (digits-cmim-sum-s0-" in printed
    )
    assert (home / "runs" / "notebooks-smoke" / "01_broken.ipynb").exists()


def test_the_home_follows_the_environment_then_the_checkout_then_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    assert paths.home_path("runs") == tmp_path / "home" / "runs"
    monkeypatch.delenv(paths.HOME_ENV)
    assert paths.home_dir() == paths.checkout_dir() == paths.REPO_DIR  # this test runs from a checkout
    monkeypatch.setattr(paths, "REPO_DIR", tmp_path / "site-packages")  # a plain pip install: no checkout
    monkeypatch.chdir(tmp_path)
    assert paths.checkout_dir() is None and paths.home_dir() == tmp_path.resolve()
    assert "current directory" in paths.home_description()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where Jupyter starts a notebook's kernel
    assert paths.home_dir() == tmp_path.resolve()


def test_no_notebooks_says_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    with pytest.raises(ValueError, match=r"no notebooks .* in .*notebooks.*git clone.*CMIM_LAB_HOME"):
        notebook_paths()


def test_a_kernel_runs_this_python_only_when_it_names_it(tmp_path):
    import sys

    assert runs_this_python(sys.executable) and runs_this_python("python") and runs_this_python("python3")
    assert not runs_this_python(str(tmp_path / "other-env" / "bin" / "python")) and not runs_this_python(None)
