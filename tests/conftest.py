"""Fixtures shared by several test modules."""

import numpy as np
import pytest
import torch

import vaekit


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 1,797 8x8 digits as a :class:`vaekit.Dataset`; read-only, since every module shares it."""
    data = vaekit.load_dataset("digits")
    data.x.setflags(write=False)
    return data


@pytest.fixture(scope="session")
def digits_npy(tmp_path_factory, digits):
    """sklearn's digits as 8-bit images (N, 1, 8, 8) in a .npy file, to read in memory or memory-mapped."""
    images = (digits.x * (255 / 16)).round().astype(np.uint8)
    path = tmp_path_factory.mktemp("npy") / "digits.npy"
    np.save(path, images)
    return path


@pytest.fixture
def float64():
    """Double precision for the test, for exactness checks at 1e-9 and below; float32 again afterwards."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)
