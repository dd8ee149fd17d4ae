"""Checks every dataset passes, so bad values fail at load time with a precise message."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vaekit.errors import DataError

from .dataset import Dataset

_BLOCK_BYTES = 1 << 26  # scan in ~64 MB row blocks: memory maps may not fit in RAM


def _row_blocks(x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, block) pairs covering ``x``, each read into memory once."""
    row_bytes = x.itemsize * int(np.prod(x.shape[1:]))
    rows = max(1, _BLOCK_BYTES // max(1, row_bytes))
    for start in range(0, len(x), rows):
        yield start, np.asarray(x[start : start + rows])


def check_not_empty(ds: Dataset) -> None:
    """Refuse data without examples or without features."""
    if ds.n == 0:
        raise DataError(f"{ds.source}: the data has no examples; check the file")
    if 0 in ds.shape:
        raise DataError(f"{ds.source}: the examples have no values (shape {ds.shape}); check the file")


def check_labels(labels: np.ndarray, n: int, where: str) -> None:
    """Labels must be one per example."""
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(
            f"{where}: expected {n} labels (one per example), got an array of shape {labels.shape}"
        )


def _position(ds: Dataset, at: np.ndarray) -> str:
    """Where a value sits, in the user's terms (row label and column name for tables)."""
    row = int(at[0])
    if ds.kind == "table":
        label = row if ds.index is None else ds.index[row]
        return f"row {label}, column '{ds.columns[at[1]]}'"
    return f"example {row}, position {tuple(int(i) for i in at[1:])}"


def check_finite(ds: Dataset, allow_missing: bool) -> None:
    """Refuse NaN (unless ``allow_missing``) and infinity, counting them and naming the first."""
    if not np.issubdtype(ds.x.dtype, np.floating):
        return  # integers cannot hold NaN or infinity
    n_nan = n_inf = 0
    first = None
    for start, block in _row_blocks(ds.x):
        nan, inf = np.isnan(block), np.isinf(block)
        n_nan += int(nan.sum())
        n_inf += int(inf.sum())
        bad = inf if allow_missing else nan | inf
        if first is None and bad.any():
            first = np.argwhere(bad)[0]
            first[0] += start
    if first is None:
        return
    where = _position(ds, first)
    if allow_missing:
        raise DataError(
            f"{ds.source}: {n_inf} infinite value(s), first at {where}; "
            "replace them (only NaN is accepted as a missing value)"
        )
    hint = "" if n_inf else "; to keep NaN as missing values pass --allow-missing"
    raise DataError(
        f"{ds.source}: {n_nan} NaN and {n_inf} infinite value(s), first at {where}; fill or drop them{hint}"
    )


def value_range(x: np.ndarray) -> tuple[float, float]:
    """The smallest and largest value, NaN skipped (both NaN if every value is), read block by block."""
    lows, highs = zip(
        *((np.fmin.reduce(b, axis=None), np.fmax.reduce(b, axis=None)) for _, b in _row_blocks(x)), strict=True
    )
    return float(np.fmin.reduce(lows)), float(np.fmax.reduce(highs))


def image_value_max(ds: Dataset) -> float:
    """The raw value of full intensity: 255 for 8-bit integers, 1.0 for floats in [0, 1]."""
    if ds.x.dtype == np.uint8:
        return 255.0
    lo, hi = value_range(ds.x)
    if np.issubdtype(ds.x.dtype, np.integer):
        if 0 <= lo and hi <= 255:
            return 255.0
        raise DataError(
            f"{ds.source}: integer image values must lie in 0..255 (8-bit), found {lo:g}..{hi:g}; "
            "save the images as uint8, or as floats scaled to [0, 1]"
        )
    if 0 <= lo and hi <= 1:
        return 1.0
    raise DataError(
        f"{ds.source}: float image values must lie in [0, 1], found {lo:g}..{hi:g}; "
        "scale them to [0, 1] (e.g. divide by 255) or save them as uint8"
    )


def first_non_binary(ds: Dataset) -> str | None:
    """Where the first value other than 0 and 1 is and what it is (NaN, a missing value, passes); None if none."""
    for start, block in _row_blocks(ds.x):
        bad = (block != 0) & (block != 1) & ~np.isnan(block)
        if bad.any():
            at = np.argwhere(bad)[0]
            value = block[tuple(at)]
            at[0] += start
            return f"{_position(ds, at)} holds {value:g}"
    return None
