"""NumPy ``.npy`` / ``.npz`` files, and the array-shape rules shared with IDX files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from vaekit.errors import DataError

from .dataset import Dataset

DATA_KEYS = ("x", "X", "images", "data")
LABEL_KEYS = ("y", "labels", "targets")
CHANNELS = (1, 3, 4)


def _channel_first(x: np.ndarray, source: str) -> np.ndarray:
    """(N, C, H, W) from a 4-D array stored either channel-first or channel-last."""
    if x.shape[1] in CHANNELS:
        return x
    if x.shape[-1] in CHANNELS:
        return np.transpose(x, (0, 3, 1, 2))
    raise DataError(
        f"{source}: cannot tell the channel axis of a 4-D array of shape {x.shape}; "
        f"expected (N, C, H, W) or (N, H, W, C) with C in {CHANNELS}"
    )


def dataset_from_array(x: np.ndarray, source: str, labels: np.ndarray | None = None) -> Dataset:
    """A table (2-D) or images (3-D grey, 4-D with channels) from an array.

    A memory map is returned as a view in its stored dtype, never copied; in-memory floats
    become contiguous float32, booleans the floats 0.0 and 1.0 (binary data on the [0, 1] scale).
    ``value_max`` is left for the loader to infer after validation.
    """
    if x.dtype == np.bool_:
        x = x.astype(np.float32)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{source}: arrays of dtype {x.dtype} are not supported; save as float32 or integers")
    if x.ndim == 2:
        kind, columns = "table", [f"x{i}" for i in range(x.shape[1])]
    elif x.ndim in (3, 4):
        kind, columns = "image", None
        x = x[:, None] if x.ndim == 3 else _channel_first(x, source)
    else:
        hint = (" (a 1-D array looks like labels: pass it as labels, --labels or load_dataset(labels=...))"
                if x.ndim == 1 else "")
        raise DataError(
            f"{source}: expected a 2-D table or 3-D/4-D images, got an array of shape {x.shape}{hint}"
        )
    if not isinstance(x, np.memmap):
        x = np.ascontiguousarray(x, dtype=np.float32 if np.issubdtype(x.dtype, np.floating) else x.dtype)
    return Dataset(x=x, kind=kind, labels=labels, columns=columns, source=source)


def _pick(archive: np.lib.npyio.NpzFile, keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in archive.files), None)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The data array and the labels (None without them) of an ``.npz`` archive."""
    with np.load(path, allow_pickle=False) as archive:
        key = _pick(archive, DATA_KEYS) or (archive.files[0] if len(archive.files) == 1 else None)
        if key is None:
            raise DataError(
                f"{path}: cannot tell which array holds the data (keys: {', '.join(archive.files) or 'none'}); "
                f"store it under one of {', '.join(DATA_KEYS)}"
            )
        label_key = _pick(archive, LABEL_KEYS)
        return archive[key], None if label_key is None else archive[label_key]


def read_array_file(path: Path, mmap: bool = False) -> Dataset:
    """Load a ``.npy`` (optionally memory-mapped, read-only) or ``.npz`` file."""
    try:
        if path.suffix.lower() == ".npz":
            x, labels = _read_npz(path)
        else:
            x, labels = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False), None
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: cannot read this NumPy file ({err}); re-save it with numpy.save") from err
    return dataset_from_array(x, str(path), labels)
