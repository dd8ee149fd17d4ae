"""CSV and Parquet tables via pandas: names, the row index and each column's type kept.

Text, category and boolean columns are coded (``vaekit.data.coding``). CSV files are read with
pandas' nullable dtypes, so an integer or boolean column with empty cells stays one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vaekit.errors import DataError

from .coding import encode_frame
from .dataset import Dataset

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype_backend="numpy_nullable")
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path}: the file is empty; expected a header line and rows of numbers") from err
    except (ValueError, OSError, UnicodeDecodeError, pa.ArrowException) as err:
        raise DataError(f"{path}: cannot read this table ({err}); check the file format") from err


def _labels(column: pd.Series, path: Path) -> np.ndarray:
    missing = column.index[column.isna()]
    if len(missing):
        raise DataError(
            f"{path}: label column '{column.name}' has {len(missing)} missing value(s), first at row "
            f"{missing[0]}; fill or drop those rows"
        )
    return column.to_numpy() if pd.api.types.is_numeric_dtype(column) else column.to_numpy(dtype=str)


def read_table(path: Path, label_column: str | None = None) -> Dataset:
    """A float32 table; ``label_column`` (if given) is taken out and used as labels."""
    frame = _read_frame(path)
    frame.columns = [str(c) for c in frame.columns]
    labels = None
    if label_column is not None:
        if label_column not in frame.columns:
            raise DataError(
                f"{path}: no column '{label_column}' for the labels; columns are: {', '.join(frame.columns)}"
            )
        labels = _labels(frame.pop(label_column), path)
    x, coding = encode_frame(frame)
    return Dataset(
        x=x.astype(np.float32),
        kind="table",
        labels=labels,
        columns=list(frame.columns),
        index=frame.index.tolist(),
        source=str(path),
        coding=coding or None,
    )
