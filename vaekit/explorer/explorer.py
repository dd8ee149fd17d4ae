"""What the explorer page asks of a trained model and a dataset, with no HTTP in sight.

``LatentExplorer`` encodes the examples once, ranks latent dimensions by how much they carry
(KL to the prior, averaged over the data), builds 2-D maps on demand with
:func:`vaekit.latent.maps.embed` and answers the page's questions: show example i, decode these
codes or this map location, find neighbours, draw samples. Every answer is plain JSON-ready
data. Inputs are assumed valid; :mod:`vaekit.explorer.api` checks requests before they get here.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from vaekit.data import Dataset
from vaekit.data.missing import zero_filled
from vaekit.errors import ConfigError
from vaekit.estimator import VAE, DataLike, as_dataset
from vaekit.explorer.projection import MapProjection
from vaekit.explorer.render import column_vocabularies, json_number, render_examples, table_value
from vaekit.latent.maps import METHODS, embed
from vaekit.train.evaluation import latent_statistics

#: Latent dimensions offered as sliders, the most informative first.
SLIDER_DIMS = 8
#: The most points a map may hold: the page draws each as an SVG element.
MAX_POINTS = 20_000
#: Sliders reach at least this many prior standard deviations either side of zero.
SLIDER_REACH = 3.0
_DIGITS = 5


class LatentExplorer:
    """A fitted VAE and the (at most ``max_points``) examples shown on its latent map."""

    def __init__(self, vae: VAE, data: DataLike, max_points: int = 2000, seed: int = 0,
                 progress: bool = False) -> None:
        check_is_fitted(vae, "module_")
        if not 2 <= max_points <= MAX_POINTS:
            raise ConfigError(f"max_points must be between 2 and {MAX_POINTS} (the page draws every point), "
                              f"got {max_points}")
        data = vae.preprocessor_.check(as_dataset(data))
        if data.n > max_points:  # a fixed random subset: same seed, same map
            data = data.subset(np.sort(np.random.default_rng(seed).choice(data.n, max_points, replace=False)))
        self.vae = vae
        self.data = data
        self.seed = seed
        self.progress = progress
        x, mask = zero_filled(vae.preprocessor_.transform(data.x))  # missing entries: zero plus a mask
        device = vae.module_.device
        with torch.no_grad():
            stats = latent_statistics(vae.module_, x.to(device), None if mask is None else mask.to(device))
        self.codes = stats["mu"].cpu().numpy().astype(np.float64)
        kl = stats["kl_per_dim"].cpu().numpy()
        # Priors without an analytic KL rank dimensions by how much the codes vary instead.
        self.rank_by = "kl" if np.isfinite(kl).all() else "variance"
        self.dim_scores = kl if self.rank_by == "kl" else stats["activity"].cpu().numpy()
        self.neighbour_index = NearestNeighbors().fit(self.codes)
        self._maps: dict[str, tuple[list[list[float]], list[str], MapProjection]] = {}
        self._map_locks = {method: threading.Lock() for method in METHODS}

    @property
    def n(self) -> int:
        return self.data.n

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[1]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    # -- what the page needs once ----------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The data's kind and size, the ranked slider dimensions and what points can be coloured by."""
        order = np.argsort(-self.dim_scores, kind="stable")[:SLIDER_DIMS]
        reach = np.maximum(SLIDER_REACH, 1.1 * np.abs(self.codes).max(axis=0))
        pre = self.vae.preprocessor_
        return {
            "kind": pre.kind,
            "source": self.data.source,
            "n": self.n,
            "latent_dim": self.latent_dim,
            "input_shape": list(self.input_shape),
            "columns": self.vae.preprocessor_.column_names() if pre.kind == "table" else None,
            "methods": list(METHODS),
            "rank_by": self.rank_by,
            "sliders": [{"dim": int(d), "score": round(float(self.dim_scores[d]), 4),
                         "min": -round(float(reach[d]), 2), "max": round(float(reach[d]), 2)} for d in order],
            "colour_by": self._colour_fields(),
        }

    def _colour_fields(self) -> dict[str, dict[str, Any]]:
        """Per-point values to colour by: the label (categories), and for tables every column (numbers)."""
        fields: dict[str, dict[str, Any]] = {}
        if self.data.labels is not None:
            fields["label"] = {"type": "category", "values": [str(v) for v in self.data.labels]}
        if self.data.kind == "table":
            coded = column_vocabularies(self.vae.preprocessor_)
            columns = np.asarray(self.data.x, dtype=np.float64).T
            for j, (name, column) in enumerate(zip(self.vae.preprocessor_.column_names(), columns, strict=True)):
                if j in coded:  # text, category, boolean: one colour per value the user gave
                    values = [table_value(v, coded[j]) for v in column]
                    fields[name] = {"type": "category", "values": ["missing" if v is None else str(v) for v in values]}
                else:
                    fields[name] = {"type": "number", "values": [json_number(v) for v in column]}
        return fields

    # -- maps ------------------------------------------------------------------------------------
    def _map(self, method: str) -> tuple[list[list[float]], list[str], MapProjection]:
        with self._map_locks[method]:  # one computation per method, however many requests wait for it
            if method not in self._maps:
                coords, info = embed(self.codes, method, seed=self.seed, progress=self.progress)
                projection = MapProjection(self.codes, coords, linear=method == "pca")
                self._maps[method] = (np.round(coords, _DIGITS).tolist(), info["axis_labels"], projection)
            return self._maps[method]

    def map(self, method: str) -> dict[str, Any]:
        """The 2-D coordinates of every shown example on a PCA, t-SNE or UMAP map."""
        coords, axis_labels, _ = self._map(method)
        return {"method": method, "coords": coords, "axis_labels": axis_labels}

    # -- single examples -------------------------------------------------------------------------
    def example(self, index: int) -> dict[str, Any]:
        """Example ``index`` (of the shown ones), its code and its reconstruction."""
        code = self.codes[index]
        raw = np.asarray(self.data.x[index : index + 1], dtype=np.float32)
        label = None if self.data.labels is None else str(self.data.labels[index])
        name = None if self.data.names is None else self.data.names[index]
        return {"index": index, "label": label, "name": name, "code": _rounded(code),
                "example": render_examples(raw, self.vae.preprocessor_)[0],
                "reconstruction": self._render(code[None])[0]}

    def encode(self, values: np.ndarray, method: str) -> dict[str, Any]:
        """A new example (raw units, the data's shape): its code, reconstruction and place on a map."""
        # In the training data's raw units, so as a Dataset of that kind rather than an array to infer from.
        pre = self.vae.preprocessor_
        code = self.vae.transform(Dataset(x=values[None].astype(np.float32), kind=pre.kind, value_max=pre.scale))
        location = self._map(method)[2].locations(code)[0]
        return {"code": _rounded(code[0]), "reconstruction": self._render(code)[0],
                "location": _rounded(location)}

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, codes: np.ndarray) -> dict[str, Any]:
        """Decoder means for codes ``(m, latent_dim)``."""
        return {"items": self._render(codes)}

    def decode_map(self, points: np.ndarray, method: str) -> dict[str, Any]:
        """Decoder means at map locations ``(m, 2)``, with the codes they stand for."""
        codes = self._map(method)[2].codes(points)
        return {"codes": [_rounded(c) for c in codes], "items": self._render(codes)}

    def neighbours(self, code: np.ndarray, k: int, exclude: int | None = None) -> dict[str, Any]:
        """The ``k`` shown examples nearest to ``code`` in latent space (``exclude``: the example itself)."""
        distances, indices = self.neighbour_index.kneighbors(code[None], n_neighbors=min(self.n, k + 1))
        found = [(int(i), float(d)) for i, d in zip(indices[0], distances[0], strict=True) if i != exclude][:k]
        chosen = [i for i, _ in found]
        raw = np.asarray(self.data.x[chosen], dtype=np.float32)
        return {"indices": chosen, "distances": [round(d, _DIGITS) for _, d in found],
                "items": render_examples(raw, self.vae.preprocessor_)}

    def samples(self, n: int, temperature: float, seed: int) -> dict[str, Any]:
        """New examples decoded from prior draws scaled by ``temperature``."""
        return {"items": render_examples(self.vae.sample(n, temperature=temperature, seed=seed),
                                         self.vae.preprocessor_)}

    def _render(self, codes: np.ndarray) -> list[Any]:
        return render_examples(self.vae.inverse_transform(np.asarray(codes, dtype=np.float32)),
                               self.vae.preprocessor_)


def _rounded(vector: np.ndarray) -> list[float]:
    return [round(float(v), _DIGITS) for v in vector]
