"""IDX files (the MNIST format), raw or gzipped, recognised by their magic bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vaekit.errors import DataError

from .arrays import dataset_from_array
from .dataset import Dataset

GZIP_MAGIC = b"\x1f\x8b"
DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path, count: int = -1) -> bytes:
    """The (decompressed) file content; gzip is detected by content since names vary."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    try:
        with (gzip.open if gzipped else open)(path, "rb") as f:
            return f.read(count)
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot decompress this gzip file ({err}); download it again") from err


def _looks_like_idx(head: bytes) -> bool:
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in DTYPES and head[3] > 0


def is_idx(path: Path) -> bool:
    """Whether the file starts with an IDX header (after gunzip)."""
    try:
        return _looks_like_idx(_read_bytes(path, 4))
    except DataError:
        return False


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order; a truncated file is refused."""
    data = _read_bytes(path)
    if not _looks_like_idx(data):
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: the IDX header is truncated; download the file again")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: the header announces shape {dims} ({expected} bytes of values) but the file holds "
            f"{len(data) - header} bytes; it is truncated or corrupt, download it again"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx_dataset(path: Path) -> Dataset:
    """Images (3-D IDX) or a table (2-D IDX)."""
    return dataset_from_array(read_idx(path), str(path))
