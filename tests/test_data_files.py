"""A researcher's own dataset from a path (cmim_lab.data.files): every form, every bad input."""

import numpy as np
import pandas as pd
import pytest
import torch

from cmim_lab.data.files import load_path, resolve_dataset


@pytest.fixture
def cache(fresh_cache):
    """The (empty) cache folder of the test; nothing here may write to it."""
    return fresh_cache


def _digits(n=200):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[:n].astype(np.uint8), bunch.target[:n].astype(np.int64)


def _cache_files(cache):
    return sorted(cache.rglob("*")) if cache.exists() else []


def test_npz_with_and_without_a_test_split(tmp_path, cache):
    x, y = _digits()
    np.savez(tmp_path / "both.npz", x_train=x[:150], y_train=y[:150], x_test=x[150:], y_test=y[150:])
    np.savez(tmp_path / "train.npz", x_train=x, y_train=y)
    both = load_path(tmp_path / "both.npz")
    assert both.name == "both" and len(both.x_train) == 150 and len(both.x_test) == 50
    assert torch.equal(both.x_train[:, 0] * 255, torch.from_numpy(x[:150]).float())  # uint8 scaled by 1/255
    assert "the test split of both.npz" in both.info["split"]
    split = load_path(tmp_path / "train.npz", split_seed=3)
    assert len(split.x_train) + len(split.x_test) == 200 and len(split.x_test) == 40
    assert "stratified 80/20 split" in split.info["split"] and "split seed 3" in split.info["split"]
    assert _cache_files(cache) == []


def test_csv_with_a_label_column_and_image_folder(tmp_path, cache):
    from PIL import Image

    x, y = _digits(120)
    frame = pd.DataFrame(x.reshape(len(x), -1) * 1.5, columns=[f"f{i}" for i in range(64)])
    frame.insert(3, "kind", [f"class-{c}" for c in y])
    frame.to_csv(tmp_path / "table.csv", index=False)
    ds = load_path(tmp_path / "table.csv", label="kind")
    assert ds.input_shape == (64,) and ds.real_valued and ds.classes == sorted(f"class-{c}" for c in set(y))
    for i, c in enumerate(y):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i] * 15, mode="L").save(tmp_path / "imgs" / f"c{c}" / f"{i}.png")
    imgs = load_path(tmp_path / "imgs")
    assert imgs.input_shape == (1, 8, 8) and not imgs.real_valued and imgs.classes == [f"c{c}" for c in range(10)]
    assert len(imgs.x_train) + len(imgs.x_test) == 120
    assert _cache_files(cache) == []


def test_a_parquet_table_reads_as_its_csv(tmp_path, cache):
    pytest.importorskip("pyarrow", reason="pyarrow reads .parquet (the dev extra installs it)")
    x, y = _digits(120)
    frame = pd.DataFrame(x.reshape(len(x), -1) * 1.5, columns=[f"f{i}" for i in range(64)])
    frame["kind"] = [f"class-{c}" for c in y]
    frame.to_csv(tmp_path / "table.csv", index=False)
    frame.to_parquet(tmp_path / "table.parquet", index=False)
    a, b = load_path(tmp_path / "table.csv", label="kind"), load_path(tmp_path / "table.parquet", label="kind")
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train) and a.classes == b.classes
    with pytest.raises(ValueError, match="kind"):
        load_path(tmp_path / "table.parquet", label="species")
    assert _cache_files(cache) == []


def test_resolve_dataset_takes_names_tables_and_paths(tmp_path):
    assert resolve_dataset("digits", n_train=100).name == "digits"
    wine = resolve_dataset("wine")
    assert wine.real_valued and wine.input_shape == (13,) and len(wine.x_train) + len(wine.x_test) == 178
    x, y = _digits()
    np.savez(tmp_path / "digits.npz", x_train=x, y_train=y)
    assert resolve_dataset(str(tmp_path / "digits.npz")).name == "digits-npz"  # never a registered name
    with pytest.raises(FileNotFoundError, match="neither a registered dataset.*digits"):
        resolve_dataset(str(tmp_path / "nowhere.npz"))
    with pytest.raises(ValueError, match="label='y' names a table's class column"):
        resolve_dataset("digits", label="y")


def _bad_inputs(tmp_path):
    """{what: (path, label, message pattern)} -- one file or folder per bad input."""
    from PIL import Image

    x, y = _digits(60)
    out = {}
    table = pd.DataFrame(x.reshape(60, -1).astype(float), columns=[f"f{i}" for i in range(64)]).assign(y=y)
    table.to_csv(tmp_path / "t.csv", index=False)
    out["missing label"] = (tmp_path / "t.csv", None, r"name its class column with label=.*columns: f0, f1")
    out["unknown label"] = (tmp_path / "t.csv", "target", r"has no column 'target'; columns: f0, f1")
    table.assign(y=3).to_csv(tmp_path / "one.csv", index=False)
    out["one class"] = (tmp_path / "one.csv", "y", "holds a single class")
    single = table.copy()
    single.loc[0, "y"] = 99
    single.to_csv(tmp_path / "single.csv", index=False)
    out["class of one sample"] = (tmp_path / "single.csv", "y", "class '99' has a single sample")
    nan = table.copy()
    nan.loc[4, "f7"] = np.nan
    nan.to_csv(tmp_path / "nan.csv", index=False)
    out["NaN in a table"] = (tmp_path / "nan.csv", "y", "NaN, empty or infinite values in columns f7")
    xf = x.astype(np.float32)
    xf[2, 3, 3] = np.inf
    np.savez(tmp_path / "inf.npz", x_train=xf, y_train=y)
    out["inf in an npz"] = (tmp_path / "inf.npz", None, "x_train contains NaN or inf")
    np.savez(tmp_path / "one.npz", x_train=x, y_train=np.zeros(60, dtype=np.int64))
    out["one class in an npz"] = (tmp_path / "one.npz", None, "single class")
    (tmp_path / "text.npz").write_text("x_train,y_train\n1,2\n")
    out["text named .npz"] = (tmp_path / "text.npz", None, "is not an .npz file")
    (tmp_path / "fake.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x00binary")
    out["binary named .csv"] = (tmp_path / "fake.csv", "y", r"could not be read as a \.csv table|has no column")
    for c in (0, 1):
        (tmp_path / "mixed" / str(c)).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(x[i] * 15, mode="L").save(tmp_path / "mixed" / str(c) / f"{i}.png")
    Image.fromarray(np.zeros((9, 8), np.uint8), mode="L").save(tmp_path / "mixed" / "1" / "odd.png")
    out["mixed image sizes"] = (tmp_path / "mixed", None, r"odd.png is 8x9 L, but .* is 8x8 L")
    (tmp_path / "empty").mkdir()
    out["empty folder"] = (tmp_path / "empty", None, "empty folder or has no class sub-folders")
    (tmp_path / "x.json").write_text("{}")
    out["unsupported extension"] = (tmp_path / "x.json", None, r"unsupported file type '\.json'.*\.npz, \.csv")
    out["missing path"] = (tmp_path / "absent.npz", None, "no such file or folder")
    return out


def test_every_bad_input_names_the_problem_and_writes_nothing(tmp_path, cache):
    for what, (path, label, pattern) in _bad_inputs(tmp_path).items():
        with pytest.raises((ValueError, FileNotFoundError), match=pattern):
            load_path(path, label=label)
        assert _cache_files(cache) == [], what
