"""Missing entries: NaN marks them, a mask of observed entries carries them through the model.

Tables and images use the same convention: a NaN cell or pixel is missing. The model sees
the data zero-filled plus the mask (the MIWAE recipe), and the likelihood leaves missing
entries out of the bound. Every row and every column must keep at least one observed
value: a column never observed cannot be learned, and a row with nothing observed has
nothing to condition an imputation on.
"""

from __future__ import annotations

import numpy as np
import torch

from vaekit.data import Dataset
from vaekit.errors import DataError


def _row_name(data: Dataset, row: int) -> str:
    return f"row {row if data.index is None else data.index[row]}"


def observed_mask(data: Dataset) -> np.ndarray | None:
    """Boolean mask of observed entries (True = observed), or None when nothing is missing.

    Refuses rows without any observed value and table columns missing in every row (images may
    share a hole: that is what inpainting fills).
    """
    if not np.issubdtype(data.x.dtype, np.floating):
        return None  # integer data cannot hold NaN
    missing = np.isnan(np.asarray(data.x))
    if not missing.any():
        return None
    flat = missing.reshape(data.n, -1)
    empty_rows = np.flatnonzero(flat.all(axis=1))
    if empty_rows.size:
        raise DataError(
            f"{data.source}: {empty_rows.size} row(s) have no observed value, first {_row_name(data, empty_rows[0])}; "
            "drop them (there is nothing to condition on)"
        )
    empty_columns = np.flatnonzero(flat.all(axis=0)) if data.kind == "table" else []
    if len(empty_columns):
        name = data.columns[empty_columns[0]] if data.columns else f"x{empty_columns[0]}"
        raise DataError(
            f"{data.source}: column '{name}' has no observed value ({len(empty_columns)} such column(s)); "
            "drop it, since nothing about it can be learned or conditioned on"
        )
    return ~missing


def zero_filled(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Model-unit data with NaN set to 0, and the float mask of observed entries (None if complete)."""
    missing = np.isnan(x)
    if not missing.any():
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), None
    filled = np.where(missing, np.float32(0), x).astype(np.float32)
    return torch.from_numpy(filled), torch.from_numpy((~missing).astype(np.float32))

