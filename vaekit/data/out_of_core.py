"""Data that stays on disk: memory-mapped ``.npy`` files and image folders decoded on demand.

``load_dataset(spec, mmap=True)`` (``--mmap``) returns such data: a read-only ``np.memmap``
for ``.npy`` files, a :class:`LazyImages` for image folders. Both index like arrays, so
``Dataset.subset`` and the validators work unchanged, and ``vaekit.train.streaming`` trains on
them batch by batch with bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .validate import _row_blocks


class LazyImages:
    """An image folder as a read-only ``(N, C, H, W)`` uint8 array whose images are decoded when indexed.

    ``decode(path)`` returns one image as ``(C, H, W)`` uint8; it must be picklable (a
    module-level function or a ``functools.partial`` of one) so DataLoader workers can use it.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(
        self, paths: list[Path], decode: Callable[[Path], np.ndarray], image_shape: tuple[int, ...]
    ) -> None:
        self.paths = list(paths)
        self.decode = decode
        self.shape = (len(self.paths), *image_shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"LazyImages({len(self)} images of shape {self.shape[1:]})"

    def __getitem__(self, idx: Any) -> np.ndarray:
        """One image for an integer; an in-memory stack for a slice, integer array or boolean mask."""
        if isinstance(idx, (int, np.integer)):
            return self.decode(self.paths[idx])
        rows = np.arange(len(self))[idx]
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        for i, row in enumerate(rows):
            out[i] = self.decode(self.paths[row])
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every image decoded into memory (what an eager image-folder read returns)."""
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def is_out_of_core(x: Any) -> bool:
    """Whether ``x`` stays on disk (a memory map or a lazily decoded folder) rather than in memory."""
    return isinstance(x, (np.memmap, LazyImages))


def column_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of a table on disk (NaN skipped), two passes over row blocks."""
    total = np.zeros(x.shape[1])
    count = np.zeros(x.shape[1])
    for _, block in _row_blocks(x):
        block = block.astype(np.float64)
        total += np.nansum(block, axis=0)
        count += np.sum(~np.isnan(block), axis=0)
    mean = total / np.maximum(count, 1)
    squares = np.zeros(x.shape[1])
    for _, block in _row_blocks(x):
        squares += np.nansum((block.astype(np.float64) - mean) ** 2, axis=0)
    return mean, np.sqrt(squares / np.maximum(count, 1))
