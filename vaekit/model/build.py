"""Which network a :class:`~vaekit.config.configs.ModelConfig` describes.

Everything that builds a model from a configuration (fitting, loading a run folder) goes
through :func:`build_module`, so a configuration always rebuilds the same kind of network.
"""

from __future__ import annotations

from vaekit.config.configs import ModelConfig
from vaekit.model.hierarchical import HierarchicalVAEModule
from vaekit.model.ladder import LadderVAEModule
from vaekit.model.markov_ladder import MarkovLadderVAEModule
from vaekit.model.module import VAEModule


def build_module(config: ModelConfig) -> VAEModule:
    """The hierarchical conv VAE, a ladder VAE when the configuration has stochastic layers above z (its
    inference top-down or bottom-up), else the flat VAE."""
    if config.arch == "hierarchical":
        return HierarchicalVAEModule(config)
    if not config.ladder:
        return VAEModule(config)
    return MarkovLadderVAEModule(config) if config.ladder_inference == "bottom-up" else LadderVAEModule(config)
