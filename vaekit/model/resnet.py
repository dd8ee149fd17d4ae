"""The ``resnet`` model: residual conv encoder and decoder for images of any size and channel count.

Encoder: a 3x3 stem conv, then ``res_stages`` stages, stage s being ``res_blocks`` residual blocks
at ``res_width * 2**s`` channels and a stride-2 conv that halves height and width (rounding up,
so odd sizes work and nothing shrinks below 1x1), then one linear layer from the flattened
features to the ``2 * latent_dim`` posterior parameters. The decoder mirrors it: a linear layer
to the smallest feature map; per stage, a stride-2 transposed conv back to exactly the size the
encoder had there (``output_padding`` restores odd sizes) and residual blocks; a 3x3 conv to
``n_params`` maps per image channel.

Blocks are pre-activation (GroupNorm, SiLU, 3x3 conv, twice) added to their input, the second conv
starting at zero so each block starts as the identity. GroupNorm normalises every example on its
own: training and evaluation compute the same function, whatever the batch (BatchNorm's running
statistics would not).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from vaekit.config.configs import ModelConfig

#: GroupNorm groups per layer (fewer where the channel count is not a multiple).
GROUPS = 8


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(GROUPS, channels), channels)


class ResidualBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))), at a fixed width and size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            _norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def stage_sizes(height: int, width: int, stages: int) -> list[tuple[int, int]]:
    """Height and width at the input and after each stage's stride-2 conv (kernel 3, padding 1: rounding up)."""
    sizes = [(height, width)]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _widths(config: ModelConfig) -> list[int]:
    return [config.res_width * 2**s for s in range(config.res_stages + 1)]


def _blocks(channels: int, n: int) -> list[nn.Module]:
    return [ResidualBlock(channels) for _ in range(n)]


def build_resnet_encoder(config: ModelConfig, in_channels: int) -> nn.Sequential:
    """Images with ``in_channels`` channels (the mask's included) -> ``[batch, 2 * latent_dim]``."""
    _, height, width = config.input_shape
    widths = _widths(config)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
    for s in range(config.res_stages):
        layers += _blocks(widths[s], config.res_blocks)
        layers.append(nn.Conv2d(widths[s], widths[s + 1], 3, stride=2, padding=1))
    h, w = stage_sizes(height, width, config.res_stages)[-1]
    layers += [nn.Flatten(), nn.Linear(widths[-1] * h * w, 2 * config.latent_dim)]
    return nn.Sequential(*layers)


def build_resnet_decoder(config: ModelConfig, n_params: int) -> nn.Sequential:
    """z ``[batch, latent_dim]`` -> ``[batch, n_params, channels, height, width]``."""
    channels, height, width = config.input_shape
    widths = _widths(config)
    sizes = stage_sizes(height, width, config.res_stages)
    layers: list[nn.Module] = [
        nn.Linear(config.latent_dim, widths[-1] * sizes[-1][0] * sizes[-1][1]),
        nn.Unflatten(1, (widths[-1], *sizes[-1])),
    ]
    for s in reversed(range(config.res_stages)):
        (small_h, small_w), (big_h, big_w) = sizes[s + 1], sizes[s]
        padding = (big_h - (2 * small_h - 1), big_w - (2 * small_w - 1))  # 1 for an even size, 0 for an odd one
        layers.append(nn.ConvTranspose2d(widths[s + 1], widths[s], 3, stride=2, padding=1, output_padding=padding))
        layers += _blocks(widths[s], config.res_blocks)
    layers += [_norm(widths[0]), nn.SiLU(), nn.Conv2d(widths[0], n_params * channels, 3, padding=1),
               nn.Unflatten(1, (n_params, channels))]
    return nn.Sequential(*layers)
