"""Finding one example the user names on the command line: by position, by name, or by file.

``--from 12`` is the 13th example of DATA; ``--from cats/001.png`` an image folder's file
name (or a table's row label); ``--from photo.png`` any image file, read at the model's
size; ``--from row.csv`` a file that holds one example in the training data's format (a
one-row table, a one-image array). Anything else is a clear error that says what was accepted.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from vaekit.data import Dataset, load_dataset
from vaekit.data.images import IMAGE_SUFFIXES, _pixels
from vaekit.data.preprocessing import Preprocessor
from vaekit.errors import DataError


def find_example(data: Dataset, ref: str, option: str, pre: Preprocessor) -> tuple[Dataset, str]:
    """The one-example data set that ``ref`` names, and a short label for pictures.

    A standalone image file is read at the model's size and colour mode (from ``pre``) and
    put on the training data's intensity scale.
    """
    ref = ref.strip()
    if ref.lstrip("-").isdigit():
        position = int(ref)
        if not 0 <= position < data.n:
            raise DataError(f"{option} {position} is out of range: {data.source or 'DATA'} has {data.n} "
                            f"examples, numbered 0..{data.n - 1}")
        return data.subset([position]), f"#{position}"
    for keys in (data.names, data.index):
        if keys is not None:
            matches = [i for i, key in enumerate(keys) if str(key) == ref]
            if matches:
                return data.subset(matches[:1]), ref
    path = Path(ref)
    if not path.is_file():
        raise DataError(f"{option} {ref!r}: expected an example number 0..{data.n - 1}, a name or row label "
                        "of DATA, or an existing file (an image, or a table or array holding one example)")
    if path.suffix.lower() in IMAGE_SUFFIXES and pre.kind == "image":
        channels, height, width = pre.input_shape
        pixels = _pixels(path, "L" if channels == 1 else "RGB", (height, width))[None]
        x = pixels.astype(np.float32) * np.float32(pre.scale / 255)
        return Dataset(x=x, kind="image", value_max=pre.scale, source=str(path)), path.name
    one = load_dataset(str(path))
    try:
        one = replace(pre.check(replace(one, source="the file")), source=one.source)
    except DataError as err:
        raise DataError(f"{option} {path}: {err}") from err
    if one.n != 1:
        raise DataError(f"{option} {path}: holds {one.n} examples; give a file with exactly one, "
                        "or the example's number in DATA")
    return one, path.name

