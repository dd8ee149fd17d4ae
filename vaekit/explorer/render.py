"""Examples as the browser shows them: images as PNG data URLs, table rows as column/value lists.

A table's text, category and boolean columns are shown as the values the user gave (the
training table's vocabulary), not as the integer codes the model works with.

PNGs are built by Pillow at the data's own size; the page enlarges them with nearest-neighbour
scaling, so an 8x8 digit stays crisp and the JSON stays small.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from vaekit.data.coding import Vocabulary
from vaekit.data.preprocessing import Preprocessor


def image_data_url(image: np.ndarray) -> str:
    """A ``data:image/png`` URL for one image ``(C, H, W)`` in model units ([0, 1]).

    One channel is grey, three are RGB; any other count is shown as the channels' mean. Missing
    (NaN) pixels are drawn black.
    """
    pixels = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0), 0.0, 1.0)
    array = pixels.transpose(1, 2, 0) if pixels.shape[0] == 3 else pixels.mean(axis=0)
    buffer = io.BytesIO()  # uint8 (H, W) is saved as grey, (H, W, 3) as RGB
    Image.fromarray(np.round(array * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_examples(values: np.ndarray, pre: Preprocessor) -> list[Any]:
    """Examples in the user's units, ready for JSON: data URLs for images, lists of numbers for tables."""
    if pre.kind == "image":
        return [image_data_url(image) for image in pre.transform(values)]
    coded = column_vocabularies(pre)
    return [[table_value(v, coded.get(j)) for j, v in enumerate(row)] for row in np.asarray(values, dtype=np.float64)]


def column_vocabularies(pre: Preprocessor) -> dict[int, Vocabulary]:
    """The coded columns of a table model, by column position."""
    names = pre.column_names()
    return {names.index(name): Vocabulary.from_dict(raw) for name, raw in (pre.vocabularies or {}).items()
            if name in names}


def table_value(value: float, vocabulary: Vocabulary | None) -> float | str | bool | None:
    """One table entry for JSON: a number, or a coded column's own value (the nearest code's); None if missing."""
    if vocabulary is None or not np.isfinite(value):
        return json_number(value)
    code = int(np.clip(np.round(value), 0, len(vocabulary.values) - 1))
    return vocabulary.values[code]


def json_number(value: float) -> float | None:
    """JSON has no NaN: a missing table entry travels as null."""
    return round(float(value), 6) if np.isfinite(value) else None
