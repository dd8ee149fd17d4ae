"""Preprocessing that travels with the model: scaling, standardising, binarising.

Images are divided by their full-intensity value so they lie in [0, 1]; tables are
standardised per column, except the 0/1 tables of the Bernoulli likelihood, which stay as
they are. The fitted statistics are saved in the run folder, so new data is mapped the same
way and model outputs go back to the user's original units.

New data must come in the training data's units, since it is mapped with the training
data's statistics; :meth:`Preprocessor.check` refuses what would be mapped wrongly:

* images: the same value scale. A model trained on integers (0..255, or a built-in's 0..16)
  takes integers within that range, a model trained on floats in [0, 1] values within [0, 1].
  Floats in [0, 1] given to a model of 8-bit images would otherwise be divided by 255 and
  seen as nearly black, so they are refused, naming both ranges; nothing is converted silently.
* tables: any range (standardising copes with new values); a Bernoulli table's values must be 0 or 1;
  text, category and boolean columns hold values seen in training (their codes are mapped onto the
  training table's vocabularies, ``vaekit.data.coding``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from vaekit.config.column_types import fit_columns, from_model_units, to_model_units
from vaekit.data.coding import Vocabulary, align
from vaekit.data.out_of_core import column_moments, is_out_of_core
from vaekit.data.validate import first_non_binary, value_range
from vaekit.errors import DataError

if TYPE_CHECKING:
    from vaekit.data import Dataset

#: Seed of the one fixed binarisation drawn for evaluation and "static" training data.
STATIC_BINARIZE_SEED = 1234


@dataclass
class Preprocessor:
    kind: str
    input_shape: tuple[int, ...]
    scale: float = 1.0
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    columns: list[str] | None = None
    #: Mixed tables: each column's type and categorical codes (see ``vaekit.config.column_types``).
    column_types: list[str] | None = None
    categories: list[list[float]] | None = None
    #: Images: whether the training values were integers (else floats); None for runs saved before it was kept.
    integers: bool | None = None
    #: Tables of the Bernoulli likelihood: values 0 and 1, kept as they are.
    binary: bool = False
    #: Tables: each text, category or boolean column's vocabulary (``Vocabulary.to_dict``): code i stands
    #: for its training value ``values[i]``.
    vocabularies: dict[str, dict] | None = None

    @classmethod
    def fit(cls, data: Dataset, column_types: Sequence[str] = (), binary: bool = False) -> Preprocessor:
        """Statistics of the training data; ``binary`` keeps a table's 0/1 values unscaled."""
        if data.kind == "image":
            return cls(kind="image", input_shape=tuple(data.shape), scale=float(data.value_max or 1.0),
                       integers=bool(np.issubdtype(data.x.dtype, np.integer)))
        columns = list(data.columns) if data.columns else None
        if binary:
            width = data.shape[0]
            return cls(kind="table", input_shape=tuple(data.shape), mean=[0.0] * width, std=[1.0] * width,
                       columns=columns, binary=True)
        x = data.x if is_out_of_core(data.x) else np.asarray(data.x, dtype=np.float64)
        if column_types:
            vocabularies = {name: v.to_dict() for name, v in (data.coding or {}).items()} or None
            return cls(kind="table", input_shape=tuple(data.shape), columns=columns, vocabularies=vocabularies,
                       column_types=list(column_types), **fit_columns(x, column_types, data.columns))
        # a table on disk is summarised block by block instead of being copied into memory
        mean, std = column_moments(x) if is_out_of_core(x) else (np.nanmean(x, axis=0), np.nanstd(x, axis=0))
        std[~(std > 0)] = 1.0  # a constant column stays constant instead of dividing by zero
        return cls(kind="table", input_shape=tuple(data.shape), mean=mean.tolist(), std=std.tolist(),
                   columns=columns)

    def check(self, data: Dataset) -> Dataset:
        """Refuse data that does not look like the training data, or is not in its units (see the module).

        Returns ``data`` with its coded columns in the training table's codes (the same object if none).
        """
        if data.kind != self.kind or tuple(data.shape) != self.input_shape:
            raise DataError(
                f"{data.source or 'the data'} has {data.kind} examples of shape {tuple(data.shape)}, "
                f"but the model was trained on {self.kind} examples of shape {self.input_shape}"
            )
        if self.columns and data.columns and list(data.columns) != self.columns:
            missing = [c for c in self.columns if c not in data.columns]
            detail = f"missing {missing}" if missing else "same columns in another order or with other names"
            raise DataError(f"the table's columns differ from the training table's ({detail})")
        if self.binary and (bad := first_non_binary(data)):
            raise DataError(f"{data.source or 'the data'}: the model was trained on a table of 0s and 1s "
                            f"(likelihood bernoulli), but {bad}")
        if self.kind == "image":
            self._check_scale(data)
        if not (self.vocabularies or data.coding):
            return data
        trained = {name: Vocabulary.from_dict(raw) for name, raw in (self.vocabularies or {}).items()}
        x = align(data.x, self.column_names(), data.coding or {}, {name: v.values for name, v in trained.items()})
        return replace(data, x=x.astype(np.float32), coding=trained)

    def _check_scale(self, data: Dataset) -> None:
        """Images on the training data's value scale (see the module)."""
        if data.value_max == self.scale:
            return  # the data's full intensity (inferred by the loader, or set by the caller) is the model's
        integers = bool(np.issubdtype(data.x.dtype, np.integer))
        lo, hi = value_range(data.x)
        # floats in [0, 1] lie within any model's range: only their type tells them from dark 8-bit images
        if (integers or not self.integers) and 0 <= lo and hi <= self.scale:
            return
        trained = (f"integers in 0..{self.scale:g}" if self.integers else
                   f"{'floats' if self.integers is False else 'values'} in [0, {self.scale:g}]")
        raise DataError(
            f"{data.source or 'the data'}: the model was trained on images of {trained}, but these are "
            f"{'integers' if integers else 'floats'} in {lo:g}..{hi:g}; give new images on the training data's "
            f"scale ({trained})"
        )

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw units -> model units (float32)."""
        if self.column_types:
            return to_model_units(x, self.column_types, self.mean, self.std, self.categories, self.column_names())
        x = np.asarray(x, dtype=np.float32)
        if self.kind == "image":
            return x / np.float32(self.scale)
        return ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        """Model units -> the user's original units."""
        if self.column_types:
            return from_model_units(x, self.column_types, self.mean, self.std, self.categories)
        x = np.asarray(x, dtype=np.float32)
        if self.kind == "image":
            return x * np.float32(self.scale)
        return x * np.asarray(self.std, np.float32) + np.asarray(self.mean, np.float32)

    def column_names(self) -> list[str]:
        """A table's column names (x0, x1, ... for one given without)."""
        return self.columns or [f"x{j}" for j in range(self.input_shape[0])]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Preprocessor:
        return cls(**{**raw, "input_shape": tuple(raw["input_shape"])})


def binarize(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One Bernoulli draw per entry with p = intensity (the standard stochastic binarisation)."""
    return torch.bernoulli(x, generator=generator)


def fixed_binarization(x: torch.Tensor) -> torch.Tensor:
    """The reproducible binarisation used for evaluation and for ``static`` training data."""
    return binarize(x, torch.Generator(device=x.device).manual_seed(STATIC_BINARIZE_SEED))
