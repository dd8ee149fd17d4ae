"""Ground-truth factors of variation for the user's own data, from a ``.npy`` or table file.

Disentanglement metrics compare a model's code with factors that generated the data
(pose, lighting, size, ...). The built-in ``shapes`` data set carries its own; for other
data they come from a file with one row per example: a ``.npy`` array (N,) or (N, K), or
a CSV/Parquet table whose header names the factors. Text columns are categorical factors
and are coded as integers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from vaekit.errors import DataError

from .dataset import Dataset
from .tables import TABLE_SUFFIXES, _read_frame


def _from_frame(frame: pd.DataFrame) -> np.ndarray:
    columns = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            columns.append(column.to_numpy(dtype=np.float64))
        else:
            codes, _ = pd.factorize(column, use_na_sentinel=True)
            columns.append(np.where(codes < 0, np.nan, codes).astype(np.float64))
    return np.stack(columns, axis=1)


def read_factors(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Factors ``(N, K)`` as float64 and their names (``factor0``... for arrays)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"factors file '{path}' not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise DataError(f"{path}: cannot read these factors ({err}); re-save them with numpy.save") from err
        if values.ndim not in (1, 2) or not np.issubdtype(values.dtype, np.number):
            raise DataError(f"{path}: factors must be a numeric (N,) or (N, K) array, got {values.dtype} "
                            f"of shape {values.shape}")
        values = values.reshape(len(values), -1).astype(np.float64)
        names = [f"factor{k}" for k in range(values.shape[1])]
    elif suffix in TABLE_SUFFIXES:
        frame = _read_frame(path)
        values, names = _from_frame(frame), [str(c) for c in frame.columns]
    else:
        raise DataError(f"{path}: factors must be a .npy array or a table ({', '.join(TABLE_SUFFIXES)})")
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"{path}: factor '{names[col]}' is missing or not finite at row {row}; "
                        "every example needs every factor")
    return values, names


def with_factors(data: Dataset, path: str | Path) -> Dataset:
    """``data`` with the factors read from ``path``, which must hold one row per example."""
    values, names = read_factors(path)
    if len(values) != data.n:
        raise DataError(f"{path}: {len(values)} rows of factors for {data.n} examples; "
                        "give one row per example, in the data's order")
    return replace(data, factors=values, factor_names=names)
