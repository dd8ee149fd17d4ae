"""Damage masks for images and the before/after picture of inpainting.

A mask is boolean, shaped like the images ``(n, c, h, w)``, True where a pixel is damaged
(to be filled). ``rect`` hides the central block of half the height and half the width,
``random`` each pixel position with probability ``rate``; a mask file (``.npy`` or a
black-and-white image, white/non-zero = damaged) may hold one mask for all images or one per
image. Filling itself is :func:`vaekit.missing_data.imputation.fill_values`, as for tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vaekit.errors import DataError
from vaekit.pictures.plots import plot_images

MASK_KINDS = ("rect", "random")
#: Damaged pixels are shown in this colour in the "damaged" row of the picture.
DAMAGE_RGB = (1.0, 0.0, 0.0)


def rect_mask(shape: tuple[int, ...]) -> np.ndarray:
    """The central block of half the height and half the width, in every image and channel."""
    h, w = shape[2:]
    mask = np.zeros(shape, dtype=bool)
    mask[:, :, h // 4 : h // 4 + max(1, h // 2), w // 4 : w // 4 + max(1, w // 2)] = True
    return mask


def random_mask(shape: tuple[int, ...], rate: float, seed: int) -> np.ndarray:
    """Each pixel position (all its channels together) damaged with probability ``rate``."""
    if not 0 < rate < 1:
        raise DataError(f"--rate must lie strictly between 0 and 1, got {rate}")
    n, _, h, w = shape
    return np.broadcast_to(np.random.default_rng(seed).random((n, 1, h, w)) < rate, shape).copy()


def read_mask(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A mask file: (h, w) for every image, (n, h, w), or (n, c, h, w); non-zero = damaged."""
    try:
        if path.suffix.lower() == ".npy":
            raw = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as im:
                raw = np.asarray(im.convert("L")) > 127
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read this mask ({err}); use a .npy array or a PNG") from err
    n, c, h, w = shape
    raw = np.asarray(raw) != 0
    if raw.shape not in {(h, w), (n, h, w), (n, 1, h, w), (n, c, h, w)}:
        raise DataError(f"{path}: a mask of shape {raw.shape} does not fit {n} images of {c}x{h}x{w}; "
                        f"use ({h}, {w}), ({n}, {h}, {w}) or ({n}, {c}, {h}, {w})")
    return np.broadcast_to(raw.reshape((-1, 1, h, w) if raw.ndim < 4 else raw.shape), shape).copy()


def make_mask(spec: str, shape: tuple[int, ...], rate: float = 0.5, seed: int = 0) -> np.ndarray:
    """``rect``, ``random`` or a mask file, as a boolean array of ``shape`` (True = damaged)."""
    if spec == "rect":
        return rect_mask(shape)
    if spec == "random":
        return random_mask(shape, rate, seed)
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"--mask {spec}: not rect, random or an existing mask file")
    return read_mask(path, shape)


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images[:, :3]


def plot_inpainting(original: np.ndarray, damaged: np.ndarray, filled: np.ndarray, path: str | Path,
                    ncol: int = 8) -> None:
    """Rows of three: originals, damaged pixels in red, inpainted. Images in [0, 1], ``(n, c, h, w)``."""
    shown = _rgb(np.clip(np.nan_to_num(damaged), 0, 1))
    hole = np.isnan(damaged).any(axis=1, keepdims=True)
    shown = np.where(hole, np.asarray(DAMAGE_RGB, np.float32)[None, :, None, None], shown)
    ncol = min(ncol, len(original))
    rows = []
    for start in range(0, len(original), ncol):
        sl = slice(start, start + ncol)
        rows += [_rgb(np.nan_to_num(original[sl])), shown[sl], _rgb(filled[sl])]
        if len(rows[-1]) < ncol:  # pad a short last group so rows stay aligned
            rows[-3:] = [np.concatenate([r, np.ones((ncol - len(r), *r.shape[1:]), r.dtype)]) for r in rows[-3:]]
    plot_images(np.concatenate(rows).astype(np.float32), path, "original / damaged (red) / inpainted", ncol)
