"""MedMNIST 2-D datasets, read from the ``medmnist`` package's own ``.npz`` files.

File format (MedMNIST v2 and v3, one file per dataset and size): ``<flag>.npz`` at 28 px,
``<flag>_<size>.npz`` at 64, 128 or 224 px, holding ``train_images``, ``train_labels``,
``val_images``, ``val_labels``, ``test_images``, ``test_labels``; images uint8
[N, S, S] (grey) or [N, S, S, 3] (colour), labels integers [N, 1] ([N, L] for multi-label
tasks). The kit reads the arrays with ``numpy.load(allow_pickle=False)``: nothing is
unpickled.

Where the file comes from, in order:

1. ``path=``: that file;
2. ``<root>/<file>`` (``root=``, default: the package's default folder ``~/.medmnist``);
3. with the ``medmnist`` package installed (``pip install 'cmim-lab[medmnist]'``) and
   online: downloaded into ``root`` from the package's own URL with its MD5 checksum
   (``medmnist.INFO``, through torchvision's ``download_url``, as the package does).

Without the package the local file is all that is needed; errors then name the package,
the file and the URL of the MedMNIST v3 record. With the package, ``INFO`` also supplies the
class names and the task type.

Task types: ``multi-class`` and ``binary-class`` are classification; ``ordinal-regression``
(``retinamnist``: 5 grades) is probed as 5-class classification (accuracy, MedMNIST's own
ACC metric); multi-label tasks (``chestmnist``: 14 findings per image) are refused with a
``ValueError``, as the probes predict one class per image. 3-D volumes are not supported.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import DataUnavailableError
from .sources import RawData

FLAGS = (
    "pathmnist",
    "chestmnist",
    "dermamnist",
    "octmnist",
    "pneumoniamnist",
    "retinamnist",
    "breastmnist",
    "bloodmnist",
    "tissuemnist",
    "organamnist",
    "organcmnist",
    "organsmnist",
)
SIZES = (28, 64, 128, 224)
SUPPORTED_TASKS = ("multi-class", "binary-class", "ordinal-regression")
KNOWN_MULTI_LABEL = ("chestmnist",)  # refused before any download, with or without the package
# the MedMNIST v3 record (medmnist 3.0's INFO points there); only named in messages when the package is absent
RECORD_URL = "https://zenodo.org/records/10519652/files/{file}?download=1"
SPLITS = ("train", "val", "test")
PACKAGE_HINT = "pip install medmnist (or the kit's extra: pip install 'cmim-lab[medmnist]')"


def file_name(flag: str, size: int = 28) -> str:
    """The package's file name: ``pathmnist.npz`` at 28 px, ``pathmnist_64.npz`` otherwise."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def package_info(flag: str) -> dict | None:
    """``medmnist.INFO[flag]`` when the package is installed, else None (the package is
    found without importing it first; only its ``info`` module is imported)."""
    if importlib.util.find_spec("medmnist") is None:
        return None
    return importlib.import_module("medmnist.info").INFO.get(flag)


def default_root() -> Path:
    """The package's default folder (``medmnist.info.DEFAULT_ROOT``), else ``~/.medmnist``."""
    if importlib.util.find_spec("medmnist") is not None:
        root = getattr(importlib.import_module("medmnist.info"), "DEFAULT_ROOT", None)
        if root:
            return Path(root)
    return Path.home() / ".medmnist"


def check_request(flag: str, size: int) -> None:
    """``ValueError`` for an unknown flag or size, or a multi-label flag (before any I/O)."""
    if flag not in FLAGS:
        raise ValueError(
            f"unknown MedMNIST dataset {flag!r}; the 2-D datasets are: {', '.join(FLAGS)} "
            f"(3-D volumes are not supported)"
        )
    if isinstance(size, bool) or size not in SIZES:
        raise ValueError(f"MedMNIST size must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    if flag in KNOWN_MULTI_LABEL:
        raise ValueError(_multi_label_message(flag, "multi-label, binary-class"))


def _multi_label_message(flag: str, task: str) -> str:
    return (
        f"{flag} is a {task} task (several labels per image); the kit's probes predict one class per image, "
        f"so it is refused. Supported task types: {', '.join(SUPPORTED_TASKS)}"
    )


def read(flag: str, size: int = 28, *, root=None, path=None, download: bool = True) -> RawData:
    """The three splits of MedMNIST ``flag`` at ``size`` px as :class:`RawData` (uint8
    [N, C, S, S], int64 labels; ``x_val``/``y_val`` hold the validation split).

    Raises ``ValueError`` for an unknown flag or size, a multi-label task, or a file whose
    keys, shapes or dtypes are not MedMNIST's (naming the file and what was expected);
    :class:`DataUnavailableError` when the file is missing and cannot be downloaded (naming
    the package, the file and the URL)."""
    check_request(flag, size)
    info = package_info(flag)
    if info is not None and info.get("task") not in SUPPORTED_TASKS:
        raise ValueError(_multi_label_message(flag, info.get("task")))
    name = file_name(flag, size)
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DataUnavailableError(
                f"MedMNIST file {file} does not exist; it is {name} of the medmnist package ({_url(info, flag, size)})"
            )
    else:
        file = Path(root).expanduser() / name if root is not None else default_root() / name
        if not file.is_file():
            _download(info, flag, size, file, download)
    return _read_file(file, flag, size, info)


def _url(info: dict | None, flag: str, size: int) -> str:
    suffix = "" if size == 28 else f"_{size}"
    return info[f"url{suffix}"] if info else RECORD_URL.format(file=file_name(flag, size))


def _download(info: dict | None, flag: str, size: int, file: Path, download: bool) -> None:
    """Fetch ``file`` with the package's URL and MD5, or raise :class:`DataUnavailableError`."""
    url = _url(info, flag, size)
    where = f"put {file.name} into {file.parent} (or pass path=... to the file)"
    if info is None:
        raise DataUnavailableError(
            f"MedMNIST file {file} not found, and the medmnist package that downloads it "
            f"(with its MD5 checksum) is not installed: {PACKAGE_HINT}. Offline, download "
            f"{url} elsewhere and {where}"
        )
    if not download:
        raise DataUnavailableError(f"MedMNIST file {file} not found and download=False; it comes from {url}; {where}")
    from torchvision.datasets.utils import download_url

    suffix = "" if size == 28 else f"_{size}"
    part = file.with_name(file.name + ".part")  # renamed only once its MD5 is checked: no half file is ever read
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        download_url(url, root=str(file.parent), filename=part.name, md5=info[f"MD5{suffix}"])
        os.replace(part, file)
    except Exception as exc:  # URLError, OSError or a checksum mismatch, depending on where it fails
        part.unlink(missing_ok=True)
        raise DataUnavailableError(
            f"could not download MedMNIST file {file.name} with the medmnist package's URL "
            f"{url} ({type(exc).__name__}: {exc}); it needs internet access. Offline, {where}"
        ) from exc


def _read_file(file: Path, flag: str, size: int, info: dict | None) -> RawData:
    expected = f"MedMNIST's layout ({', '.join(f'{s}_images, {s}_labels' for s in SPLITS)})"
    try:
        npz = np.load(file, allow_pickle=False)
    except (OSError, EOFError, ValueError) as exc:  # ValueError: neither .npz nor .npy (pickle refused)
        raise ValueError(
            f"MedMNIST file {file} is not a readable .npz ({type(exc).__name__}: {exc}); delete it "
            f"and download it again"
        ) from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"MedMNIST file {file} holds a single array, not an .npz archive in {expected}")
    with npz:
        missing = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels") if f"{s}_{k}" not in npz.files]
        if missing:
            raise ValueError(f"MedMNIST file {file} lacks {', '.join(missing)}; expected {expected}")
        arrays = {s: (npz[f"{s}_images"], npz[f"{s}_labels"]) for s in SPLITS}
    channels = info.get("n_channels") if info else None
    out = {s: _check_split(file, s, x, y, size, channels, flag) for s, (x, y) in arrays.items()}
    n_classes = int(max(int(y.max()) for _, y in out.values())) + 1
    labels = (info or {}).get("label") or {}
    classes = [labels.get(str(c), str(c)) for c in range(n_classes)]
    task = info["task"] if info else "task type unknown without the medmnist package"
    version = _package_version()
    return RawData(
        out["train"][0],
        out["train"][1],
        out["test"][0],
        out["test"][1],
        classes,
        source=f"MedMNIST {flag} {size}px ({task}), {file}" + (f", medmnist {version}" if version else ""),
        max_value=255.0,
        x_val=out["val"][0],
        y_val=out["val"][1],
    )


def _check_split(
    file: Path, split: str, x: np.ndarray, y: np.ndarray, size: int, channels: int | None, flag: str
) -> tuple[np.ndarray, np.ndarray]:
    """One split as (uint8 [N, C, S, S], int64 [N]); ``ValueError`` naming what is wrong."""
    grey, colour = (size, size), (size, size, 3)
    shape = tuple(x.shape[1:])
    if x.dtype != np.uint8 or shape not in (grey, colour) or len(x) == 0:
        want = {1: f"[N, {size}, {size}]", 3: f"[N, {size}, {size}, 3]"}.get(
            channels, f"[N, {size}, {size}] or [N, {size}, {size}, 3]"
        )
        raise ValueError(
            f"MedMNIST file {file}: {split}_images has shape {tuple(x.shape)} and dtype {x.dtype}; "
            f"expected uint8 {want} for {flag} at {size} px"
        )
    if channels is not None and (3 if len(shape) == 3 else 1) != channels:
        raise ValueError(
            f"MedMNIST file {file}: {split}_images has {3 if len(shape) == 3 else 1} channel(s), {flag} has {channels}"
        )
    if y.ndim == 2 and y.shape[1] > 1:
        raise ValueError(_multi_label_message(flag, f"multi-label ({y.shape[1]} labels per image in {file})"))
    if y.ndim not in (1, 2) or len(y) != len(x) or y.dtype.kind not in "iu" or (y < 0).any():
        raise ValueError(
            f"MedMNIST file {file}: {split}_labels has shape {tuple(y.shape)} and dtype {y.dtype}; "
            f"expected integer labels >= 0, [{len(x)}, 1]"
        )
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x), y.reshape(-1).astype(np.int64)


def _package_version() -> str | None:
    if importlib.util.find_spec("medmnist") is None:
        return None
    return getattr(importlib.import_module("medmnist.info"), "__version__", None)
