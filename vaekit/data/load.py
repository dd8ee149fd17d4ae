"""``load_dataset``: one entry point that dispatches on the spec and validates the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from vaekit.errors import DataError

from .arrays import dataset_from_array, read_array_file
from .builtin import BUILTIN_DATASETS, load_builtin
from .coding import Vocabulary
from .dataset import Dataset
from .idx import is_idx, read_idx_dataset
from .images import IMAGE_SUFFIXES, read_image_folder
from .labels import read_labels
from .tables import TABLE_SUFFIXES, read_table
from .validate import check_finite, check_labels, check_not_empty, image_value_max

# Options that only make sense for some sources, by their command-line spelling.
OPTIONS_BY_FORMAT = {
    "built-in data sets": set(),
    "image folders": {"--resize", "--mmap"},
    ".npy files": {"--mmap"},
    ".npz files": set(),
    "tables": {"--label-column"},
    "IDX files": set(),
}
SUPPORTED = (
    f"built-in names, .npy, .npz, {', '.join(TABLE_SUFFIXES)}, IDX files (MNIST format, optionally "
    f"gzipped) and folders of {', '.join(IMAGE_SUFFIXES)} images"
)


def _reader(
    spec: str, label_column: str | None, resize: tuple[int, int] | None, mmap: bool
) -> tuple[str, Callable[[], Dataset]]:
    """The kind of source ``spec`` names (a key of OPTIONS_BY_FORMAT) and how to read it."""
    if spec in BUILTIN_DATASETS:
        return "built-in data sets", partial(load_builtin, spec)
    path = Path(spec)
    if not path.exists():
        raise DataError(
            f"no such file or built-in data set '{spec}'; built-ins are: {', '.join(BUILTIN_DATASETS)}"
        )
    suffix = path.suffix.lower()
    if path.is_dir():
        return "image folders", partial(read_image_folder, path, resize, mmap)
    if suffix in (".npy", ".npz"):
        return f"{suffix} files", partial(read_array_file, path, mmap)
    if suffix in TABLE_SUFFIXES:
        return "tables", partial(read_table, path, label_column)
    if is_idx(path):
        return "IDX files", partial(read_idx_dataset, path)
    raise DataError(f"{spec}: unsupported file format; vaekit reads {SUPPORTED}")


def load_dataset(
    spec: str,
    *,
    labels: str | None = None,
    label_column: str | None = None,
    resize: tuple[int, int] | None = None,
    allow_missing: bool = False,
    mmap: bool = False,
) -> Dataset:
    """Load a built-in data set or a file/folder, attach labels, and validate the values.

    ``labels`` is a separate labels file; ``label_column`` a table column to use as labels.
    NaN is refused unless ``allow_missing``; infinity always is. ``mmap`` leaves a ``.npy``
    file or an image folder on disk (see ``vaekit.data.out_of_core``).
    """
    fmt, read = _reader(spec, label_column, resize, mmap)
    given = {"--resize": resize is not None, "--mmap": mmap, "--label-column": label_column is not None}
    unsupported = [name for name, on in given.items() if on and name not in OPTIONS_BY_FORMAT[fmt]]
    if unsupported:
        raise DataError(f"{spec}: {unsupported[0]} does not apply to {fmt}")
    if labels is not None and label_column is not None:
        raise DataError("pass either --labels or --label-column, not both")
    ds = read()
    if labels is not None:
        ds = replace(ds, labels=read_labels(Path(labels)))
    return _validated(ds, allow_missing, labels or ds.source)


def from_array(
    x: np.ndarray,
    *,
    columns: list[str] | None = None,
    index: list | None = None,
    source: str = "array",
    allow_missing: bool = False,
    coding: dict[str, Vocabulary] | None = None,
) -> Dataset:
    """A validated :class:`Dataset` from an in-memory array (the Python API's entry point).

    The array follows the same shape rules as ``.npy`` files: (n, d) is a table,
    (n, h, w) or (n, c, h, w) / (n, h, w, c) are images. ``coding`` gives the vocabularies of the
    table's coded columns (see ``vaekit.data.coding``).
    """
    ds = dataset_from_array(np.asarray(x), source)
    if columns is not None:
        ds = replace(ds, columns=list(columns), index=index, coding=coding or None)
    return _validated(ds, allow_missing, source)


def _validated(ds: Dataset, allow_missing: bool, labels_source: str) -> Dataset:
    check_not_empty(ds)
    if ds.labels is not None:
        check_labels(ds.labels, ds.n, labels_source)
    check_finite(ds, allow_missing)
    if ds.kind == "image" and ds.value_max is None:
        ds = replace(ds, value_max=image_value_max(ds))
    return ds
