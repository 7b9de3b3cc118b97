"""The MedMNIST loader on small .npz files written here in MedMNIST's exact key layout, with and
without the medmnist package (a stand-in package with the real one's INFO fields is put on
the path where the package's behaviour matters)."""

import importlib.util
import sys
import textwrap

import numpy as np
import pytest
import torch

from cmim_lab import data
from cmim_lab.data import medmnist as medmnist_source
from cmim_lab.errors import DataUnavailableError

SPLIT_SIZES = {"train": 40, "val": 12, "test": 16}


def write_npz(path, *, channels=3, size=28, n_classes=4, labels_per_image=1, seed=0, channels_first=False):
    """A MedMNIST-style file: {split}_images uint8 [N, S, S(, 3)], {split}_labels [N, L]."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in SPLIT_SIZES.items():
        shape = (n, size, size) if channels == 1 else ((n, 3, size, size) if channels_first else (n, size, size, 3))
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = np.arange(n * labels_per_image).reshape(n, labels_per_image) % n_classes
    with open(path, "wb") as fh:  # a file handle: numpy keeps the name as given (a download's .part too)
        np.savez_compressed(fh, **arrays)
    return arrays


@pytest.fixture
def no_package(monkeypatch):
    """The medmnist package is not installed (whatever this machine has)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "medmnist" else real(name, *a))


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A stand-in ``medmnist`` package whose ``info`` module has the real INFO's fields."""
    pkg = tmp_path / "pkg" / "medmnist"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from medmnist.info import __version__, INFO\n")
    (pkg / "info.py").write_text(
        textwrap.dedent(f"""
        __version__ = "3.0.2-test"
        DEFAULT_ROOT = {str(tmp_path / "default-root")!r}
        def entry(task, labels, channels):
            return {{"url": "https://example.org/FLAG.npz", "MD5": "0" * 32,
                     "url_64": "https://example.org/FLAG_64.npz", "MD5_64": "1" * 32,
                     "task": task, "label": {{str(i): name for i, name in enumerate(labels)}},
                     "n_channels": channels}}
        INFO = {{"bloodmnist": entry("multi-class", ["basophil", "eosinophil", "erythroblast", "ig"], 3),
                 "pneumoniamnist": entry("binary-class", ["normal", "pneumonia"], 1),
                 "retinamnist": entry("ordinal-regression", ["0", "1", "2", "3"], 3),
                 "chestmnist": entry("multi-label, binary-class", ["atelectasis"], 1)}}
        for flag, e in INFO.items():
            for k in ("url", "url_64"):
                e[k] = e[k].replace("FLAG", flag)
        """)
    )
    for name in [m for m in sys.modules if m == "medmnist" or m.startswith("medmnist.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    yield tmp_path / "default-root"
    for name in [m for m in sys.modules if m == "medmnist" or m.startswith("medmnist.")]:
        del sys.modules[name]


@pytest.mark.parametrize("channels", [3, 1])
def test_local_file_keeps_medmnist_splits(channels, tmp_path, no_package):
    arrays = write_npz(tmp_path / "bloodmnist.npz", channels=channels)
    ds = data.load_medmnist("bloodmnist", root=tmp_path)
    assert ds.input_shape == (channels, 28, 28)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (40, 12, 16)
    first = arrays["test_images"][0]
    first = first[None] if channels == 1 else first.transpose(2, 0, 1)
    torch.testing.assert_close(ds.x_test[0], torch.from_numpy(first).float() / 255)
    assert ds.y_val.tolist() == arrays["val_labels"].ravel().tolist()
    assert ds.classes == ["0", "1", "2", "3"] and "task type unknown" in ds.info["source"]
    sub = data.load_medmnist("bloodmnist", n_train=20, path=tmp_path / "bloodmnist.npz")
    assert len(sub.y_train) == 20 and len(sub.y_val) == 12 and len(sub.y_test) == 16  # val and test untouched
    assert "12 validation" in sub.describe()


def test_registered_names_load_by_size(tmp_path, no_package):
    write_npz(tmp_path / "pneumoniamnist_64.npz", channels=1, size=64, n_classes=2)
    ds = data.load("pneumoniamnist-64", root=tmp_path)
    assert ds.name == "pneumoniamnist-64" and ds.input_shape == (1, 64, 64) and ds.n_classes == 2
    assert {"pathmnist", "bloodmnist-64", "retinamnist"} <= set(data.available())
    assert "chestmnist" not in data.available()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(channels=3, channels_first=True), r"train_images has shape \(40, 3, 28, 28\).*expected uint8"),
        (dict(channels=3, size=32), r"expected uint8 \[N, 28, 28\] or \[N, 28, 28, 3\]"),
        (dict(labels_per_image=3), r"multi-label \(3 labels per image"),
    ],
)
def test_wrong_files_are_refused_with_what_was_expected(kwargs, message, tmp_path, no_package):
    path = tmp_path / "bloodmnist.npz"
    write_npz(path, **kwargs)
    with pytest.raises(ValueError, match=message) as info:
        data.load_medmnist("bloodmnist", path=path)
    assert str(path) in str(info.value)


def test_a_file_without_medmnist_keys_is_refused(tmp_path, no_package):
    path = tmp_path / "bloodmnist.npz"
    np.savez(path, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="lacks train_images, train_labels"):
        data.load_medmnist("bloodmnist", path=path)
    path.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a readable .npz"):
        data.load_medmnist("bloodmnist", path=path)


def test_missing_file_names_the_package_the_file_and_the_url(tmp_path, no_package):
    with pytest.raises(DataUnavailableError) as info:
        data.load_medmnist("dermamnist", size=64, root=tmp_path)
    text = str(info.value)
    assert "pip install medmnist" in text and str(tmp_path / "dermamnist_64.npz") in text
    assert "https://zenodo.org/records/10519652/files/dermamnist_64.npz" in text
    with pytest.raises(DataUnavailableError, match=r"does not exist; it is dermamnist.npz of the medmnist package"):
        data.load_medmnist("dermamnist", path=tmp_path / "elsewhere.npz")


@pytest.mark.parametrize(
    "flag, size, message",
    [
        ("chestmnist", 28, "multi-label, binary-class task"),
        ("organmnist3d", 28, "3-D volumes are not supported"),
        ("bloodmnist", 32, "size must be one of 28, 64, 128, 224"),
    ],
)
def test_unsupported_requests_fail_before_any_io(flag, size, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        data.load_medmnist(flag, size=size, root=tmp_path / "never-created")


def test_with_the_package_info_names_classes_and_checks_channels(tmp_path, fake_package):
    write_npz(tmp_path / "bloodmnist.npz", channels=3)
    ds = data.load_medmnist("bloodmnist", root=tmp_path)
    assert ds.classes == ["basophil", "eosinophil", "erythroblast", "ig"]
    assert "multi-class" in ds.info["source"] and "medmnist 3.0.2-test" in ds.info["source"]
    write_npz(tmp_path / "pneumoniamnist.npz", channels=3, n_classes=2)
    with pytest.raises(ValueError, match=r"has 3 channel\(s\), pneumoniamnist has 1"):
        data.load_medmnist("pneumoniamnist", root=tmp_path)
    write_npz(tmp_path / "retinamnist.npz", channels=3)  # ordinal grades: probed as classes
    assert data.load_medmnist("retinamnist", root=tmp_path).n_classes == 4


def test_with_the_package_a_missing_file_is_downloaded_from_its_url_with_its_md5(fake_package, monkeypatch):
    import torchvision.datasets.utils as tvu

    calls = []

    def fake_download(url, root, filename, md5):
        calls.append((url, filename, md5))
        write_npz(f"{root}/{filename}", channels=1, size=64, n_classes=2)

    monkeypatch.setattr(tvu, "download_url", fake_download)
    ds = data.load_medmnist("pneumoniamnist", size=64)  # the package's default root
    assert calls == [("https://example.org/pneumoniamnist_64.npz", "pneumoniamnist_64.npz.part", "1" * 32)]
    assert sorted(p.name for p in fake_package.iterdir()) == ["pneumoniamnist_64.npz"]
    assert ds.input_shape == (1, 64, 64)


def test_offline_with_the_package_and_no_file_is_a_clear_error(tmp_path, fake_package, monkeypatch):
    import urllib.error

    import torchvision.datasets.utils as tvu

    def offline(url, root, filename, md5):
        (tmp_path / filename).write_bytes(b"half a file")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvu, "download_url", offline)
    with pytest.raises(DataUnavailableError) as info:
        data.load_medmnist("bloodmnist", root=tmp_path)
    text = str(info.value)
    assert "https://example.org/bloodmnist.npz" in text and "bloodmnist.npz into" in text and "URLError" in text
    assert not list(tmp_path.glob("bloodmnist*"))  # the interrupted download left nothing to be read later
    with pytest.raises(DataUnavailableError, match="download=False"):
        data.load_medmnist("bloodmnist", root=tmp_path, download=False)


def test_file_name_follows_the_package():
    assert medmnist_source.file_name("pathmnist") == "pathmnist.npz"
    assert medmnist_source.file_name("pathmnist", 224) == "pathmnist_224.npz"
