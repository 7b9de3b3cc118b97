"""cmim-lab cache: export -> clear -> import restores every file byte for byte, the imported
models are loaded (nothing trains, the numbers are the same), and every kind of malicious or
broken archive is refused with its own message while the cache stays as it was."""

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import pytest

from cmim_lab.cache import index as cache_index
from cmim_lab.cache.archive import ArchiveRefused, export_cache, import_cache, pack_cache
from cmim_lab.cli import main
from cmim_lab.config import EvalConfig, TrainConfig
from cmim_lab.notebook import params
from cmim_lab.studies.engine import EvalTask, grid, run_study

BASE = TrainConfig(dataset="digits", hidden_sizes=(32,), latent_dim=4, batch_size=64, epochs=1)
EVAL = EvalConfig(probes=["knn-cosine"], embeddings=["mean"], clustering=False)


def _study(ds, log=None):
    entries = grid(BASE, ["cmim", "vae"])
    return run_study(entries, ds, [EvalTask("digits", ds, EVAL)], progress=False, log=log)


def _sorted(rows):
    """Score rows in a fixed order (cached evaluations are stored with sorted keys)."""
    return rows.sort_values(["model", "embedding", "metric"]).reset_index(drop=True)


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every regular file under ``root`` (lock files left out)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != ".lock"
    }


@pytest.fixture(autouse=True)
def _stop_recording():
    yield
    cache_index.record_usage(None)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, digits):
    """A cache where a 'smoke' notebook trained two tiny models, and its export."""
    root = tmp_path_factory.mktemp("teacher")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMIM_LAB_CACHE", str(root / "cache"))
        params.setup(profile="smoke", verbose=False)  # what every notebook does: record the models it uses
        study = _study(digits)
        cache_index.record_usage(None)
        archive = root / "models.tar.gz"
        summary = pack_cache(archive, profile="smoke", log=None)
    return {
        "cache": root / "cache",
        "archive": archive,
        "rows": study.rows,
        "summary": summary,
        "files": snapshot(root / "cache" / "models"),
    }


def test_export_packs_the_profiles_models_with_a_manifest(teacher):
    assert teacher["summary"].models == 2 and teacher["summary"].evaluations == 2
    with tarfile.open(teacher["archive"]) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert sorted(names) == sorted(["manifest.json", *(f"models/{n}" for n in teacher["files"])])
    assert manifest["kit_version"] == __import__("cmim_lab").__version__ and manifest["profile"] == "smoke"
    assert {e["config"]["method"] for e in manifest["entries"]} == {"cmim", "vae"}
    for entry in manifest["entries"]:
        for name, record in entry["files"].items():
            assert teacher["files"][f"{entry['name']}/{name}"] == record["sha256"]


def test_round_trip_restores_byte_identical_entries_and_nothing_trains(teacher, fresh_cache, digits, monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("import must never unpickle")

    for target in ("pickle.load", "pickle.loads", "torch.load"):
        monkeypatch.setattr(target, no_unpickling)
    summary = import_cache(teacher["archive"], log=None)
    assert len(summary.added) == 2 and summary.kept == [] and summary.profile == "smoke"
    models = fresh_cache / "models"
    assert snapshot(models) == teacher["files"]
    entries = sorted(p.split("/")[0] for p in teacher["files"] if p.endswith(".safetensors"))
    assert cache_index.used_by("smoke") == entries
    lines = []
    again = _study(digits, log=lines.append)
    assert not any(r.trained_now for r in again.results)
    assert sum("loaded from cache" in line for line in lines) == 4  # 2 models + 2 evaluations
    assert _sorted(again.rows).equals(_sorted(teacher["rows"]))  # the same numbers
    assert snapshot(models) == teacher["files"]  # no new checkpoint, no file changed


def test_export_then_clear_then_import_through_the_cli(teacher, fresh_cache, tmp_path, capsys):
    assert main(["cache", "import", str(teacher["archive"])]) == 0
    assert main(["cache", "list"]) == 0
    listed = capsys.readouterr().out
    assert "2 model entries" in listed and "cmim[sum]" in listed and "smoke" in listed
    archive = tmp_path / "again.tgz"
    assert main(["cache", "export", str(archive), "--profile", "smoke"]) == 0
    assert main(["cache", "clear"]) == 1 and (fresh_cache / "models").is_dir()  # without --yes: nothing goes
    assert main(["cache", "clear", "--yes"]) == 0 and not (fresh_cache / "models").exists()
    assert main(["cache", "import", str(archive)]) == 0
    assert snapshot(fresh_cache / "models") == teacher["files"]


def test_profile_export_packs_only_what_that_profile_used(teacher, fresh_cache, tmp_path, digits):
    from cmim_lab.trainer import load_or_train

    import_cache(teacher["archive"], log=None)
    load_or_train(BASE.replace(method="mim"), digits, progress=False)  # outside any notebook: no profile
    smoke = pack_cache(tmp_path / "smoke.tar.gz", profile="smoke", log=None)
    everything = pack_cache(tmp_path / "all.tar.gz", log=None)
    assert (smoke.models, everything.models) == (2, 3)
    with pytest.raises(ValueError, match="no notebook has run under profile default"):
        export_cache(tmp_path / "default.tar.gz", profile="default", log=None)
    with pytest.raises(FileExistsError, match="already exists; nothing was written"):
        export_cache(tmp_path / "all.tar.gz", log=None)
    with pytest.raises(ValueError, match=r"must end in \.tar\.gz or \.tgz"):
        export_cache(tmp_path / "models.zip", log=None)


def test_an_entry_already_in_the_cache_is_kept(teacher, fresh_cache):
    import_cache(teacher["archive"], log=None)
    model = next((fresh_cache / "models").glob("*/model.safetensors"))
    model.write_bytes(model.read_bytes())  # same bytes, new file: the import must not touch it
    before = snapshot(fresh_cache / "models")
    summary = import_cache(teacher["archive"], log=None)
    assert summary.added == [] and len(summary.kept) == 2
    assert snapshot(fresh_cache / "models") == before


def test_an_import_removes_the_staging_folders_of_killed_imports_only(teacher, fresh_cache):
    import os
    import time

    fresh_cache.mkdir(mode=0o700)
    stale, running = fresh_cache / ".import-killed", fresh_cache / ".import-running"
    for folder in (stale, running):
        (folder / "models").mkdir(parents=True)
    old = time.time() - 7 * 3600  # past STALE_STAGING_S: left by an import killed hours ago
    os.utime(stale, (old, old))
    import_cache(teacher["archive"], log=None)
    assert not stale.exists()
    assert running.is_dir()  # young: may belong to an import still running in another process
    assert sorted(p.name for p in fresh_cache.glob(".import-*")) == [".import-running"]


# --- provenance: the archive's SHA-256, conflicts instead of "already had" ------------------------


def test_export_writes_and_returns_the_archives_sha256(teacher, tmp_path, monkeypatch):
    import shutil
    import subprocess

    archive = teacher["archive"]
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert teacher["summary"].sha256 == digest
    sidecar = archive.with_name(archive.name + ".sha256")
    assert sidecar.read_text() == f"{digest}  {archive.name}\n"  # sha256sum's format
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", sidecar.name], cwd=archive.parent, capture_output=True, text=True)
        assert check.returncode == 0 and "OK" in check.stdout
    monkeypatch.setenv("CMIM_LAB_CACHE", str(teacher["cache"]))
    lines = []
    again = export_cache(tmp_path / "again.tar.gz", log=lines.append)  # the contract: returns the hex digest
    assert again == hashlib.sha256((tmp_path / "again.tar.gz").read_bytes()).hexdigest()
    assert any(again in line and "--sha256" in line for line in lines)


def test_an_import_with_the_sha256_of_another_archive_is_refused(teacher, fresh_cache, tmp_path):
    other = _write(tmp_path / "other.tar.gz", _members(teacher["archive"]))  # same content, other bytes
    wrong = hashlib.sha256(other.read_bytes()).hexdigest()
    right = teacher["summary"].sha256
    assert wrong != right
    with pytest.raises(ArchiveRefused, match=f"its SHA-256 is {right}, not the {wrong} you gave") as refused:
        import_cache(teacher["archive"], sha256=wrong, log=None)
    assert "nothing was imported" in str(refused.value)
    assert not (fresh_cache / "models").exists()
    with pytest.raises(ValueError, match="not a SHA-256 digest"):
        import_cache(teacher["archive"], sha256="abc", log=None)
    summary = import_cache(teacher["archive"], sha256=right.upper(), log=None)  # as sha256sum prints it, any case
    assert len(summary.added) == 2 and snapshot(fresh_cache / "models") == teacher["files"]


def _forged(members):
    """The archive with one model's weights altered and every checksum recomputed to match:
    the checkpoint's own digests and the manifest's SHA-256 and size."""
    from safetensors.torch import load, save

    from cmim_lab.checkpoint import HEADER_DIGEST, header_digest, tensor_digest

    model = _model_name(members)
    blob = next(b for i, b in members if i.name == model)
    tensors = load(blob)
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] + 0.5
    meta = json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")])["__metadata__"]  # the safetensors header
    meta["sha256"] = tensor_digest(tensors)
    meta[HEADER_DIGEST] = header_digest(meta)
    evil = save(tensors, metadata=meta)
    entry, file_name = model.split("/")[1:]
    out = [(i, evil if i.name == model else b) for i, b in members]

    def vouch(manifest):
        record = next(e for e in manifest["entries"] if e["name"] == entry)["files"][file_name]
        record.update(sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))

    return _edit_manifest(out, vouch), entry


def test_an_entry_with_other_weights_is_a_conflict_never_already_had(teacher, fresh_cache, tmp_path):
    members, entry = _forged(_members(teacher["archive"]))
    forged = _write(tmp_path / "forged.tar.gz", members)
    with pytest.raises(ArchiveRefused, match="its SHA-256 is"):  # its maker's digest would have caught it
        import_cache(forged, sha256=teacher["summary"].sha256, log=None)
    assert len(import_cache(forged, log=None).added) == 2  # self-consistent inside: imports without --sha256
    before = snapshot(fresh_cache / "models")
    lines = []
    summary = import_cache(teacher["archive"], log=lines.append)  # the genuine archive afterwards
    assert [name for name, _ in summary.conflicts] == [entry] and entry not in summary.kept
    assert len(summary.kept) == 1 and summary.added == []
    message = summary.conflicts[0][1]
    assert f"{teacher['archive']}'s models/{entry}/model.safetensors" in message and "other weights" in message
    assert any(line.startswith("  conflict:") for line in lines)
    assert snapshot(fresh_cache / "models") == before  # the cache's copy kept as it was


# --- refused archives: each with its own message, the cache unchanged ---------------------------


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]


def _write(path: Path, members) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, blob in members:
            info = tarfile.TarInfo(info.name) if isinstance(info, str) else info
            if blob is not None:
                info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob) if blob is not None else None)
    return path


def _edit_manifest(members, edit):
    out = []
    for info, blob in members:
        if info.name == "manifest.json":
            manifest = json.loads(blob)
            edit(manifest)
            blob = json.dumps(manifest).encode()
        out.append((info, blob))
    return out


def _model_name(members) -> str:
    return next(info.name for info, _ in members if info.name.endswith("model.safetensors"))


def _link(name: str, target: str, kind) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _pickle_as_model(members):
    """A pickle under the checkpoint's name, with a manifest that vouches for it."""
    evil = pickle.dumps({"weights": [1, 2, 3]})
    model = _model_name(members)
    entry, file_name = model.split("/")[1:]
    out = [(i, evil if i.name == model else b) for i, b in members]

    def vouch(manifest):
        record = next(e for e in manifest["entries"] if e["name"] == entry)["files"][file_name]
        record.update(sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))

    return _edit_manifest(out, vouch)


def _tampered(members):
    model = _model_name(members)
    return [(i, (b[:-1] + bytes([b[-1] ^ 1])) if i.name == model else b) for i, b in members]


def _unlisted_evaluation(members):
    entry = _model_name(members).split("/")[1]
    blob = json.dumps({"probes": {}, "metrics": {}, "info": {}}).encode()
    return members + [(tarfile.TarInfo(f"models/{entry}/eval-{'0' * 16}.json"), blob)]


def _versions(**changes):
    return lambda members: _edit_manifest(
        members, lambda m: m.update(changes) if "kit_version" in changes else m["versions"].update(changes)
    )


MALICIOUS = {
    "path traversal": (lambda ms: ms + [(tarfile.TarInfo("../escaped.json"), b"{}")], "climbs out of the cache"),
    "nested traversal": (lambda ms: ms + [(tarfile.TarInfo("models/../../x"), b"x")], "climbs out of the cache"),
    "absolute path": (lambda ms: ms + [(tarfile.TarInfo("/tmp/cmim_lab_owned.json"), b"{}")], "is an absolute path"),
    "symlink": (
        lambda ms: ms + [(_link("models/x-s0-0123456789ab/model.safetensors", "/etc/passwd", tarfile.SYMTYPE), None)],
        "is a symbolic link",
    ),
    "hardlink": (
        lambda ms: ms + [(_link("models/x-s0-0123456789ab/model.safetensors", "/etc/passwd", tarfile.LNKTYPE), None)],
        "is a hard link",
    ),
    "pt file": (
        lambda ms: (
            ms + [(tarfile.TarInfo(_model_name(ms).replace("model.safetensors", "optimizer.pt")), pickle.dumps({}))]
        ),
        "is a pickle file",
    ),
    "pickle disguised as a checkpoint": (_pickle_as_model, r"holds pickle \(torch.save\) bytes"),
    "tampered checksum": (_tampered, "does not match the manifest's SHA-256"),
    "other kit version": (_versions(kit_version="0.1.0"), "written by cmim-lab 0.1.0"),
    "other torch version": (_versions(torch="1.0.0"), "trained with torch 1.0.0"),
    "unknown file": (lambda ms: ms + [(tarfile.TarInfo("README.txt"), b"hello")], "unknown file 'README.txt'"),
    "file the manifest does not list": (_unlisted_evaluation, "the manifest does not list it"),
    "no manifest": (lambda ms: [(i, b) for i, b in ms if i.name != "manifest.json"], "has no manifest.json"),
}


@pytest.mark.parametrize("case", MALICIOUS)
def test_malicious_archives_are_refused(case, teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("CMIM_LAB_CACHE", str(teacher["cache"]))  # a cache that holds models
    edit, message = MALICIOUS[case]
    archive = _write(tmp_path / "evil.tar.gz", edit(_members(teacher["archive"])))
    before = snapshot(teacher["cache"])
    with pytest.raises(ArchiveRefused, match=message) as refused:
        import_cache(archive, log=None)
    assert "nothing was imported" in str(refused.value)
    assert snapshot(teacher["cache"]) == before  # nothing lost, nothing added
    assert not list(teacher["cache"].glob(".import-*"))  # staging folder removed
    assert not (tmp_path / "escaped.json").exists() and not Path("/tmp/cmim_lab_owned.json").exists()


def test_a_file_that_is_no_archive_is_refused_in_one_line(tmp_path, fresh_cache, capsys):
    junk = tmp_path / "models.tar.gz"
    junk.write_bytes(b"not a tar file at all")
    assert main(["cache", "import", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "not a readable gzip-compressed tar file" in err and err.count("\n") == 1


# --- the notebooks load what was imported ---------------------------------------------------------


def _outputs(notebook: Path) -> tuple[str, list[str]]:
    """(every printed line, the text of every table a cell returned) of an executed notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    printed = "".join("".join(o["text"]) for o in outputs if o["output_type"] == "stream")
    tables = ["".join(o["data"]["text/plain"]) for o in outputs if o["output_type"] == "execute_result"]
    return printed, tables


@pytest.mark.slow
def test_after_an_import_a_smoke_notebook_trains_nothing_and_shows_the_same_numbers(tmp_path, monkeypatch):
    from cmim_lab.notebook.runner import run_notebooks

    notebook = "02_mim_to_cmim.ipynb"  # no UMAP: the quickest notebook that trains several models
    monkeypatch.setenv("CMIM_LAB_CACHE", str(tmp_path / "teacher"))
    assert run_notebooks(profile="smoke", only=["02"], out_dir=tmp_path / "run1", figures=False) == 0
    export_cache(tmp_path / "models.tar.gz", profile="smoke", log=None)
    monkeypatch.setenv("CMIM_LAB_CACHE", str(tmp_path / "student"))
    import_cache(tmp_path / "models.tar.gz", log=None)
    models = tmp_path / "student" / "models"
    before = snapshot(models)
    assert run_notebooks(profile="smoke", only=["02"], out_dir=tmp_path / "run2", figures=False) == 0
    assert snapshot(models) == before  # no new checkpoint or evaluation, no file changed
    (log1, tables1), (log2, tables2) = _outputs(tmp_path / "run1" / notebook), _outputs(tmp_path / "run2" / notebook)
    assert "trained in" in log1 and "trained in" not in log2 and "loaded from cache" in log2
    assert tables1 and tables2 == tables1  # the same numbers
