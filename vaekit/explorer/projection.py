"""Going between a 2-D latent map and the latent space, in both directions.

A click on the map must become a code to decode, and a new example's code must become a
place on the map. For PCA both directions are linear and least squares recovers them exactly
(the map *is* a linear projection of the codes). t-SNE and UMAP have no inverse, so a location
becomes the distance-weighted mean of its nearest mapped codes, the usual stand-in; points far
outside the map therefore decode like the examples at its edge.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsRegressor

#: Mapped examples averaged to place a location on a nonlinear map (or a code on it).
NEIGHBOURS = 8


class MapProjection:
    """Fitted on the mapped examples: their codes ``(n, d)`` and map coordinates ``(n, 2)``."""

    def __init__(self, codes: np.ndarray, coords: np.ndarray, linear: bool) -> None:
        self.to_codes_ = self._regressor(linear, len(codes)).fit(coords, codes)
        self.to_map_ = self._regressor(linear, len(codes)).fit(codes, coords)

    @staticmethod
    def _regressor(linear: bool, n: int) -> RegressorMixin:
        return LinearRegression() if linear else KNeighborsRegressor(min(NEIGHBOURS, n), weights="distance")

    def codes(self, points: np.ndarray) -> np.ndarray:
        """Latent codes ``(m, d)`` for map locations ``(m, 2)``."""
        return np.asarray(self.to_codes_.predict(np.asarray(points, dtype=np.float64)))

    def locations(self, codes: np.ndarray) -> np.ndarray:
        """Map locations ``(m, 2)`` for latent codes ``(m, d)``."""
        return np.asarray(self.to_map_.predict(np.asarray(codes, dtype=np.float64)))
