"""From a fitted VAE to pictures and files of its latent space.

Each function here is what one command draws (``latent``, ``interpolate``, ``traverse``);
the HTML report calls the same functions, so a picture in the report and the one the
command writes are the same picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaekit.data import Dataset
from vaekit.errors import DataError
from vaekit.estimator import VAE
from vaekit.io import atomic
from vaekit.latent.dims import LatentDimensions
from vaekit.latent.maps import embed
from vaekit.latent.plots import plot_image_rows, plot_latent_map, plot_table_paths
from vaekit.latent.traversal import traversal_codes

#: Coordinate column names in the CSV written beside a map.
AXIS_COLUMNS = {"pca": ("pc1", "pc2"), "tsne": ("tsne1", "tsne2"), "umap": ("umap1", "umap2")}
METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def color_values(data: Dataset, by: str | None) -> tuple[np.ndarray | None, str]:
    """What to colour a map by: labels (the default when present), a table column or a known factor."""
    if by is None:
        return (data.labels, "label") if data.labels is not None else (None, "")
    if by == "labels":
        if data.labels is None:
            raise DataError("--color-by labels: DATA has no labels; pass --labels FILE or --label-column COL")
        return data.labels, "label"
    if data.columns and by in data.columns:
        return np.asarray(data.x[:, data.columns.index(by)], dtype=np.float64), by
    if data.factor_names and by in data.factor_names:
        return data.factors[:, data.factor_names.index(by)], by
    choices = ["labels"] * (data.labels is not None) + list(data.columns or []) + list(data.factor_names or [])
    raise DataError(f"--color-by {by!r}: DATA has no such column; choose one of: {', '.join(choices)}"
                    if choices else f"--color-by {by!r}: DATA has no labels, columns or factors to colour by "
                    "(--factors FILE adds factors)")


def example_names(data: Dataset) -> list:
    """How each example is named in output files: its file name, row label or position."""
    return list(data.names or data.index or range(data.n))


def draw_latent_map(
    vae: VAE,
    data: Dataset,
    path: str | Path,
    method: str = "pca",
    color_by: str | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
    codes: np.ndarray | None = None,
) -> dict[str, Any]:
    """Map ``data``'s posterior means to 2-D, draw ``path`` (.png) and write the same name .csv.

    PCA also writes ``NAME.variance.csv``: the share of latent variance of every component,
    so the numbers printed on screen are kept with the picture. Returns what the embedding
    reports (for PCA, explained variance per component) and ``files``, the paths written.
    ``codes`` skips encoding when the posterior means are already at hand.
    """
    color, color_name = color_values(data, color_by)
    codes = vae.transform(data) if codes is None else codes
    coords, info = embed(codes, method, seed=seed, n_jobs=n_jobs, progress=progress)
    path = Path(path)
    table = pd.DataFrame({"example": example_names(data)})
    for name, column in zip(AXIS_COLUMNS[method], coords.T, strict=True):
        table[name] = column
    if data.labels is not None:
        table["label"] = data.labels
    if color is not None and color is not data.labels:
        table[color_name if color_name not in table else f"{color_name}_colour"] = color
    title = f"{METHOD_NAMES[method]} of the posterior means of {data.n} examples"
    plot_latent_map(coords, path, info["axis_labels"], title, color, color_name)
    written = [path, path.with_suffix(".csv")]
    atomic.write_text(written[1], table.to_csv(index=False))
    if method == "pca":
        ratio = np.asarray(info["explained_variance_ratio"])
        variance = pd.DataFrame({"component": [f"PC{j + 1}" for j in range(len(ratio))],
                                 "explained_variance_ratio": ratio, "cumulative": np.cumsum(ratio)})
        written.append(path.with_suffix(".variance.csv"))
        atomic.write_text(written[-1], variance.to_csv(index=False))
    return {**info, "files": written}


def _decode(vae: VAE, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decoder means of ``codes [rows, steps, d]``: raw units and model units, each ``[rows, steps, *shape]``."""
    rows, steps, d = codes.shape
    raw = vae.inverse_transform(codes.reshape(-1, d))
    model = vae.preprocessor_.transform(raw)
    shape = (rows, steps, *raw.shape[1:])
    return raw.reshape(shape), model.reshape(shape)


def _columns(vae: VAE) -> list[str]:
    pre = vae.preprocessor_
    return list(pre.columns or [f"x{j}" for j in range(pre.input_shape[0])])


def draw_decoded(
    vae: VAE,
    codes: np.ndarray,
    path: str | Path,
    title: str,
    row_labels: list[str],
    steps: np.ndarray,
    step_name: str,
    row_key: tuple[str, list],
) -> np.ndarray:
    """Decode ``codes [rows, steps, d]`` and write ``path``; return the decoded values in raw units.

    ``.png``: images as a labelled grid, table rows as line panels (one per row of codes).
    ``.npy``: the raw array ``[rows, steps, *shape]``. ``.csv`` (tables): one line per code,
    in original units, led by the row's key (``row_key``: column name, one value per row)
    and the step value.
    """
    path = Path(path)
    raw, model = _decode(vae, codes)
    if path.suffix == ".png":
        if vae.preprocessor_.kind == "image":
            plot_image_rows(model, path, title, row_labels, [f"{s:+.2g}" for s in steps])
        else:
            plot_table_paths(model, steps, path, _columns(vae), row_labels, step_name)
    elif path.suffix == ".npy":
        with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, raw)
    else:
        rows, n_steps = codes.shape[:2]
        table = pd.DataFrame(raw.reshape(rows * n_steps, -1), columns=_columns(vae))
        table.insert(0, step_name, np.tile(steps, rows))
        table.insert(0, row_key[0], np.repeat(row_key[1], n_steps))
        atomic.write_text(path, table.to_csv(index=False))
    return raw


def draw_traversal(
    vae: VAE,
    base: np.ndarray,
    base_name: str,
    dims: list[int],
    values: np.ndarray,
    path: str | Path,
    stats: LatentDimensions | None = None,
) -> np.ndarray:
    """Traverse each of ``dims`` over ``values`` around ``base``; decode and write ``path``."""
    codes = traversal_codes(base, dims, values)
    with_kl = stats is not None and stats.has_kl
    labels = [f"z{u} (KL {stats.kl_per_dim[u]:.2f})" if with_kl else f"z{u}" for u in dims]
    title = f"traversals around {base_name}: one latent dimension per row"
    return draw_decoded(vae, codes, path, title, labels, values, "value", ("dim", dims))
