"""Two-dimensional maps of latent codes: PCA, t-SNE (openTSNE) and UMAP (umap-learn).

``embed`` is the one entry point, so every picture of a latent space (the ``latent``
command, the HTML report, an interactive explorer) places points the same way. PCA is
linear and keeps global distances, with the share of variance each axis explains; t-SNE
and UMAP keep neighbourhoods, which shows clusters but not distances between them. t-SNE is
openTSNE's: FFT-accelerated (Linderman et al. 2019) from 10,000 points, Barnes-Hut below,
where a fixed-size FFT grid would cost more than it saves (openTSNE's own rule).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from vaekit.errors import ConfigError, DataError

METHODS = ("pca", "tsne", "umap")
#: Fewer points than this cannot be mapped by neighbourhood methods.
MIN_NEIGHBOUR_POINTS = 5
TSNE_PERPLEXITY = 30.0
#: Up to this many codes, t-SNE finds exact nearest neighbours; above, openTSNE's approximate search.
EXACT_NEIGHBOURS_UP_TO = 50_000
UMAP_NEIGHBOURS = 15
_TSNE_CALLBACK_EVERY = 25


def embed(
    codes: np.ndarray, method: str = "pca", seed: int = 0, n_jobs: int = 1, progress: bool = False
) -> tuple[np.ndarray, dict[str, Any]]:
    """Coordinates ``(n, 2)`` for codes ``(n, d)``, and what the method reports about them.

    ``n_jobs`` threads for t-SNE (UMAP with a fixed seed runs on one); ``progress`` shows a
    t-SNE progress bar.

    ``info`` always has ``method`` and ``axis_labels``; PCA adds ``explained_variance_ratio``
    for every component (not just the two shown), t-SNE its ``kl_divergence``.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise DataError(f"a latent map needs an (n, d) array of at least 2 codes, got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise DataError("the codes contain NaN or infinite values")
    if method == "pca":
        return _pca(codes)
    if method not in METHODS:
        raise ConfigError(f"unknown map method {method!r}; choose one of {', '.join(METHODS)}")
    if len(codes) < MIN_NEIGHBOUR_POINTS:
        raise DataError(f"{method} needs at least {MIN_NEIGHBOUR_POINTS} examples, got {len(codes)}")
    if method == "tsne":
        return _tsne(codes, seed, n_jobs, progress)
    return _umap(codes, seed)


def _pca(codes: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.decomposition import PCA  # imported where used, as below: `--help` lists METHODS only

    pca = PCA(n_components=min(codes.shape), svd_solver="full")
    full = pca.fit_transform(codes)
    coords = np.zeros((len(codes), 2))
    shown = min(2, full.shape[1])
    coords[:, :shown] = full[:, :shown]
    ratio = pca.explained_variance_ratio_
    labels = [f"PC{j + 1} ({100 * ratio[j]:.1f}% of variance)" if j < len(ratio) else f"PC{j + 1} (none)"
              for j in range(2)]
    return coords, {"method": "pca", "axis_labels": labels, "explained_variance_ratio": ratio.tolist()}


def _tsne(codes: np.ndarray, seed: int, n_jobs: int, progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    from openTSNE import TSNE
    from tqdm.auto import tqdm

    perplexity = min(TSNE_PERPLEXITY, (len(codes) - 1) / 3)
    # Exact neighbours: latent codes have few dimensions, where a tree search beats Annoy (2.2 s
    # against 5.3 s for 10,000 codes). Grid intervals two map units wide: the FFT grid grows with
    # the map's extent, and openTSNE's default of one unit took 65 s for 10,000 shape codes against
    # 15-19 s, for a map somewhat worse by t-SNE's own measure (exact KL 1.38 against 1.27; 10-NN
    # kept 0.636 against 0.647). BENCHMARKS.md has the trade-off in full.
    tsne = TSNE(perplexity=perplexity, negative_gradient_method="auto", random_state=seed, n_jobs=n_jobs,
                neighbors="exact" if len(codes) <= EXACT_NEIGHBOURS_UP_TO else "auto", ints_in_interval=2)
    bar = tqdm(total=tsne.early_exaggeration_iter + tsne.n_iter, desc="t-SNE", unit="iter", disable=not progress)
    if progress:
        def tick(*_: Any) -> bool:
            bar.update(_TSNE_CALLBACK_EVERY)
            return False  # True would stop the optimisation

        tsne.callbacks = [tick]
        tsne.callbacks_every_iters = _TSNE_CALLBACK_EVERY
    with bar:
        embedding = tsne.fit(codes)
    return np.asarray(embedding), {
        "method": "tsne", "axis_labels": ["t-SNE 1", "t-SNE 2"], "perplexity": perplexity,
        "kl_divergence": float(embedding.kl_divergence),
    }


def _umap(codes: np.ndarray, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    import umap
    from sklearn.neighbors import NearestNeighbors

    neighbours = min(UMAP_NEIGHBOURS, len(codes) - 1)
    # Exact neighbours (each point its own first) from scikit-learn, handed to umap-learn: its own
    # search is numba code (pynndescent from 4,096 points) compiled afresh in every process, which
    # took 77 s against 16 s in all for 5,000 codes on a busy 2-core machine.
    distances, indices = NearestNeighbors(n_neighbors=neighbours).fit(codes).kneighbors(codes)
    # A fixed random_state makes umap-learn reproducible, at the price of running on one thread.
    reducer = umap.UMAP(n_neighbors=neighbours, random_state=seed, n_jobs=1, precomputed_knn=(indices, distances))
    with warnings.catch_warnings():  # without a search index only `transform` of new data is lost
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        coords = reducer.fit_transform(codes)
    return np.asarray(coords, dtype=np.float64), {
        "method": "umap", "axis_labels": ["UMAP 1", "UMAP 2"], "n_neighbors": neighbours,
    }
