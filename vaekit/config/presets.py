"""Named, tested configurations: ``vaekit train DATA --preset fast`` or ``vaekit.VAE.from_preset("fast")``.

A preset is a set of :class:`~vaekit.VAE` parameters. Options given explicitly (on the command
line, or as keyword arguments) override it; everything it does not name keeps vaekit's default.
Quality and time were measured with ``benchmarks/likelihood.py`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from vaekit.config.configs import ModelConfig, TrainConfig, estimator_params
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
        "MLP 512-512, IWAE k=5, at most 300 epochs: about 4x slower per epoch, for large data sets "
        "(on 4,000 images it overfits and scores worse than fast)",
        {"model": "mlp", "hidden": (512, 512), "latent_dim": 32, "ladder": (16,), "iw_samples": 5,
         "kl_schedule": "linear", "kl_warmup": 20.0, "epochs": 300, "batch_size": 128, "lr": 1e-3,
         "patience": 30},
    ),
)}


def preset_params(name: str) -> dict[str, Any]:
    """The VAE parameters of a preset; an unknown name is a clear error."""
    try:
        return dict(PRESETS[name].params)
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def add_preset_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset`` to a command whose options name VAE parameters; call it after adding them.

    Those options then record only what the user typed (argparse's SUPPRESS default), so
    :func:`apply_preset` can tell an explicit ``--lr 1e-3`` from the default and let it win.
    """
    names = {*estimator_params(ModelConfig), *estimator_params(TrainConfig)}
    defaults = {}
    for action in parser._actions:
        if action.dest in names and action.default is not argparse.SUPPRESS:
            defaults[action.dest] = action.default
            if action.default not in (None, [], ()):
                action.help = f"{action.help or ''} (default: {_shown(action.default)})".lstrip()
            action.default = argparse.SUPPRESS
    lines = "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
    parser.add_argument("--preset", metavar="NAME", help=f"a tested configuration ({lines}); options you "
                                                         "give explicitly override it")
    parser.set_defaults(preset_defaults=defaults)


def apply_preset(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the options the user did not give: from ``--preset`` where it names them, else the defaults."""
    preset = preset_params(args.preset) if args.preset else {}
    if preset and getattr(args, "resume", False):
        raise ConfigError("--preset is for new runs; --resume continues with the run's saved settings")
    for dest, default in args.preset_defaults.items():
        if not hasattr(args, dest):
            setattr(args, dest, preset.get(dest, default))
    return args


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
