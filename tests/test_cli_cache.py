"""``cmim-lab cache``: the wiring of export's SHA-256, ``import --sha256`` and ``verify`` to the
library (:mod:`cmim_lab.cache.archive`, :mod:`cmim_lab.cache.verify`), with the library
replaced by recording fakes: what the CLI passes, prints and returns."""

import sys
import types

import pytest

from cmim_lab.cache import archive
from cmim_lab.cli import main

HEX = "0123456789abcdef" * 4


@pytest.fixture
def calls(monkeypatch):
    """The calls to export_cache / import_cache, as (name, args, kwargs); export returns HEX."""
    seen = []

    def export_cache(*args, **kwargs):
        seen.append(("export", args, kwargs))
        return HEX

    def import_cache(*args, **kwargs):
        seen.append(("import", args, kwargs))

    monkeypatch.setattr(archive, "export_cache", export_cache)
    monkeypatch.setattr(archive, "import_cache", import_cache)
    return seen


def test_export_prints_the_sha256_and_writes_it_beside_the_archive(tmp_path, monkeypatch, capsys):
    """End to end, no fakes: a one-model cache exported; the printed digest is the archive's."""
    import hashlib

    import cmim_lab
    from cmim_lab import TrainConfig

    monkeypatch.setenv("CMIM_LAB_CACHE", str(tmp_path / "cache"))
    cmim_lab.load_or_train(
        TrainConfig(dataset="digits", n_train=100, hidden_sizes=(8,), latent_dim=2, epochs=1, batch_size=50),
        device="cpu",
        progress=False,
    )
    target = tmp_path / "models.tar.gz"
    assert main(["cache", "export", str(target)]) == 0
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    out = capsys.readouterr().out
    assert f"sha256 {digest}" in out and f"--sha256 {digest}" in out
    assert (tmp_path / "models.tar.gz.sha256").read_text() == f"{digest}  models.tar.gz\n"
    other = "0" * 64
    assert main(["cache", "import", str(target), "--sha256", other]) == 2
    err = capsys.readouterr().err
    assert other in err and digest in err and len(err.strip().splitlines()) == 1


def test_import_passes_the_sha256_in_lower_case(calls, tmp_path):
    target = str(tmp_path / "models.tar.gz")
    assert main(["cache", "import", target, "--sha256", HEX.upper()]) == 0
    assert calls == [("import", (target,), {"sha256": HEX})]
    assert main(["cache", "import", target]) == 0  # not given: not checked
    assert calls[1][2]["sha256"] is None


@pytest.mark.parametrize("value", [HEX[:-1], HEX + "0", "g" * 64, HEX[:32] + " " + HEX[33:], "-" + HEX[1:], ""])
def test_a_bad_sha256_is_refused_before_the_archive_is_touched(value, calls, tmp_path, capsys):
    assert main(["cache", "import", str(tmp_path / "models.tar.gz"), "--sha256", value]) == 2
    err = capsys.readouterr().err
    assert "argument --sha256" in err and repr(value) in err and "64 hexadecimal digits" in err
    assert "Traceback" not in err and calls == []


def _fake_verify(monkeypatch, lines):
    module = types.ModuleType("cmim_lab.cache.verify")
    module.verify_cache = lambda root=None: list(lines)
    monkeypatch.setitem(sys.modules, "cmim_lab.cache.verify", module)


def test_verify_reports_every_changed_entry_and_exits_1(monkeypatch, capsys):
    changed = [
        "models/abc: model.safetensors tensors differ from the recorded digest",
        "models/def: eval-123.json names a checkpoint digest the checkpoint does not have",
    ]
    _fake_verify(monkeypatch, changed)
    assert main(["cache", "verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == changed and out[2] == "2 entries changed since written"


def test_verify_of_an_untouched_cache_exits_0(monkeypatch, capsys):
    _fake_verify(monkeypatch, [])
    assert main(["cache", "verify"]) == 0
    assert capsys.readouterr().out == "every entry matches what was written\n"


def test_every_cache_action_has_a_one_line_description(capsys):
    actions = ("export", "import", "list", "size", "clear", "verify")
    with pytest.raises(SystemExit):
        main(["cache", "--help"])
    listing = capsys.readouterr().out
    for action in actions:
        assert f"    {action} " in listing, action
        with pytest.raises(SystemExit):
            main(["cache", action, "--help"])
        help_text = capsys.readouterr().out
        description = help_text.split("\n\n")[1]  # the paragraph after the usage line
        assert description.endswith(".") and "\n" not in description.strip(), (action, description)
