"""The in-memory form every loader returns, so training code never cares where data came from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .coding import Vocabulary


@dataclass
class Dataset:
    """Raw examples plus the metadata needed to label, scale and write results back.

    ``x`` keeps raw values (integers or float32; a memory-mapped ``.npy`` keeps its stored
    dtype): tables are (N, D), images (N, C, H, W). Scaling to [0, 1] is left to the model,
    using ``value_max``.
    """

    x: np.ndarray
    kind: str
    labels: np.ndarray | None = None
    columns: list[str] | None = None
    index: list | None = None
    names: list[str] | None = None
    value_max: float | None = None
    source: str = ""
    #: Known ground-truth factors of variation, (N, K), e.g. for disentanglement metrics.
    factors: np.ndarray | None = None
    factor_names: list[str] | None = None
    #: Tables: the vocabulary of each column given as text, categories or booleans (``x`` holds their codes).
    coding: dict[str, Vocabulary] | None = None

    @property
    def n(self) -> int:
        """Number of examples."""
        return len(self.x)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: (D,) for tables, (C, H, W) for images."""
        return tuple(self.x.shape[1:])

    def subset(self, idx: slice | np.ndarray | list[int]) -> Dataset:
        """The examples selected by a slice, integer indices or boolean mask, with their metadata.

        A slice keeps ``x`` a view, so subsets of memory-mapped data stay on disk.
        """
        positions = np.arange(self.n)[idx]
        return replace(
            self,
            x=self.x[idx],
            labels=None if self.labels is None else self.labels[idx],
            factors=None if self.factors is None else self.factors[idx],
            index=None if self.index is None else [self.index[i] for i in positions],
            names=None if self.names is None else [self.names[i] for i in positions],
        )
