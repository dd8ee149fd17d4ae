"""Separate label files: ``.npy``, IDX (MNIST labels) or text with one label per line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vaekit.errors import DataError

from .idx import is_idx, read_idx


def _read_text(path: Path) -> np.ndarray:
    """Integer labels when every line is an integer, else the lines as strings."""
    try:
        lines = pd.Series(path.read_text().strip().splitlines()).str.strip()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read this labels file ({err}); expected one label per line") from err
    numbers = pd.to_numeric(lines, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        return numbers.to_numpy(dtype=np.int64)
    return lines.to_numpy(dtype=str)


def read_labels(path: Path) -> np.ndarray:
    """The labels stored in ``path`` (their count is checked by the loader)."""
    if not path.is_file():
        raise DataError(f"labels file '{path}' not found")
    if is_idx(path):
        return read_idx(path)
    if path.suffix.lower() != ".npy":
        return _read_text(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read these labels ({err}); re-save them with numpy.save") from err
