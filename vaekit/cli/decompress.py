"""``vaekit decompress``: a ``.vkz`` file -> an array, a table or a folder of images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from vaekit.cli.common import add_parser
from vaekit.errors import VaekitError
from vaekit.io import atomic

if TYPE_CHECKING:
    from vaekit.compression import Decompressed

ORDER = 61

DESCRIPTION = """\
Decode a file written by `vaekit compress`, with the run folder it was made with. OUTPUT by its
form: a .npy file (the array, in the layout and dtype it was compressed from), a .csv file
(tables, with their column names), or a folder (images as PNG files, under the names they had
when they came from a folder; JPEG names get a .png suffix).

The checksum, format version and model fingerprint are verified first: a truncated or damaged
file, a file from a newer vaekit, or one made with another model is refused with a message that
says which, and nothing is written.

examples:
  vaekit decompress runs/binary test.vkz --out restored.npy
  vaekit decompress runs/faces photos.vkz --out photos_decoded/
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "decompress", "decode a .vkz file", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="the run folder the file was compressed with")
    p.add_argument("file", metavar="FILE.vkz", help="a file written by `vaekit compress`")
    p.add_argument("--out", required=True, metavar="OUTPUT",
                   help="a .npy or .csv file, or a folder for images")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run_decompress)


def _image_names(result: Decompressed) -> list[PurePosixPath]:
    """Relative PNG paths for the images; names from the file must stay inside the output folder."""
    names = result.dataset.names or [f"{i:06d}.png" for i in range(result.dataset.n)]
    paths = [PurePosixPath(name) for name in names]
    for path in paths:
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise VaekitError(f"the file names an image {str(path)!r} outside the output folder")
    return [path.with_suffix(".png") for path in paths]


def _as_uint8(result: Decompressed) -> np.ndarray:
    """Images ``(n, h, w, c)`` as 8-bit, scaled from the data's full intensity to 255."""
    x = result.dataset.x
    scale = result.dataset.value_max or 1.0
    if not (x.dtype == np.uint8 and scale == 255):
        x = np.clip(np.rint(x.astype(np.float64) * (255 / scale)), 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def write_image_folder(result: Decompressed, out: Path) -> None:
    """All images into a new folder, atomically: a temporary folder renamed into place at the end."""
    from PIL import Image

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VaekitError(f"--out {out} already exists; choose a new (or empty) folder")
    names = _image_names(result)
    pixels = _as_uint8(result)
    with atomic.atomic_dir(out) as tmp:
        for name, image in zip(names, pixels, strict=True):
            path = tmp.joinpath(*name.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(path)


def run_decompress(args: argparse.Namespace) -> int:
    import pandas as pd

    from vaekit.compression import decompress  # imported here: the rest of the CLI works without constriction
    from vaekit.estimator import load

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".csv", ""):
        raise VaekitError(f"--out {out}: choose a .npy or .csv file, or a folder (for images)")
    path = Path(args.file)
    if not path.is_file():
        raise VaekitError(f"{path} does not exist")
    vae = load(args.run_dir, device="cpu")
    result = decompress(vae, path.read_bytes(), source=str(path),
                        progress=not args.quiet and sys.stderr.isatty())
    kind = result.dataset.kind
    if suffix == ".npy":
        with atomic.atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, result.array)
    elif suffix == ".csv":
        if kind != "table":
            raise VaekitError(f"{path} holds images; write them to a .npy file or a folder")
        columns = result.dataset.columns or [f"x{j}" for j in range(result.dataset.x.shape[1])]
        atomic.write_text(out, pd.DataFrame(result.dataset.x, columns=columns).to_csv(index=False))
    elif kind == "image":
        write_image_folder(result, out)
    else:
        raise VaekitError(f"{path} holds a table; write it to a .csv or .npy file")
    if not args.quiet:
        print(f"wrote {out}: {result.dataset.n} examples ({result.mode})")
    return 0
