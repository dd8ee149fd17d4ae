"""The standard pictures of a run folder: samples, reconstructions and training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.config.configs import ModelConfig
from vaekit.data import Dataset
from vaekit.data.out_of_core import is_out_of_core
from vaekit.estimator import VAE
from vaekit.pictures.plots import (
    plot_images,
    plot_reconstructions,
    plot_table_reconstructions,
    plot_table_samples,
    plot_training_curves,
)

N_PICTURES = 64
#: Rows of a table on disk (``--mmap``) that its pictures are drawn from, so they fit in memory.
STREAMED_TABLE_ROWS = 10_000
#: The prior's temperature in the sample pictures of models with several stochastic layers (ladder,
#: hierarchical): at 1, draws from the upper layers' wide conditionals often land where the decoder
#: gives blurred or broken shapes; below 1 they stay typical (NVAE and VDVAE show theirs at 0.6 to 0.9).
LAYERED_TEMPERATURE = 0.8


def picture_temperature(model: ModelConfig) -> float:
    """The prior temperature of a run's sample picture: below 1 for models with several stochastic layers."""
    return LAYERED_TEMPERATURE if model.layered else 1.0


def draw_run_pictures(vae: VAE, data: Dataset, folder: str | Path) -> list[Path]:
    """Write samples.png, reconstructions.png and loss.png into ``folder``; return their paths."""
    folder = Path(folder)
    pre = vae.preprocessor_
    if is_out_of_core(data.x) and data.n > STREAMED_TABLE_ROWS:
        data = data.subset(slice(0, STREAMED_TABLE_ROWS))
    shown = data.subset(np.arange(min(N_PICTURES, data.n)))
    temperature = picture_temperature(vae.config_.model)
    samples = vae.sample(N_PICTURES, temperature=temperature)
    recons = vae.reconstruct(shown)
    paths = [folder / "samples.png", folder / "reconstructions.png"]
    if pre.kind == "image":
        at = "" if temperature == 1 else f" at temperature {temperature}"
        plot_images(pre.transform(samples), paths[0], f"{N_PICTURES} samples from the prior{at} (decoder means)")
        plot_reconstructions(pre.transform(shown.x), pre.transform(recons), paths[1])
    else:
        columns = pre.columns or [f"x{j}" for j in range(samples.shape[1])]
        many = vae.sample(max(N_PICTURES, data.n))
        plot_table_samples(np.asarray(data.x, dtype=np.float32), many, columns, paths[0])
        plot_table_reconstructions(np.asarray(shown.x, dtype=np.float32), recons, columns, paths[1])
    if vae.history_:
        paths.append(folder / "loss.png")
        plot_training_curves(vae.history_, paths[-1])
    return paths
