"""Encoder and decoder networks: a feed-forward MLP and a convolutional pair (and, from
``vaekit.model.resnet``, the residual conv pair).

The encoder maps an example (optionally with its observation mask) to the
``2 * latent_dim`` parameters of a diagonal Gaussian q(z|x). The decoder maps a code
to ``[n_params, *input_shape]`` numbers, which the likelihood interprets. The conv
pair works for any image size: each stride-2 layer halves height and width (rounding
down) and the decoder undoes exactly those sizes, odd ones included.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.resnet import build_resnet_decoder, build_resnet_encoder


class MLP(nn.Module):
    """Linear layers with ReLU between them, held by name (``layers``).

    Code that works on the layers themselves (the hand-derived training step, exact integer
    evaluation for compression) reaches them as ``net.layers``, not by positions in a stack. The
    input is flattened to ``[batch, features]``; ``out_shape`` reshapes the output per example, and
    ``relu_last`` activates the last layer too (for a trunk that other layers continue).
    """

    def __init__(self, sizes: Sequence[int], out_shape: tuple[int, ...] | None = None, relu_last: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes))
        self.out_shape = out_shape
        self.relu_last = relu_last

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last or self.relu_last:
                x = torch.relu(x)
        return x if self.out_shape is None else x.view(x.shape[0], *self.out_shape)

    def steps(self) -> list[nn.Module]:
        """The same computation as a flat list of modules, for code that walks a network step by step."""
        steps: list[nn.Module] = [nn.Flatten()]
        for i, layer in enumerate(self.layers):
            steps.append(layer)
            if i < len(self.layers) - 1 or self.relu_last:
                steps.append(nn.ReLU())
        return steps if self.out_shape is None else [*steps, Unflatten(self.out_shape)]


class Unflatten(nn.Module):
    """Reshape ``[batch, prod(shape)]`` to ``[batch, *shape]``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


def conv_sizes(height: int, width: int, n_layers: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 layer (kernel 4, padding 1 halves, rounding down)."""
    sizes = [(height, width)]
    for _ in range(n_layers):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    if min(sizes[-1]) < 1:
        raise ConfigError(
            f"images of {height}x{width} are too small for {n_layers} conv layers; "
            f"use fewer --channels or --model mlp"
        )
    return sizes


def build_encoder(config: ModelConfig, trunk: bool = False) -> nn.Module:
    """x (with the mask stacked on, if ``mask_input``) -> ``[batch, 2 * latent_dim]``.

    With ``trunk``, the network stops at its last hidden layer, activated (the ladder's bottom-up path).
    """
    in_mult = 2 if config.mask_input else 1
    head = [] if trunk else [2 * config.latent_dim]
    if config.arch == "mlp":
        return MLP([in_mult * math.prod(config.input_shape), *config.hidden, *head], relu_last=trunk)
    channels, height, width = config.input_shape
    if config.arch == "resnet":
        return build_resnet_encoder(config, in_mult * channels)
    (h, w) = conv_sizes(height, width, len(config.channels))[-1]
    layers: list[nn.Module] = []
    c_in = in_mult * channels
    for c_out in config.channels:
        layers += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        c_in = c_out
    layers.append(MLP([c_in * h * w, *config.hidden, *head], relu_last=trunk))
    return nn.Sequential(*layers)


def build_decoder(config: ModelConfig, n_params: int) -> nn.Module:
    """z ``[batch, latent_dim]`` -> likelihood parameters ``[batch, n_params, *input_shape]``."""
    hidden = list(reversed(config.hidden))
    if config.arch == "mlp":
        n_out = n_params * math.prod(config.input_shape)
        return MLP([config.latent_dim, *hidden, n_out], out_shape=(n_params, *config.input_shape))
    if config.arch == "resnet":
        return build_resnet_decoder(config, n_params)
    channels, height, width = config.input_shape
    sizes = conv_sizes(height, width, len(config.channels))
    c_last = config.channels[-1]
    first = MLP([config.latent_dim, *hidden, c_last * sizes[-1][0] * sizes[-1][1]], out_shape=(c_last, *sizes[-1]),
                relu_last=True)
    layers: list[nn.Module] = [first]
    outs = [*reversed(config.channels[:-1]), n_params * channels]
    c_in = c_last
    for i, c_out in enumerate(outs):
        small, big = sizes[-1 - i], sizes[-2 - i]
        padding = (big[0] - 2 * small[0], big[1] - 2 * small[1])  # restores odd sizes exactly
        layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, output_padding=padding))
        if i < len(outs) - 1:
            layers.append(nn.ReLU())
        c_in = c_out
    layers.append(Unflatten((n_params, channels, height, width)))
    return nn.Sequential(*layers)
