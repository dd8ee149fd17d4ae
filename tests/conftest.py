"""Fixtures shared by several test modules."""

import numpy as np
import pytest

import vaekit


@pytest.fixture(scope="session")
def digits_npy(tmp_path_factory):
    """sklearn's digits as 8-bit images (N, 1, 8, 8) in a .npy file, to read in memory or memory-mapped."""
    images = (vaekit.load_dataset("digits").x * (255 / 16)).round().astype(np.uint8)
    path = tmp_path_factory.mktemp("npy") / "digits.npy"
    np.save(path, images)
    return path
