"""Hand trained models to a class: pack cache entries into one archive, and import it safely.

>>> digest = export_cache("models.tar.gz", profile="default")   # on the teacher's machine
>>> import_cache("models.tar.gz", sha256=digest)                 # on each student's machine

:func:`export_cache` writes ``<archive>.sha256`` beside the archive (``sha256sum``'s format,
``HEX  NAME``) and returns the digest: the teacher publishes it, and an import given it
refuses any other file -- an archive with altered weights and self-consistent checksums
inside is a different file. The manifest's checksums only find damage in transit.

The archive is a gzip-compressed tar file holding ``models/<entry>/model.safetensors``,
``models/<entry>/eval-<key>.json`` (the cached evaluations), ``models/<entry>/curve-<key>.json``
(scores along the training run, :mod:`cmim_lab.studies.curves`) and ``manifest.json``: the
archive format, the versions of the kit, torch and scikit-learn (all three are part of
every cache key), the profile, and per entry its training config and the SHA-256 and size
of each file.

:func:`import_cache` checks everything before it writes anything into the cache, and
refuses (:class:`ArchiveRefused`, naming the file and the reason) an archive with

* a path outside the cache (absolute, or with a ``..`` part), a symbolic or hard link, or
  anything else that is not a regular file;
* a pickle (``.pt``, ``.pkl`` ... or pickle/``torch.save`` bytes under any name): nothing
  is ever unpickled -- checkpoints are safetensors, evaluations JSON;
* a file the manifest does not list, or that is not a checkpoint or evaluation;
* a file whose bytes do not match the manifest's SHA-256 and size, or a checkpoint that
  fails its own header bounds and tensor checksum (:func:`cmim_lab.checkpoint.read_checkpoint`);
* another kit, torch or scikit-learn version (the notebooks would never find its models).

Files are unpacked into a private staging folder inside the cache and moved into place
only when every check passed, each under its entry's lock. An entry the cache already
holds a checkpoint for is kept as it is (nothing in the cache is overwritten or lost):
"already had" when its weights are the archive's (the checkpoints' tensor SHA-256 agree),
a *conflict* naming the archive's copy when they differ or the cache's copy is corrupt. The
staging folder of an import that was killed is removed by a later import
(:func:`remove_stale_staging`). A full disk stops it with one line
(:class:`~cmim_lab.errors.DiskFullError`), before anything is moved into the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from .. import __version__
from ..checkpoint import MODEL_FILE, read_checkpoint
from ..errors import CheckpointError, check_choice
from ..infra.digest import file_sha256
from ..infra.files import atomic_write, check_regular, disk_full_error, is_disk_full, remove_files, write_text
from ..infra.paths import cache_dir
from ..profiles import PROFILE_NAMES
from ..trainer import entry_lock, library_versions
from .index import add_usage, entry_files, format_bytes, is_evaluation_file, model_entries, used_by

FORMAT = "cmim-lab-cache/1"
MANIFEST = "manifest.json"
SUFFIXES = (".tar.gz", ".tgz")
ENTRY_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*-s[0-9]+-[0-9a-f]{12}"
FILE_PATTERN = re.compile(rf"models/({ENTRY_NAME})/({re.escape(MODEL_FILE)}|(?:eval|curve)-[0-9a-f]{{16}}\.json)")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".th")
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_FILE_BYTES = 8 * 2**30
CHUNK = 2**20
VERSIONED = ("cmim_lab", "torch", "scikit-learn")  # library_versions(): every cache key includes them
CHECKSUM_SUFFIX = ".sha256"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ArchiveRefused(ValueError):
    """An archive failed a check of :func:`import_cache`; nothing was imported."""


@dataclass
class ExportSummary:
    """What :func:`export_cache` wrote: ``models`` and ``evaluations`` packed, archive
    ``size`` in bytes, ``skipped`` entries as (name, reason), and the entries the profile's
    record names but the cache no longer holds (``missing``), the archive's ``sha256``
    (hex) and the ``checksum_file`` that holds it."""

    archive: Path
    models: int
    evaluations: int
    size: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    sha256: str = ""
    checksum_file: Path | None = None


@dataclass
class ImportSummary:
    """What :func:`import_cache` did: entries ``added``, entries ``kept`` (the cache already
    held a checkpoint with the same weights), evaluations added, the archive's ``profile``
    (whose record now lists the entries), the folder written to (``models``) and the
    ``conflicts``: (entry, message) for entries the cache holds with other weights (or a
    corrupt checkpoint), kept as they were."""

    added: list[str]
    kept: list[str]
    evaluations: int
    profile: str | None
    models: Path
    conflicts: list[tuple[str, str]] = field(default_factory=list)


# --- export -----------------------------------------------------------------------------------


def _check_archive_name(archive: Path) -> None:
    if not archive.name.endswith(SUFFIXES):
        raise ValueError(f"archive {archive} must end in {' or '.join(SUFFIXES)} (a gzip-compressed tar file)")


def checksum_path(archive) -> Path:
    """Where :func:`export_cache` writes ``archive``'s SHA-256: ``<archive>.sha256``."""
    archive = Path(archive)
    return archive.with_name(archive.name + CHECKSUM_SUFFIX)


def export_cache(archive, profile: str | None = None, *, log: Callable[[str], None] | None = print) -> str:
    """Pack the cache's finished models into ``archive`` (see :func:`pack_cache`), write its
    SHA-256 to ``<archive>.sha256`` (``sha256sum``'s format) and return the digest (hex)."""
    return pack_cache(archive, profile, log=log).sha256


def pack_cache(archive, profile: str | None = None, *, log: Callable[[str], None] | None = print) -> ExportSummary:
    """Pack the finished models of the cache and their evaluations into ``archive``, and its
    SHA-256 into ``<archive>.sha256`` (:func:`checksum_path`).

    ``profile``: only the entries the notebooks of that profile have loaded or trained with
    this cache (:func:`cmim_lab.cache.index.used_by`); None: every finished model. Unfinished,
    unreadable or corrupt checkpoints and those of another kit version are skipped (and
    listed). Every checkpoint's tensor checksum is verified while it is packed, under its
    entry's lock. ``archive`` must end in ``.tar.gz`` or ``.tgz`` and must not exist (it
    is written atomically; when its checksum file cannot be written, it is removed again).
    ``ValueError`` when there is nothing to export, :class:`~cmim_lab.errors.DiskFullError`
    when the disk is full (nothing is left behind).
    """
    archive = Path(archive)
    _check_archive_name(archive)
    if os.path.lexists(archive):
        raise FileExistsError(
            f"archive {archive} already exists; nothing was written. Delete it or choose another name"
        )
    if profile is not None:
        check_choice("profile", profile, PROFILE_NAMES)
    entries = model_entries()
    missing: list[str] = []
    if profile is not None:
        wanted = used_by(profile)
        if not wanted:
            raise ValueError(
                f"no notebook has run under profile {profile} with the cache {cache_dir()} since it "
                f"was last cleared: run `cmim-lab notebooks --profile {profile}` first (it loads what "
                f"is cached and trains the rest), or export without --profile to pack every model "
                f"in the cache"
            )
        have = {e.name for e in entries}
        missing = [n for n in wanted if n not in have]
        entries = [e for e in entries if e.name in set(wanted)]
    skipped = [(e.name, _why_not(e)) for e in entries if _why_not(e)]
    entries = [e for e in entries if not _why_not(e)]
    if not entries:
        raise ValueError(
            f"nothing to export: the cache {cache_dir()} holds no finished model of kit version "
            f"{__version__}" + (f" that profile {profile} used" if profile else "")
        )
    packed: list[dict] = []
    digest: list[str] = []

    def write(tmp: str) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for entry in entries:
                files = _pack_entry(tar, entry)
                if files is None:
                    skipped.append((entry.name, "its checkpoint fails its checksum (corrupt)"))
                else:
                    packed.append({"name": entry.name, "config": entry.config, "files": files})
            if not packed:
                raise ValueError("nothing to export: every checkpoint failed its checksum")
            manifest = {
                "format": FORMAT,
                "kit_version": __version__,
                "versions": library_versions(),
                "profile": profile,
                "entries": packed,
            }
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        digest.append(file_sha256(tmp))  # of the bytes about to be renamed into place

    atomic_write(archive, write)
    try:
        checksum_file = write_text(checksum_path(archive), f"{digest[0]}  {archive.name}\n")
    except BaseException:
        remove_files([archive])  # an archive without its checksum is not what export promises
        raise
    n_evals = sum(is_evaluation_file(name) for p in packed for name in p["files"])
    summary = ExportSummary(
        archive, len(packed), n_evals, archive.stat().st_size, skipped, missing, digest[0], checksum_file
    )
    if log:
        for line in export_report(summary, profile):
            log(line)
    return summary


def export_report(summary: ExportSummary, profile: str | None) -> list[str]:
    """The lines :func:`export_cache` prints: what was packed, skipped and missing, the
    archive's SHA-256 and the command that imports exactly this archive."""
    what = f"profile {profile}'s" if profile else "the cache's"
    lines = [
        f"wrote {summary.archive}: {what} {summary.models} models and {summary.evaluations} evaluations "
        f"({format_bytes(summary.size)})"
    ]
    lines += [f"  skipped {name}: {reason}" for name, reason in summary.skipped]
    if summary.missing:
        lines.append(
            f"  warning: {len(summary.missing)} models profile {profile} used are no longer in the cache "
            f"(notebooks will train them after an import): {', '.join(summary.missing[:5])}"
            f"{' ...' if len(summary.missing) > 5 else ''}. Run `cmim-lab notebooks --profile {profile}` "
            f"and export again to include them"
        )
    lines.append(f"sha256 {summary.sha256} (also in {summary.checksum_file.name}): publish it beside the archive")
    lines.append(
        f"import exactly this archive with: cmim-lab cache import {summary.archive.name} --sha256 {summary.sha256}"
    )
    return lines


def _why_not(entry) -> str | None:
    """Why ``entry`` cannot be exported (None when it can)."""
    if entry.problem:
        return entry.problem
    if not entry.complete:
        return "unfinished training"
    if entry.kit_version != __version__:
        return f"written by kit version {entry.kit_version}, not {__version__}"
    if not re.fullmatch(ENTRY_NAME, entry.name):
        return "not a cache entry name"
    return None


def _pack_entry(tar: tarfile.TarFile, entry) -> dict | None:
    """Add an entry's checkpoint and evaluations to ``tar`` (under its lock); return
    {file name: {sha256, size}}, or None (nothing added) when the checkpoint is corrupt."""
    with entry_lock(entry.directory):
        try:
            read_checkpoint(entry.directory / MODEL_FILE)
        except CheckpointError:
            return None
        files = {}
        for path in entry_files(entry.directory):
            blob = path.read_bytes()
            if path.name != MODEL_FILE and not _is_cached_json(blob):
                continue  # a torn evaluation or curve is recomputed where it is missing
            files[path.name] = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
            _add_bytes(tar, f"models/{entry.name}/{path.name}", blob)
    return files


def _add_bytes(tar: tarfile.TarFile, name: str, blob: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(blob), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(blob))


def _is_cached_json(blob: bytes) -> bool:
    """A cached evaluation (a JSON object with probes, metrics, info) or budget curve (format,
    steps, points)."""
    try:
        value = json.loads(blob)
    except ValueError:
        return False
    return isinstance(value, dict) and (
        {"probes", "metrics", "info"} <= set(value) or {"format", "steps", "points"} <= set(value)
    )


# --- import -----------------------------------------------------------------------------------

STAGING_PREFIX = ".import-"
STALE_STAGING_S = 6 * 3600  # a staging folder untouched this long was left by a killed import


def remove_stale_staging(root: Path, older_than: float = STALE_STAGING_S) -> list[Path]:
    """Delete the staging folders of imports that were killed (``<root>/.import-*`` not
    modified for ``older_than`` seconds; a running import's folder is younger); returns them."""
    now, removed = time.time(), []
    for folder in Path(root).glob(STAGING_PREFIX + "*"):
        if folder.is_dir() and not folder.is_symlink() and now - folder.stat().st_mtime > older_than:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def import_cache(archive, sha256: str | None = None, *, log: Callable[[str], None] | None = print) -> ImportSummary:
    """Verify ``archive`` (see the module docstring) and unpack its models into the cache.

    ``sha256``: the digest the archive's maker published (:func:`export_cache`); when given,
    the archive's bytes are hashed first and any other file is refused. Raises
    :class:`ArchiveRefused` (a ``ValueError``) naming what was wrong; then nothing was
    written into the cache. Entries the cache already holds a checkpoint for are kept as
    they are: listed as ``kept`` when their weights are the archive's, as ``conflicts``
    (with a message naming the archive's copy) when not. The archive's profile record is
    merged into the cache's, so the imported models can be exported again with ``--profile``.
    """
    archive = Path(archive)
    expected = _check_digest_argument(sha256, archive)
    if not check_regular(archive, "archive"):
        raise ValueError(f"no archive at {archive}")
    with open(archive, "rb") as fh:  # hashed and read through one handle: the file checked is the file read
        if expected is not None:
            _check_digest(fh, expected, archive)
        summary = _import(fh, archive)
    if log:
        for line in import_report(summary, archive):
            log(line)
    return summary


def _check_digest_argument(sha256: str | None, archive: Path) -> str | None:
    """``sha256`` in lower case, checked to be 64 hex digits (None stays None)."""
    if sha256 is None:
        return None
    value = str(sha256).strip().lower()
    if not SHA256_HEX.fullmatch(value):
        raise ValueError(
            f"sha256 {sha256!r} is not a SHA-256 digest: give the 64 hexadecimal digits its maker "
            f"published (the first field of {checksum_path(archive).name})"
        )
    return value


def _check_digest(fh, expected: str, archive: Path) -> None:
    """Refuse the open archive ``fh`` unless its bytes hash to ``expected``; rewinds it."""
    h = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        h.update(chunk)
    fh.seek(0)
    if h.hexdigest() != expected:
        raise _refuse(
            archive,
            f"its SHA-256 is {h.hexdigest()}, not the {expected} you gave: it is not the archive "
            f"its maker published (altered, or damaged on the way). Ask for the archive again, "
            f"and check the digest you copied",
        )


def import_report(summary: ImportSummary, archive: Path) -> list[str]:
    """The lines :func:`import_cache` prints: what was added, kept and in conflict."""
    lines = [
        f"imported {len(summary.added)} models and {summary.evaluations} evaluations from {archive} into "
        f"{summary.models}"
        + (f"; kept {len(summary.kept)} models the cache already had (the same weights)" if summary.kept else "")
    ]
    lines += [f"  conflict: {message}" for _, message in summary.conflicts]
    if summary.profile:
        lines.append(f"the notebooks of profile {summary.profile} now load these models instead of training them")
    return lines


def _import(fh, archive: Path) -> ImportSummary:
    """Check and unpack the open archive ``fh`` (named ``archive`` in messages)."""
    try:
        with tarfile.open(fileobj=fh, mode="r:gz") as tar:
            members = _check_members(tar.getmembers(), archive)
            manifest = _read_manifest(tar, members, archive)
            listed = _check_listing(manifest, members, archive)
            root = cache_dir()
            remove_stale_staging(root)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
            try:
                for name, member in members.items():
                    if name != MANIFEST:
                        _unpack(tar, member, listed[name], staging / name, archive, name)
                return _commit(manifest, staging, root / "models", listed, archive)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveRefused(
            f"refused {archive}: not a readable gzip-compressed tar file ({type(exc).__name__}: "
            f"{exc}); nothing was imported"
        ) from exc


def _refuse(archive: Path, message: str) -> ArchiveRefused:
    return ArchiveRefused(f"refused {archive}: {message}; nothing was imported")


def _check_members(members: list[tarfile.TarInfo], archive: Path) -> dict[str, tarfile.TarInfo]:
    """{normalised name: member} of the archive's files, after refusing paths outside the
    cache, links, special files, pickles and files of unknown names (directories of the
    layout are allowed and ignored)."""
    files: dict[str, tarfile.TarInfo] = {}
    for member in members:
        name = member.name
        if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or re.match(r"[A-Za-z]:", name):
            raise _refuse(archive, f"{name!r} is an absolute path (outside the cache)")
        parts = name.replace("\\", "/").split("/")
        if ".." in parts:
            raise _refuse(archive, f"{name!r} climbs out of the cache (path traversal with '..')")
        if member.issym():
            raise _refuse(
                archive,
                f"{name!r} is a symbolic link (to {member.linkname!r}); archives of models hold regular files only",
            )
        if member.islnk():
            raise _refuse(
                archive, f"{name!r} is a hard link (to {member.linkname!r}); archives of models hold regular files only"
            )
        clean = "/".join(p for p in parts if p not in ("", "."))
        if member.isdir():
            if clean == "models" or re.fullmatch(rf"models/{ENTRY_NAME}", clean) or clean == "":
                continue
            raise _refuse(archive, f"unknown folder {name!r}; an archive holds {MANIFEST} and models/<entry>/")
        if not member.isfile():
            raise _refuse(archive, f"{name!r} is not a regular file (a device, pipe or other special file)")
        if clean.lower().endswith(PICKLE_SUFFIXES):
            raise _refuse(
                archive,
                f"{name!r} is a pickle file, which can run code when loaded; the kit never "
                f"unpickles anything (checkpoints are safetensors)",
            )
        if clean != MANIFEST and not FILE_PATTERN.fullmatch(clean):
            raise _refuse(
                archive,
                f"unknown file {name!r}; an archive holds only {MANIFEST}, "
                f"models/<entry>/{MODEL_FILE} and models/<entry>/eval-<key>.json",
            )
        if clean in files:
            raise _refuse(archive, f"{clean!r} appears twice")
        files[clean] = member
    return files


def _read_manifest(tar: tarfile.TarFile, members: dict, archive: Path) -> dict:
    """The manifest, checked: format, and the kit, torch and scikit-learn versions."""
    member = members.get(MANIFEST)
    if member is None:
        raise _refuse(archive, f"it has no {MANIFEST}: not written by `cmim-lab cache export`")
    if member.size > MAX_MANIFEST_BYTES:
        raise _refuse(archive, f"its {MANIFEST} is {member.size} bytes, more than {MAX_MANIFEST_BYTES}")
    try:
        manifest = json.loads(tar.extractfile(member).read())
    except ValueError as exc:
        raise _refuse(archive, f"its {MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise _refuse(archive, f"its {MANIFEST} has format {found!r}, not {FORMAT!r}")
    if manifest.get("kit_version") != __version__:
        raise _refuse(
            archive,
            f"it was written by cmim-lab {manifest.get('kit_version')}, this is cmim-lab "
            f"{__version__}: every cache key includes the kit version, so no notebook would "
            f"find its models. Import it with cmim-lab {manifest.get('kit_version')}, or ask "
            f"for an archive made with {__version__}",
        )
    here, there = library_versions(), manifest.get("versions")
    if not isinstance(there, dict):
        raise _refuse(archive, f"its {MANIFEST} names no library versions")
    for lib in VERSIONED:
        if there.get(lib) != here[lib]:
            raise _refuse(
                archive,
                f"its models were trained with {lib} {there.get(lib)}, this machine has "
                f"{here[lib]}: every cache key includes the {lib} version, so no notebook would "
                f"find them. Install {lib}=={there.get(lib)} to import it, or train here",
            )
    profile = manifest.get("profile")
    if profile is not None and profile not in PROFILE_NAMES:
        raise _refuse(archive, f"its {MANIFEST} names profile {profile!r}, not one of {', '.join(PROFILE_NAMES)}")
    return manifest


def _check_listing(manifest: dict, members: dict, archive: Path) -> dict[str, dict]:
    """{archive path: {sha256, size, entry, config}} of every file the manifest lists;
    refuses files it does not list, files it lists that are absent, and malformed fields."""
    listed: dict[str, dict] = {}
    entries = manifest.get("entries")
    if not isinstance(entries, list) or not entries:
        raise _refuse(archive, f"its {MANIFEST} lists no entries")
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        files = entry.get("files") if isinstance(entry, dict) else None
        if (
            not isinstance(name, str)
            or not re.fullmatch(ENTRY_NAME, name)
            or not isinstance(files, dict)
            or MODEL_FILE not in files
            or not isinstance(entry.get("config"), dict)
        ):
            raise _refuse(archive, f"its {MANIFEST} has a malformed entry {str(entry)[:120]!r}")
        if any(path.startswith(f"models/{name}/") for path in listed):
            raise _refuse(archive, f"its {MANIFEST} lists entry {name!r} twice")
        for file_name, record in files.items():
            path = f"models/{name}/{file_name}"
            ok = (
                isinstance(record, dict)
                and isinstance(record.get("sha256"), str)
                and re.fullmatch(r"[0-9a-f]{64}", record["sha256"])
                and isinstance(record.get("size"), int)
                and 0 <= record["size"] <= MAX_FILE_BYTES
                and FILE_PATTERN.fullmatch(path)
            )
            if not ok:
                raise _refuse(archive, f"its {MANIFEST} has a malformed record for {path!r}")
            listed[path] = {**record, "entry": name, "config": entry["config"]}
    unknown = sorted(set(members) - set(listed) - {MANIFEST})
    if unknown:
        raise _refuse(archive, f"unknown file {unknown[0]!r}: the manifest does not list it")
    absent = sorted(set(listed) - set(members))
    if absent:
        raise _refuse(archive, f"the manifest lists {absent[0]!r} but the archive holds no such file (truncated?)")
    return listed


def _unpack(
    tar: tarfile.TarFile, member: tarfile.TarInfo, record: dict, target: Path, archive: Path, name: str
) -> None:
    """Copy one member to ``target`` (created exclusively), checking its size and SHA-256
    against the manifest, then its content (no pickle; a valid checkpoint or evaluation)."""
    mismatch = f"{name!r} does not match the manifest's SHA-256 and size (tampered with or corrupt)"
    if member.size != record["size"]:
        raise _refuse(archive, mismatch)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        with tar.extractfile(member) as src, open(target, "xb") as dst:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > record["size"]:
                    raise _refuse(archive, mismatch)
                digest.update(chunk)
                dst.write(chunk)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(target, record["size"]) from exc
        raise
    if size != record["size"] or digest.hexdigest() != record["sha256"]:
        raise _refuse(archive, mismatch)
    with open(target, "rb") as fh:
        head = fh.read(4)
    if (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head == b"PK\x03\x04":
        raise _refuse(
            archive,
            f"{name!r} holds pickle (torch.save) bytes, which can run code when loaded; the kit "
            f"never unpickles anything",
        )
    if target.name == MODEL_FILE:
        _check_checkpoint(target, record, archive, name)
    elif not _is_cached_json(target.read_bytes()):
        raise _refuse(
            archive,
            f"{name!r} is not a cached evaluation (a JSON object with probes, metrics, info) "
            f"or curve (format, steps, points)",
        )


def _check_checkpoint(path: Path, record: dict, archive: Path, name: str) -> None:
    """A finished checkpoint of this kit version whose config fits its entry's name."""
    try:
        _, meta = read_checkpoint(path)
    except CheckpointError as exc:
        raise _refuse(archive, f"{name!r} is not a valid checkpoint ({exc})") from exc
    record["weights_sha256"] = meta["sha256"]
    config = meta["config"]
    if meta["kit_version"] != __version__ or not meta["complete"]:
        raise _refuse(archive, f"{name!r} is an unfinished checkpoint or one of kit version {meta['kit_version']}")
    prefix = f"{config.get('dataset')}-{config.get('method')}-{config.get('reduction')}-s{config.get('seed')}-"
    if not record["entry"].startswith(prefix) or config != record["config"]:
        raise _refuse(archive, f"{name!r} holds a model of another config than its entry and the manifest say")


def _commit(manifest: dict, staging: Path, models: Path, listed: dict, archive: Path) -> ImportSummary:
    """Move the checked files into ``models`` (each entry under its lock); keep entries that
    already hold a checkpoint (``kept`` with the same weights, else a conflict), and
    evaluations already present."""
    added, kept, conflicts, n_evals = [], [], [], 0
    for entry in manifest["entries"]:
        name, source = entry["name"], staging / "models" / entry["name"]
        target = models / name
        with entry_lock(target):
            if os.path.lexists(target / MODEL_FILE):
                ours = listed[f"models/{name}/{MODEL_FILE}"]["weights_sha256"]
                problem = _differs(target / MODEL_FILE, ours)
                if problem is None:
                    kept.append(name)
                else:
                    conflicts.append(
                        (
                            name,
                            f"{archive}'s models/{name}/{MODEL_FILE} (weights SHA-256 {ours[:16]}...) "
                            f"was not imported: {problem}; kept the cache's copy as it was. To take "
                            f"the archive's, delete {target} and import again",
                        )
                    )
                continue
            # evaluations first, the checkpoint last: a model present means its entry is complete
            for file_name in sorted(entry["files"], key=lambda f: f == MODEL_FILE):
                if not os.path.lexists(target / file_name):
                    os.replace(source / file_name, target / file_name)
                    n_evals += is_evaluation_file(file_name)
        added.append(name)
    profile = manifest.get("profile")
    if profile:
        add_usage(profile, added + kept)
    return ImportSummary(added, kept, n_evals, profile, models, conflicts)


def _differs(path: Path, weights_sha256: str) -> str | None:
    """Why the cache's checkpoint ``path`` is not the archive's (None when its verified
    weights have the SHA-256 ``weights_sha256``)."""
    try:
        _, meta = read_checkpoint(path)
    except (CheckpointError, OSError) as exc:
        return f"the cache's copy {path} cannot be read ({exc})"
    if meta["sha256"] != weights_sha256:
        return f"the cache's copy {path} holds other weights (SHA-256 {meta['sha256'][:16]}...)"
    return None
