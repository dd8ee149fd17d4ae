"""Folders of PNG/JPEG images, flat or with one level of class sub-folders (PIL)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageMode

from vaekit.errors import DataError

from .dataset import Dataset
from .out_of_core import LazyImages

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _image_files(root: Path) -> list[Path]:
    """Image paths relative to ``root``, sorted, hidden files skipped; the layout is checked."""
    files = sorted(
        rel
        for rel in (p.relative_to(root) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if (root / rel).is_file() and not any(part.startswith(".") for part in rel.parts)
    )
    if not files:
        raise DataError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} files)")
    deep = next((f for f in files if len(f.parts) > 2), None)
    if deep is not None:
        raise DataError(f"{root}: '{deep}' is nested too deep; use at most one level of class sub-folders")
    if len({len(f.parts) for f in files}) > 1:
        top = next(f for f in files if len(f.parts) == 1)
        sub = next(f for f in files if len(f.parts) == 2)
        raise DataError(
            f"{root}: mixes images at the top ('{top}') and in class sub-folders ('{sub}'); "
            "put them all in class sub-folders or all at the top"
        )
    return files


def _corrupt(path: Path, err: Exception) -> DataError:
    return DataError(f"{path}: cannot read this image ({err}); remove or replace the file")


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """Mode and (height, width), without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.mode, (im.height, im.width)
    except PIL_ERRORS as err:
        raise _corrupt(path, err) from err


def _pixels(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """The image as 8-bit ``mode`` ("L" or "RGB") at ``size`` (height, width), shape (C, H, W)."""
    try:
        with Image.open(path) as im:
            if im.mode in SIXTEEN_BIT_MODES:  # Pillow would clip 16-bit values to 255 instead of scaling
                im = im.convert("I").point(lambda v: v / 256)
            im = im.convert(mode)
            if (im.height, im.width) != size:
                im = im.resize(size[::-1], Image.Resampling.BILINEAR)
            return np.atleast_3d(np.asarray(im)).transpose(2, 0, 1)
    except PIL_ERRORS as err:
        raise _corrupt(path, err) from err


def _common_size(root: Path, files: list[Path], sizes: list[tuple[int, int]]) -> tuple[int, int]:
    odd = next((i for i, size in enumerate(sizes) if size != sizes[0]), None)
    if odd is not None:
        raise DataError(
            f"{root}: images differ in size: '{files[0]}' is {sizes[0][0]}x{sizes[0][1]} but '{files[odd]}' "
            f"is {sizes[odd][0]}x{sizes[odd][1]} (height x width); pass --resize H W to resize them all"
        )
    return sizes[0]


def read_image_folder(root: Path, resize: tuple[int, int] | None = None, lazy: bool = False) -> Dataset:
    """uint8 images (N, C, H, W): grey if every file is grey, else RGB (alpha dropped).

    Labels are the class sub-folder names when there are sub-folders. ``lazy`` checks every
    header now but decodes an image only when it is read (:class:`LazyImages`), for folders
    larger than memory.
    """
    if resize is not None and (len(resize) != 2 or min(resize) < 1):
        raise DataError(f"--resize needs two positive integers H W, got {resize}")
    files = _image_files(root)
    modes, sizes = zip(*(_header(root / f) for f in files), strict=True)
    mode = "L" if all(ImageMode.getmode(m).basemode == "L" for m in modes) else "RGB"
    size = tuple(resize) if resize is not None else _common_size(root, files, list(sizes))
    x = LazyImages([root / f for f in files], partial(_pixels, mode=mode, size=size), (len(mode), *size))
    return Dataset(
        x=x if lazy else np.asarray(x),
        kind="image",
        labels=np.array([f.parts[0] for f in files]) if len(files[0].parts) == 2 else None,
        names=[f.as_posix() for f in files],
        value_max=255.0,
        source=str(root),
    )
