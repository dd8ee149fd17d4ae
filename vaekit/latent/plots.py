"""Pictures of a latent space: maps, per-dimension bars, decoded paths and traversals.

Like ``vaekit.pictures.plots``: matplotlib's object API (no pyplot state), files written atomically.
Decoded images come in as ``[rows, steps, C, H, W]`` in [0, 1]; decoded table rows as
``[rows, steps, D]`` in standardised units, so columns of any scale share one axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from vaekit.latent.dims import LatentDimensions
from vaekit.pictures.plots import MAX_TABLE_COLUMNS, image_grid, save_figure

#: Colour values with at most this many distinct entries are drawn as categories with a legend.
MAX_CATEGORIES = 20


def is_categorical(values: np.ndarray) -> bool:
    """Text, or few distinct values: one colour per category rather than a colour scale."""
    values = np.asarray(values)
    return not np.issubdtype(values.dtype, np.number) or len(np.unique(values)) <= MAX_CATEGORIES


def plot_latent_map(
    coords: np.ndarray,
    path: str | Path,
    axis_labels: Sequence[str],
    title: str,
    color: np.ndarray | None = None,
    color_name: str = "",
) -> None:
    """Scatter of 2-D coordinates, coloured by categories (legend) or by a number (colour bar)."""
    fig = Figure(figsize=(7.5, 6), dpi=120)
    ax = fig.add_subplot()
    size = float(np.clip(3000 / len(coords), 1, 30))
    if color is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=size, alpha=0.6, linewidths=0)
    elif is_categorical(color):
        categories = np.unique(color)
        cmap = colormaps["tab10" if len(categories) <= 10 else "tab20"]
        for i, category in enumerate(categories):
            shown = color == category
            ax.scatter(coords[shown, 0], coords[shown, 1], s=size, alpha=0.7, linewidths=0, color=cmap(i),
                       label=str(category))
        ax.legend(title=color_name, markerscale=max(1.0, 6 / size**0.5), fontsize=8,
                  loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        points = ax.scatter(coords[:, 0], coords[:, 1], c=np.asarray(color, dtype=float), s=size,
                            alpha=0.7, linewidths=0, cmap="viridis")
        fig.colorbar(points, ax=ax, label=color_name)
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_dimensions(dims: LatentDimensions, path: str | Path) -> None:
    """Bars of KL and of activity per latent dimension, most informative first; inactive ones grey."""
    order = dims.order
    names = [f"z{u}" for u in order]
    colours = ["tab:blue" if dims.active[u] else "tab:gray" for u in order]
    panels = 2 if dims.has_kl else 1
    fig = Figure(figsize=(max(6.0, 0.35 * len(order) + 2), 3.2 * panels + 0.4), dpi=120)
    axes = np.atleast_1d(fig.subplots(panels, 1, sharex=True))
    if dims.has_kl:
        axes[0].bar(names, dims.kl_per_dim[order], color=colours)
        axes[0].set(ylabel="KL(q(z_u|x) ‖ p(z_u)), nats", title="KL to the prior per dimension")
    axes[-1].bar(names, dims.activity[order], color=colours)
    axes[-1].axhline(0.01, color="black", linewidth=0.8, linestyle="--")
    axes[-1].set(ylabel="Cov_x(E_q[z_u])", xlabel="latent dimension",
                 title=f"activity: {int(dims.active.sum())} of {len(order)} active (> 0.01, dashed; grey: inactive)")
    axes[-1].tick_params(axis="x", labelrotation=90 if len(order) > 24 else 0)
    fig.tight_layout()
    save_figure(fig, path)


def plot_image_rows(
    images: np.ndarray,
    path: str | Path,
    title: str,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    pad: int = 1,
) -> None:
    """A grid of decoded images ``[rows, steps, C, H, W]`` with a label on each row and column."""
    n_rows, n_cols, c, h, w = images.shape
    grid = image_grid(images.reshape(-1, c, h, w), ncol=n_cols, pad=pad)
    scale = 7 / max(grid.shape[:2])
    fig = Figure(figsize=(grid.shape[1] * scale + 1.2, grid.shape[0] * scale + 0.9), dpi=150)
    ax = fig.add_subplot()
    if c == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(grid[:, :, :3], interpolation="nearest")
    ax.set_xticks(pad + (w + pad) * np.arange(n_cols) + (w - 1) / 2, list(col_labels), fontsize=7)
    ax.set_yticks(pad + (h + pad) * np.arange(n_rows) + (h - 1) / 2, list(row_labels), fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_table_paths(
    values: np.ndarray,
    steps: np.ndarray,
    path: str | Path,
    columns: Sequence[str],
    panel_titles: Sequence[str],
    xlabel: str,
) -> None:
    """One panel per path ``[rows, steps, D]``: how each column's decoded value moves along it.

    Values are standardised (z-scores), so columns of any unit share the axis; the columns
    that move most over all paths are drawn (at most ``MAX_TABLE_COLUMNS``).
    """
    n_rows = values.shape[0]
    moved = np.ptp(values, axis=1).max(0)
    shown = np.argsort(-moved, kind="stable")[:MAX_TABLE_COLUMNS]
    ncol = min(3, n_rows)
    nrow = -(-n_rows // ncol)
    fig = Figure(figsize=(4 * ncol + 2, 3 * nrow + 0.5), dpi=110)
    axes = list(np.atleast_1d(fig.subplots(nrow, ncol, sharey=True)).ravel())
    cmap = colormaps["tab20"]
    for r, ax in enumerate(axes):
        if r >= n_rows:
            ax.set_axis_off()
            continue
        for i, j in enumerate(shown):
            ax.plot(steps, values[r, :, j], color=cmap(i % 20), label=str(columns[j]))
        ax.set_title(panel_titles[r], fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
    axes[0].set_ylabel("decoded value (standardised)")
    axes[min(ncol, n_rows) - 1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    save_figure(fig, path)


def plot_factor_matrix(matrix: np.ndarray, path: str | Path, factor_names: Sequence[str], title: str) -> None:
    """Heat map of a (latent dimension x factor) matrix in [0, 1], e.g. normalised mutual information.

    A disentangled code shows one bright cell per factor column, each in its own row.
    """
    d, k = matrix.shape
    fig = Figure(figsize=(1.1 * k + 2.5, 0.32 * d + 1.6), dpi=120)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(k), list(factor_names))
    ax.set_yticks(np.arange(d), [f"z{u}" for u in range(d)], fontsize=8)
    for (u, j), value in np.ndenumerate(matrix):
        ax.text(j, u, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="black" if value > 0.6 else "white")
    fig.colorbar(image, ax=ax)
    ax.set(xlabel="factor", ylabel="latent dimension", title=title)
    fig.tight_layout()
    save_figure(fig, path)
