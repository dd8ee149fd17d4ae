"""CSV and Parquet tables via pandas: numeric columns, names and the row index kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vaekit.errors import DataError

from .dataset import Dataset

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path}: the file is empty; expected a header line and rows of numbers") from err
    except (ValueError, OSError, UnicodeDecodeError, pa.ArrowException) as err:
        raise DataError(f"{path}: cannot read this table ({err}); check the file format") from err


def _check_numeric(frame: pd.DataFrame, path: Path) -> None:
    """Name the first non-numeric column with an offending value, so the user can fix it."""
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            continue
        present = column.dropna()
        if present.empty:
            continue  # all missing: reported by the NaN check
        unparsable = present[pd.to_numeric(present.astype(str), errors="coerce").isna()]
        example = unparsable if len(unparsable) else present
        raise DataError(
            f"{path}: column '{name}' is not numeric (e.g. {example.iloc[0]!r} at row {example.index[0]}); "
            "only numeric columns are supported for now: drop or encode it, or pass it as --label-column"
        )


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
    _check_numeric(frame, path)
    return Dataset(
        x=frame.to_numpy(dtype=np.float32, na_value=np.nan),
        kind="table",
        labels=labels,
        columns=list(frame.columns),
        index=frame.index.tolist(),
        source=str(path),
    )
