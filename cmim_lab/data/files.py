"""A researcher's own dataset from a path: ``.npz``, ``.csv`` / ``.parquet`` tables, image folders.

:func:`load_path` reads one of these and passes the arrays through
:func:`cmim_lab.data.from_arrays` (its validation, its stratified 80/20 split when the file has
no test split, its choice of intensities or real-valued features):

* ``.npz`` with ``x_train`` and ``y_train`` (and optionally ``x_test`` and ``y_test``);
* ``.csv`` or ``.parquet``: one row per sample, numeric feature columns and the class in the
  column named by ``label`` (any values: sorted, they become classes 0, 1, ...);
* a folder of images in one sub-folder per class (the torchvision ``ImageFolder`` layout:
  ``root/<class>/<image>``), read with PIL; every image must have the same size and mode
  (``L`` -> [N, H, W], ``RGB`` -> [N, 3, H, W], uint8).

:func:`resolve_dataset` takes a registered dataset's name (:func:`cmim_lab.data.load`), one of
scikit-learn's bundled tables (:data:`BUNDLED_TABLES`: ``wine``, ``breast-cancer``, ``iris``)
or a path. Every bad input raises ``ValueError`` (``FileNotFoundError`` for a missing path)
naming the problem before anything is written to the cache: nothing here writes files.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from .. import registry

TABLE_SUFFIXES = (".csv", ".parquet")
SUFFIXES = (".npz",) + TABLE_SUFFIXES
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
BUNDLED_TABLES = {"wine": "load_wine", "breast-cancer": "load_breast_cancer", "iris": "load_iris"}
IMAGE_MODES = {"L": 1, "RGB": 3}


def resolve_dataset(
    name_or_path, *, label: str | None = None, n_train: int | None = None, seed: int = 0, split_seed: int = 0
):
    """A :class:`~cmim_lab.data.Dataset` from a registered dataset's name, a bundled
    scikit-learn table's name (:data:`BUNDLED_TABLES`) or a path (:func:`load_path`).
    ``label`` is for tables read from a file only."""
    from . import load

    if isinstance(name_or_path, str) and name_or_path in registry.datasets():
        _no_label(label, name_or_path)
        return load(name_or_path, n_train=n_train, seed=seed)
    if isinstance(name_or_path, str) and name_or_path in BUNDLED_TABLES:
        _no_label(label, name_or_path)
        return load_bundled_table(name_or_path, n_train=n_train, seed=seed, split_seed=split_seed)
    if not isinstance(name_or_path, (str, Path)):
        raise ValueError(f"dataset must be a name or a path, got {name_or_path!r}")
    path = Path(name_or_path).expanduser()
    if not path.exists():
        names = sorted(registry.datasets()) + sorted(BUNDLED_TABLES)
        raise FileNotFoundError(
            f"dataset {str(name_or_path)!r} is neither a registered dataset, a bundled table nor "
            f"an existing path; names: {', '.join(names)}; files: {', '.join(SUFFIXES)} or a "
            f"folder of images with one sub-folder per class"
        )
    return load_path(path, label=label, n_train=n_train, seed=seed, split_seed=split_seed)


def load_bundled_table(name: str, *, n_train: int | None = None, seed: int = 0, split_seed: int = 0):
    """One of scikit-learn's bundled tables (``wine``: 178 x 13, 3 classes; ``breast-cancer``:
    569 x 30, 2 classes; ``iris``: 150 x 4, 3 classes) as real-valued features with a
    stratified 80/20 split (:func:`cmim_lab.data.from_arrays`)."""
    import sklearn.datasets

    from . import from_arrays

    if name not in BUNDLED_TABLES:
        raise ValueError(f"bundled table must be one of {', '.join(BUNDLED_TABLES)}, got {name!r}")
    bunch = getattr(sklearn.datasets, BUNDLED_TABLES[name])()
    ds = from_arrays(
        bunch.data,
        bunch.target,
        name=name,
        classes=[str(c) for c in bunch.target_names],
        n_train=n_train,
        seed=seed,
        split_seed=split_seed,
        standardise=True,
    )
    ds.info["source"] = f"scikit-learn bundled {BUNDLED_TABLES[name]}(), " + ds.info["source"]
    return ds


def load_path(
    path,
    *,
    label: str | None = None,
    name: str | None = None,
    n_train: int | None = None,
    seed: int = 0,
    split_seed: int = 0,
):
    """Read a dataset from ``path`` (see the module docstring) into a
    :class:`~cmim_lab.data.Dataset`. ``label``: the class column of a table (required for
    ``.csv`` and ``.parquet``, refused otherwise); ``name``: the dataset's name (default: the
    file or folder name, with ``-<kind>`` added where it is a registered dataset's);
    ``n_train``, ``seed``, ``split_seed`` as in :func:`cmim_lab.data.from_arrays`. Where the
    data hold no test split, ``info["split"]`` says that a stratified one was made."""
    from . import from_arrays

    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {str(path)!r}")
    suffix = "folder" if path.is_dir() else path.suffix.lower()
    if suffix not in SUFFIXES + ("folder",):
        raise ValueError(
            f"unsupported file type {path.suffix or '(none)'!r} of {str(path)!r}; valid: "
            f"{', '.join(SUFFIXES)} or a folder of images with one sub-folder per class"
        )
    if suffix in TABLE_SUFFIXES:
        arrays = _read_table(path, label)
    else:
        _no_label(label, str(path))
        arrays = _read_npz(path) if suffix == ".npz" else _read_image_folder(path)
    name = name if name is not None else _default_name(path, suffix)
    classes = arrays.pop("classes", None)
    split = arrays.get("x_test") is None
    y = np.asarray(arrays["y_train"])
    if split and y.ndim == 1 and len(y):  # before the split, which would fail with a less clear message
        values, inverse = np.unique(y, return_inverse=True)
        _check_class_sizes(inverse, [str(v) for v in values], path)
    try:
        ds = from_arrays(**arrays, name=name, classes=classes, n_train=n_train, seed=seed, split_seed=split_seed)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    ds.info["path"] = str(path)
    ds.info["split"] = (
        f"no test split in {path.name}: a stratified 80/20 split of its samples was made (split seed {split_seed})"
        if split
        else f"the test split of {path.name}"
    )
    return ds


def _no_label(label, what: str) -> None:
    if label is not None:
        raise ValueError(f"label={label!r} names a table's class column; {what} is not a .csv or .parquet table")


def _default_name(path: Path, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem if suffix != "folder" else path.name).strip("-.") or "data"
    if stem in registry.datasets() or stem in BUNDLED_TABLES:
        stem = f"{stem}-{'images' if suffix == 'folder' else suffix.lstrip('.')}"
    return stem


def _read_npz(path: Path) -> dict:
    """``x_train``, ``y_train`` (and ``x_test``, ``y_test``) of an ``.npz`` file."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not an .npz file (not a zip archive of .npy arrays): is it another format under an .npz name?"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"{path} could not be read as .npz arrays ({exc}); object arrays are refused, save plain numbers"
        ) from None
    missing = [k for k in ("x_train", "y_train") if k not in found]
    if missing:
        raise ValueError(
            f"{path} lacks {', '.join(missing)}; it holds {sorted(found) or 'no arrays'}; expected "
            f"x_train, y_train and optionally x_test, y_test"
        )
    if ("x_test" in found) != ("y_test" in found):
        raise ValueError(
            f"{path} holds {'x_test' if 'x_test' in found else 'y_test'} without "
            f"{'y_test' if 'x_test' in found else 'x_test'}; give both or neither"
        )
    return {k: found.get(k) for k in ("x_train", "y_train", "x_test", "y_test")}


def _read_table(path: Path, label: str | None) -> dict:
    """Feature columns and the ``label`` column of a ``.csv`` / ``.parquet`` table: x [N, D]
    float, y [N] class indices of the sorted distinct labels, classes their names."""
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except ImportError as exc:
        raise ValueError(
            f"reading {path} needs a parquet engine ({exc}); pip install pyarrow, or save a .csv"
        ) from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path} could not be read as a {path.suffix} table ({type(exc).__name__}: {exc})") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if label is None:
        raise ValueError(f"{path} is a table: name its class column with label=...; columns: {', '.join(columns)}")
    if label not in columns:
        raise ValueError(f"{path} has no column {label!r}; columns: {', '.join(columns)}")
    if len(frame) == 0:
        raise ValueError(f"{path} holds no rows")
    y_raw = frame[label]
    if y_raw.isna().any():
        raise ValueError(f"{path}: label column {label!r} is empty in {int(y_raw.isna().sum())} rows")
    features = frame.drop(columns=[label])
    odd = [
        c
        for c in features.columns
        if not pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
    ]
    if odd:
        raise ValueError(
            f"{path}: feature columns must be numeric; not numeric: {', '.join(odd[:10])}"
            f"{' ...' if len(odd) > 10 else ''} (encode them, or drop them)"
        )
    if features.shape[1] == 0:
        raise ValueError(f"{path} has no feature column besides the label {label!r}")
    x = features.to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        bad = [c for c in features.columns if not np.isfinite(features[c].to_numpy(dtype=np.float64)).all()]
        raise ValueError(f"{path}: NaN, empty or infinite values in columns {', '.join(bad[:10])}; fill or drop them")
    classes, y = np.unique(y_raw.to_numpy(), return_inverse=True)
    _check_class_sizes(y, [str(c) for c in classes], path)
    return {
        "x_train": x,
        "y_train": y.astype(np.int64),
        "x_test": None,
        "y_test": None,
        "classes": [str(c) for c in classes],
    }


def _check_class_sizes(y: np.ndarray, classes: list[str], where) -> None:
    """A stratified split needs two classes and two samples of each."""
    counts = np.bincount(y, minlength=len(classes))
    if len(classes) < 2:
        raise ValueError(f"{where} holds a single class ({classes[0]!r}); a verdict needs at least two classes")
    single = [c for c, n in zip(classes, counts) if n < 2]
    if single:
        raise ValueError(
            f"{where}: class {', '.join(map(repr, single[:10]))} has a single sample; a stratified "
            f"train/test split needs at least two per class (add samples or drop the class)"
        )


def _read_image_folder(root: Path) -> dict:
    """Every image of ``root/<class>/`` as uint8 [N, H, W] (mode L) or [N, 3, H, W] (RGB),
    classes the sorted sub-folder names; ``ValueError`` names an unreadable or odd file."""
    from PIL import Image, UnidentifiedImageError

    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(
            f"{root} is an empty folder or has no class sub-folders; expected the ImageFolder layout "
            f"{root}/<class>/<image>.png"
        )
    images, labels, first = [], [], None
    for index, folder in enumerate(folders):
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"class folder {folder} holds no images")
        for file in files:
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(f"{file} is not an image file (valid: {', '.join(IMAGE_SUFFIXES)})")
            try:
                with Image.open(file) as im:
                    im.load()
                    mode, size = im.mode, im.size
                    if mode not in IMAGE_MODES:
                        raise ValueError(
                            f"{file} has image mode {mode!r}; valid: {', '.join(IMAGE_MODES)} "
                            f"(convert the folder to grey or RGB)"
                        )
                    pixels = np.asarray(im, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise ValueError(f"{file} could not be read as an image ({exc})") from None
            if first is None:
                first = (file, mode, size)
            elif (mode, size) != first[1:]:
                raise ValueError(
                    f"{file} is {size[0]}x{size[1]} {mode}, but {first[0]} is {first[2][0]}x"
                    f"{first[2][1]} {first[1]}: every image of the folder must have the same size and "
                    f"mode (resize or convert them)"
                )
            images.append(pixels if mode == "L" else pixels.transpose(2, 0, 1))
            labels.append(index)
    y = np.asarray(labels, dtype=np.int64)
    _check_class_sizes(y, [f.name for f in folders], root)
    return {
        "x_train": np.stack(images),
        "y_train": y,
        "x_test": None,
        "y_test": None,
        "classes": [f.name for f in folders],
    }
