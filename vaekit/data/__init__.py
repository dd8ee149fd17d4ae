"""Loading data sets (built-in, NumPy, tables, image folders, IDX) into a validated :class:`Dataset`."""

from .builtin import BUILTIN_DATASETS
from .dataset import Dataset
from .load import from_array, load_dataset

__all__ = ["BUILTIN_DATASETS", "Dataset", "from_array", "load_dataset"]
