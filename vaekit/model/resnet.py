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


def widths(config: ModelConfig) -> list[int]:
    """Channels at the input's resolution and after each stage."""
    return [config.res_width * 2**s for s in range(config.res_stages + 1)]


def blocks(channels: int, n: int) -> list[nn.Module]:
    return [ResidualBlock(channels) for _ in range(n)]


def norm_act(channels: int) -> list[nn.Module]:
    """GroupNorm and SiLU: what a pre-activation block puts before a conv."""
    return [_norm(channels), nn.SiLU()]


def upsample(c_in: int, c_out: int, small: tuple[int, int], big: tuple[int, int]) -> nn.ConvTranspose2d:
    """A stride-2 transposed conv from ``small`` back to exactly ``big`` (undoing one stage, odd sizes too)."""
    padding = (big[0] - (2 * small[0] - 1), big[1] - (2 * small[1] - 1))  # 1 for an even size, 0 for an odd one
    return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=padding)


def upsampling_stages(config: ModelConfig, n_params: int, start: int) -> list[nn.Module]:
    """Feature maps at stage ``start``'s resolution and width -> ``[batch, n_params, *input_shape]``: per stage
    below, an upsampling conv and residual blocks; then a 3x3 conv to ``n_params`` maps per image channel."""
    channels, height, width = config.input_shape
    ws = widths(config)
    sizes = stage_sizes(height, width, config.res_stages)
    layers: list[nn.Module] = []
    for s in reversed(range(start)):
        layers.append(upsample(ws[s + 1], ws[s], sizes[s + 1], sizes[s]))
        layers += blocks(ws[s], config.res_blocks)
    return [*layers, *norm_act(ws[0]), nn.Conv2d(ws[0], n_params * channels, 3, padding=1),
            nn.Unflatten(1, (n_params, channels))]


def build_resnet_encoder(config: ModelConfig, in_channels: int) -> nn.Sequential:
    """Images with ``in_channels`` channels (the mask's included) -> ``[batch, 2 * latent_dim]``."""
    _, height, width = config.input_shape
    layers = [stem(config, in_channels), *(layer for s in range(config.res_stages) for layer in stage(config, s))]
    h, w = stage_sizes(height, width, config.res_stages)[-1]
    layers += [nn.Flatten(), nn.Linear(widths(config)[-1] * h * w, 2 * config.latent_dim)]
    return nn.Sequential(*layers)


def stem(config: ModelConfig, in_channels: int) -> nn.Conv2d:
    """The encoder's first layer: a 3x3 conv from the image's channels to the first stage's width."""
    return nn.Conv2d(in_channels, config.res_width, 3, padding=1)


def stage(config: ModelConfig, s: int) -> list[nn.Module]:
    """Encoder stage ``s``: residual blocks, then a stride-2 conv halving height and width (rounding up)."""
    ws = widths(config)
    return [*blocks(ws[s], config.res_blocks), nn.Conv2d(ws[s], ws[s + 1], 3, stride=2, padding=1)]


def build_resnet_decoder(config: ModelConfig, n_params: int) -> nn.Sequential:
    """z ``[batch, latent_dim]`` -> ``[batch, n_params, channels, height, width]``."""
    _, height, width = config.input_shape
    top = widths(config)[-1]
    h, w = stage_sizes(height, width, config.res_stages)[-1]
    return nn.Sequential(nn.Linear(config.latent_dim, top * h * w), nn.Unflatten(1, (top, h, w)),
                         *upsampling_stages(config, n_params, config.res_stages))
