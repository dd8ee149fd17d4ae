"""A procedural dSprites-like data set: simple shapes with known factors of variation.

Every image is one white shape on black, 64x64, drawn from five independent factors:
shape (square, ellipse, heart), scale (6 values), rotation (40 angles over a full turn,
anticlockwise), x and y position (32 values each, one pixel apart; x rightwards, y upwards). Because the factors
are known exactly, disentanglement metrics (MIG, FactorVAE, DCI, SAP) can be computed on it. It is
rendered locally with NumPy, deterministically from a seed: nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from vaekit.errors import DataError

from .dataset import Dataset

SIZE = 64
SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")
FACTOR_SIZES = (len(SHAPES), 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, FACTOR_SIZES[1])
ROTATIONS = np.linspace(0.0, 2 * np.pi, FACTOR_SIZES[2], endpoint=False)
#: Centres (in [0, 1] image coordinates) keep the largest shape inside the canvas.
POSITIONS = np.linspace(0.25, 0.75, FACTOR_SIZES[3])
#: Half-width of a shape at scale 1, as a fraction of the image side.
HALF_WIDTH = 0.17
_CHUNK = 2048  # images rendered per vectorised step (bounds temporary memory)


def _inside(shape: int, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Whether shape-local coordinates (p right, q up; the shape spans about [-1, 1]) are inside."""
    if shape == 0:
        return np.maximum(np.abs(p), np.abs(q)) <= 0.8
    if shape == 1:
        return p**2 + (q / 0.5) ** 2 <= 1.0
    p, q = 1.15 * p, 1.15 * q + 0.15  # the heart curve spans [-1.14, 1.14] x [-1, 1.25]: centre it
    return (p**2 + q**2 - 1.0) ** 3 - p**2 * q**3 <= 0.0


def render_shapes(factors: np.ndarray) -> np.ndarray:
    """Images ``(n, 1, 64, 64)`` uint8 (0 or 255) for factor class indices ``(n, 5)``."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise DataError(f"shape factors must be an (n, {len(FACTOR_NAMES)}) array, got {factors.shape}")
    if (factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any():
        raise DataError(f"shape factor classes must lie in 0..size-1 for sizes {FACTOR_SIZES}")
    grid = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE
    out = np.zeros((len(factors), 1, SIZE, SIZE), dtype=np.uint8)
    for start in range(0, len(factors), _CHUNK):
        f = factors[start : start + _CHUNK]
        half = (HALF_WIDTH * SCALES[f[:, 1]]).astype(np.float32)[:, None, None]
        angle = ROTATIONS[f[:, 2]].astype(np.float32)[:, None, None]
        dx = grid[None, None, :] - POSITIONS[f[:, 3]].astype(np.float32)[:, None, None]
        # y counts upwards, but image rows run downwards
        dy = (1 - POSITIONS[f[:, 4]]).astype(np.float32)[:, None, None] - grid[None, :, None]
        cos, sin = np.cos(angle), np.sin(angle)
        p, q = (cos * dx + sin * dy) / half, (cos * dy - sin * dx) / half
        block = out[start : start + _CHUNK, 0]
        for shape in range(len(SHAPES)):
            rows = f[:, 0] == shape
            block[rows] = 255 * _inside(shape, p[rows], q[rows])
    return out


def make_shapes(n: int = 10_000, seed: int = 0) -> Dataset:
    """``n`` shape images with factors drawn independently and uniformly, reproducible from ``seed``.

    ``factors`` holds the class index of each factor (columns ``factor_names``); ``labels``
    names the shape.
    """
    if n < 1:
        raise DataError(f"the shapes data set needs at least one example, got n={n}")
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, size, n) for size in FACTOR_SIZES], axis=1)
    return Dataset(
        x=render_shapes(factors),
        kind="image",
        labels=np.array(SHAPES)[factors[:, 0]],
        value_max=255.0,
        source=f"shapes (procedural, n={n}, seed={seed})",
        factors=factors,
        factor_names=list(FACTOR_NAMES),
    )
