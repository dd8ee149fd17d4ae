"""Latent traversals: change one code dimension at a time and keep the rest fixed.

The standard picture of what each dimension encodes (Higgins et al., 2017): start from a
base code (an example's posterior mean or the origin), set one dimension to evenly spaced
values over the prior's range, decode. In a disentangled code each row changes one
property of the data. Dimensions are shown in order of their KL to the prior, so the ones
that carry information come first and collapsed ones (KL near 0) last.
"""

from __future__ import annotations

import numpy as np

from vaekit.errors import ConfigError


def kl_order(kl_per_dim: np.ndarray) -> list[int]:
    """Dimensions sorted by KL, largest first (ties keep index order)."""
    return [int(u) for u in np.argsort(-np.asarray(kl_per_dim), kind="stable")]


def check_dims(dims: list[int], latent_dim: int) -> list[int]:
    """``dims`` if each is a valid, distinct latent dimension, else a clear error."""
    bad = [u for u in dims if not 0 <= u < latent_dim]
    if bad:
        raise ConfigError(f"--dims {bad[0]} is not a latent dimension; this model has 0..{latent_dim - 1}")
    if len(set(dims)) != len(dims):
        raise ConfigError(f"--dims lists a dimension twice: {dims}")
    return list(dims)


def traversal_codes(base: np.ndarray, dims: list[int], values: np.ndarray) -> np.ndarray:
    """Codes ``(len(dims), len(values), d)``: row r is ``base`` with dimension ``dims[r]`` set to each value."""
    base = np.asarray(base, dtype=np.float32)
    codes = np.repeat(np.repeat(base[None, None], len(dims), 0), len(values), 1)
    for row, u in enumerate(dims):
        codes[row, :, u] = values
    return codes


def traversal_values(low: float, high: float, steps: int) -> np.ndarray:
    """``steps`` evenly spaced values from ``low`` to ``high`` (in prior standard deviations)."""
    if not low < high:
        raise ConfigError(f"--range needs LOW < HIGH, got {low} {high}")
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {steps}")
    return np.linspace(low, high, steps, dtype=np.float32)
