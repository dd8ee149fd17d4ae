"""``vaekit decompress``: a ``.vkz`` file -> an array, a table or a folder of images."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from vaekit.cli.common import add_parser
from vaekit.errors import VaekitError
from vaekit.io import atomic

if TYPE_CHECKING:
    from vaekit.compression import CompressedFile, Decompressed

ORDER = 61

DESCRIPTION = """\
Decode a file written by `vaekit compress`, with the run folder it was made with. OUTPUT by its
form: a .npy file (the array, in the layout and dtype it was compressed from), a .csv file
(tables, with their column names), or a folder (images as PNG files, under the names they had
when they came from a folder; JPEG names get a .png suffix).

--items A:B (or N) decodes only items A to B-1 (or item N), counted from 0: the file is in
chunks coded alone, and only the chunks that hold them are read and decoded. Output is written
chunk by chunk (a .npy file through a memory map), so files larger than memory decode too.

The checksums, format version and model fingerprint are verified first: a truncated or damaged
file (naming the chunk), a file from a newer vaekit, or one made with another model is refused
with a message that says which, and nothing is written.

examples:
  vaekit decompress runs/binary test.vkz --out restored.npy
  vaekit decompress runs/binary test.vkz --out some.npy --items 100:200
  vaekit decompress runs/faces photos.vkz --out photos_decoded/
"""


def parse_items(text: str) -> int | slice:
    """``N`` -> item N; ``A:B`` -> items A to B-1 (either end may be left out, negative counts from the end)."""
    match = re.fullmatch(r"\s*(-?\d+)?\s*(:)?\s*(-?\d+)?\s*", text)
    if not match or (match[2] is None and (match[1] is None or match[3] is not None)):
        raise argparse.ArgumentTypeError(f"expected an item number N or a range A:B such as 100:200, got {text!r}")
    if match[2] is None:
        return int(match[1])
    return slice(None if match[1] is None else int(match[1]), None if match[3] is None else int(match[3]))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "decompress", "decode a .vkz file", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="the run folder the file was compressed with")
    p.add_argument("file", metavar="FILE.vkz", help="a file written by `vaekit compress`")
    p.add_argument("--out", required=True, metavar="OUTPUT",
                   help="a .npy or .csv file, or a folder for images")
    p.add_argument("--items", type=parse_items, metavar="A:B",
                   help="decode only items A to B-1 (or one item N), counted from 0; only the chunks holding "
                        "them are read")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run_decompress)


def _image_names(result: Decompressed, first: int) -> list[PurePosixPath]:
    """Relative PNG paths for the images (numbered from item ``first`` when the file names none);
    names from the file must stay inside the output folder."""
    names = result.dataset.names or [f"{first + i:06d}.png" for i in range(result.dataset.n)]
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


def write_image_folder(pieces: Iterator[Decompressed], first: int, out: Path) -> None:
    """Images, a chunk at a time, into a new folder, atomically: a temporary folder renamed into place
    at the end. ``first`` is the item number of the first image."""
    from PIL import Image

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VaekitError(f"--out {out} already exists; choose a new (or empty) folder")
    with atomic.atomic_dir(out) as tmp:
        for piece in pieces:
            for name, image in zip(_image_names(piece, first), _as_uint8(piece), strict=True):
                path = tmp.joinpath(*name.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(path)
            first += piece.dataset.n


def _write_npy(opened: CompressedFile, wanted: range, pieces: Iterator[Decompressed], out: Path) -> None:
    """The items into a .npy file through a memory map, a chunk at a time."""
    with atomic.atomic_path(out) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=opened.dtype,
                                          shape=(len(wanted), *opened.array_shape))
        at = 0
        for piece in pieces:
            array[at : at + piece.dataset.n] = piece.array
            at += piece.dataset.n
        array.flush()
        del array


def run_decompress(args: argparse.Namespace) -> int:
    import pandas as pd

    from vaekit.compression import CompressedFile  # imported here: the rest of the CLI works without constriction
    from vaekit.estimator import load

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".csv", ""):
        raise VaekitError(f"--out {out}: choose a .npy or .csv file, or a folder (for images)")
    path = Path(args.file)
    if not path.is_file():
        raise VaekitError(f"{path} does not exist")
    vae = load(args.run_dir, device="cpu")
    with CompressedFile(vae, path) as opened:
        wanted = opened.select(args.items)
        if suffix == ".csv" and opened.kind != "table":
            raise VaekitError(f"{path} holds images; write them to a .npy file or a folder")
        if suffix == "" and opened.kind != "image":
            raise VaekitError(f"{path} holds a table; write it to a .csv or .npy file")
        pieces = opened.chunks(args.items, progress=not args.quiet and sys.stderr.isatty())
        if suffix == ".npy":
            _write_npy(opened, wanted, pieces, out)
        elif suffix == ".csv":
            result = opened.read(args.items)
            columns = result.dataset.columns or [f"x{j}" for j in range(result.dataset.x.shape[1])]
            atomic.write_text(out, pd.DataFrame(result.dataset.x, columns=columns).to_csv(index=False))
        else:
            write_image_folder(pieces, wanted.start, out)
    if not args.quiet:
        print(f"wrote {out}: {len(wanted)} examples ({opened.mode})")
    return 0
