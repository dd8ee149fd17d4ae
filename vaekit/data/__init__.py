"""Loading data sets (built-in, NumPy, tables, image folders, IDX) into a validated :class:`Dataset`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .builtin import BUILTIN_DATASETS
from .dataset import Dataset

if TYPE_CHECKING:
    from .load import from_array, load_dataset

__all__ = ["BUILTIN_DATASETS", "Dataset", "from_array", "load_dataset"]


def __getattr__(name: str) -> Any:
    """``from_array`` and ``load_dataset`` on first use (PEP 562): their readers import pandas and Pillow,
    which the command line must not pay for just to list the built-in data sets."""
    if name not in ("from_array", "load_dataset"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.load"), name)
