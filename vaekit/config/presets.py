"""Named, tested configurations, and the defaults for imputing a table.

A preset is a set of :class:`~vaekit.VAE` parameters: ``vaekit train DATA --preset fast`` or
``vaekit.VAE.from_preset("fast")``. Options given explicitly (on the command line, or as keyword
arguments) override it; everything it does not name keeps its default. Quality and time were
measured with ``benchmarks/likelihood.py`` (see BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vaekit.config.options import Option
from vaekit.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str
    #: What it is and when to use it.
    summary: str
    params: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "fast",
        "one stochastic layer, MLP 784-512-256-32 with a VampPrior, ELBO with a 10-epoch KL warm-up, "
        "85 epochs with a cosine learning-rate decay (14 minutes for 54,000 images on 2 cores)",
        {"model": "mlp", "hidden": (512, 256), "latent_dim": 32, "prior": "vamp", "kl_schedule": "linear",
         "kl_warmup": 10.0, "epochs": 85, "batch_size": 128, "lr": 1e-3, "lr_schedule": "cosine",
         "patience": 15},
    ),
    Preset(
        "strong",
        "two stochastic layers (32 + 16) with ladder-style top-down inference and residual blocks, "
        "MLP 512-512, IWAE k=5, at most 300 epochs, its updates guarded (grad_clip, grad_skip): about 4x "
        "slower per epoch and not better than fast so far (on 4,000 images it overfits; on full MNIST "
        "its best was 85.43 nats after 39 minutes, fast's 84.89 after 14)",
        {"model": "mlp", "hidden": (512, 512), "latent_dim": 32, "ladder": (16,), "iw_samples": 5,
         "kl_schedule": "linear", "kl_warmup": 20.0, "epochs": 300, "batch_size": 128, "lr": 1e-3,
         "patience": 30},
    ),
    Preset(
        "image",
        "for 8-bit images: the hierarchical conv VAE (a 32-dimensional vector above a 4-channel latent map at "
        "1/4 of the image's height and width, residual blocks 16-32-64 channels wide, ladder-style top-down "
        "inference) with PixelCNN++'s discretized logistic mixture (5 components), a 1-epoch KL warm-up, free "
        "bits per layer, 4 epochs with a cosine learning-rate decay; on full 8-bit MNIST 1.14 test bits/dim "
        "(k=100) after 20 minutes on 2 cores, below xz's 1.40 (benchmarks/image_likelihood.py)",
        {"model": "hierarchical", "res_width": 16, "res_blocks": 1, "res_stages": 2, "latent_groups": 2,
         "latent_channels": 4, "latent_dim": 32, "likelihood": "logistic_mixture", "mixture_components": 5,
         "kl_schedule": "linear", "kl_warmup": 1.0, "free_bits": 0.01, "epochs": 4, "batch_size": 128,
         "lr": 2e-3, "lr_schedule": "cosine", "patience": 10},
    ),
)}


#: The defaults for imputing a table: ``VAEImputer``'s, and those of ``vaekit train --allow-missing`` on a
#: table with gaps for the options not given. One configuration for any table, chosen on masks other
#: than the benchmark's (``benchmarks/imputation.py``): about 4,000 updates whatever the number of rows,
#: with the learning rate decayed to 0 on a cosine (on 50 % MCAR wine masks this cut the RMSE from 0.846
#: to 0.821 and left breast cancer and diabetes unchanged); no validation split, keeping the best epoch
#: by the training bound, since a split of a few dozen rows with gaps is too noisy to stop on; the
#: importance-weighted bound with 10 samples (MIWAE); and the mask fed to the encoder. The decay is
#: meant for that full budget: with a short explicit ``epochs``, ``lr_schedule="constant"`` learns more.
IMPUTATION_DEFAULTS: dict[str, Any] = {
    "hidden": (128, 128), "latent_dim": 16, "mask_input": True, "epochs": "auto", "batch_size": 64,
    "lr_schedule": "cosine", "iw_samples": 10, "val_fraction": 0.0, "patience": 50,
}

#: Importance samples per row when imputing: ``VAEImputer(imputation_samples=...)``, ``vaekit impute --iw-samples``.
IMPUTATION_SAMPLES = Option("imputation_samples", 1000, "importance samples per row to impute (more: closer to "
                            "the exact conditional mean)", type=int, at_least=1, flag="")

#: Examples per chunk of a ``.vkz`` file: ``compress(chunk_size=...)``, ``vaekit compress --chunk-size``. Each
#: chunk is coded alone, the unit a partial decode reads; 4,096 MNIST digits make chunks of about 200 KB,
#: whose start-up bits (a few words) cost under 0.01 %.
CHUNK_SIZE = Option("chunk_size", 4096, "examples per chunk, the unit `decompress --items` reads: smaller "
                    "chunks decode a few items faster and make the file slightly larger", type=int, at_least=1,
                    flag="")

#: Self-tuning, on by default wherever a table is imputed: ``VAEImputer(self_tune=...)``, and ``vaekit train
#: --self-tune`` on a table with missing cells (``vaekit.missing_data.selftune``).
SELF_TUNE = Option("self_tune", True, "impute: first choose the hidden widths (configured, half, 1.5x) by the error "
                   "on a seeded share of observed cells hidden from short fits, then refit the winner on everything "
                   "(at most about 3x the training time); for tables with missing cells", type=bool, group="imputation")


def preset_params(name: str) -> dict[str, Any]:
    """The VAE parameters of a preset; an unknown name is a clear error."""
    try:
        return dict(PRESETS[name].params)
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
