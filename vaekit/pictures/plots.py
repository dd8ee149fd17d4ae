"""Pictures of a run: image grids, reconstructions, loss curves, table comparisons.

Figures are built with matplotlib's object API (no pyplot state, no display needed)
and saved atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vaekit.io.atomic import atomic_path

MAX_TABLE_COLUMNS = 12


def save_figure(fig: Figure, path: str | Path) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=fig.dpi, bbox_inches="tight")


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile ``[n, C, H, W]`` images in [0, 1] into one ``[rows*H, cols*W, C]`` array."""
    n, c, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    grid = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i, img in enumerate(np.clip(images, 0, 1)):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = img.transpose(1, 2, 0)
    return grid


def _show_grid(ax: Any, grid: np.ndarray) -> None:
    if grid.shape[2] == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(grid[:, :, :3], interpolation="nearest")
    ax.set_axis_off()


def plot_images(images: np.ndarray, path: str | Path, title: str = "", ncol: int | None = None) -> None:
    grid = image_grid(images, ncol)
    scale = 6 / max(grid.shape[:2])
    fig = Figure(figsize=(grid.shape[1] * scale + 0.2, grid.shape[0] * scale + 0.5), dpi=150)
    ax = fig.add_subplot()
    _show_grid(ax, grid)
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def plot_reconstructions(originals: np.ndarray, recons: np.ndarray, path: str | Path, ncol: int = 8) -> None:
    """Pairs of rows: data on top, its reconstruction below."""
    n = (len(originals) // ncol) * ncol or len(originals)
    ncol = min(ncol, n)
    rows = []
    for start in range(0, n, ncol):
        rows += [originals[start : start + ncol], recons[start : start + ncol]]
    plot_images(np.concatenate(rows), path, "data (odd rows) and reconstructions (even rows)", ncol)


def plot_training_curves(history: Sequence[dict[str, Any]], path: str | Path) -> None:
    """ELBO (train and validation) and its two terms, by epoch."""
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 3.8), dpi=120)
    ax_elbo, ax_terms = fig.subplots(1, 2)
    ax_elbo.plot(epochs, [r["train_elbo"] for r in history], label="train")
    if "val_elbo" in history[0]:
        ax_elbo.plot(epochs, [r["val_elbo"] for r in history], label="validation")
    ax_elbo.set(xlabel="epoch", ylabel="ELBO (nats per example)", title="ELBO (higher is better)")
    ax_elbo.legend()
    ax_terms.plot(epochs, [r["train_recon"] for r in history], label="reconstruction −log p(x|z)")
    ax_terms.plot(epochs, [r["train_kl"] for r in history], label="KL(q(z|x) ‖ p(z))")
    ax_terms.set(xlabel="epoch", ylabel="nats per example", title="terms of the loss (train)")
    ax_terms.legend()
    fig.tight_layout()
    save_figure(fig, path)


def _column_axes(n_cols: int, title: str) -> tuple[Figure, list[Any]]:
    n = min(n_cols, MAX_TABLE_COLUMNS)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(3.2 * ncol, 2.6 * nrow + 0.4), dpi=110)
    axes = list(np.atleast_1d(fig.subplots(nrow, ncol)).ravel())
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(title + (f" (first {n} of {n_cols} columns)" if n_cols > n else ""))
    return fig, axes[:n]


def plot_table_samples(data: np.ndarray, samples: np.ndarray, columns: Sequence[str], path: str | Path) -> None:
    """Per-column histograms of the data and of generated rows, overlaid."""
    fig, axes = _column_axes(len(columns), "data vs generated samples")
    for j, ax in enumerate(axes):
        values = np.concatenate([data[:, j], samples[:, j]])
        bins = np.histogram_bin_edges(values[np.isfinite(values)], bins=30)  # missing cells (NaN) left out
        ax.hist(data[:, j], bins=bins, alpha=0.5, density=True, label="data")
        ax.hist(samples[:, j], bins=bins, alpha=0.5, density=True, label="samples")
        ax.set_title(str(columns[j]), fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_table_reconstructions(data: np.ndarray, recons: np.ndarray, columns: Sequence[str],
                               path: str | Path) -> None:
    """Per-column scatter of reconstructed against original values (the diagonal is perfect)."""
    fig, axes = _column_axes(len(columns), "reconstruction vs data")
    for j, ax in enumerate(axes):
        ax.scatter(data[:, j], recons[:, j], s=4, alpha=0.5)
        lo, hi = float(np.nanmin(data[:, j])), float(np.nanmax(data[:, j]))
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.set_title(str(columns[j]), fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
