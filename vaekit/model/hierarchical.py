"""The ``hierarchical`` model: a residual conv VAE with stochastic layers at several resolutions.

The Ladder VAE / NVAE / VDVAE idea at a size that trains on a few CPU cores. For an image the
resnet's bottom-up path (stem, then ``res_stages`` stages of residual blocks and a stride-2 conv)
gives feature maps at falling resolutions. The top stochastic layer is a ``latent_dim`` vector read
from the coarsest map; below it sit ``latent_groups - 1`` latent feature maps of ``latent_channels``
channels, one at each of the last stages' resolutions, coarsest first. For 28x28 images with the
defaults (2 stages, 2 groups): a 20-dimensional vector above a 4x7x7 map.

Generation walks down: z_top ~ N(0, I); each map z_l ~ p(z_l | z_{l+1}), a conv net that upsamples
the layer above (a linear layer for the vector) through residual blocks; x ~ p(x | z_1) through the
resnet's upsampling stages. Inference, scoring and the per-layer KL are the ladder's
(:class:`~vaekit.model.ladder.TopDownVAE`): q(z_l | z_{l+1}, x) is p(z_l | z_{l+1}) times the
Gaussian evidence that a 3x3 conv head reads off the bottom-up features at that layer's resolution.
Codes are flat, each map flattened channel-major, so sampling, decoding, IWAE and evaluation treat
the model like any other.
"""

from __future__ import annotations

from torch import Tensor, nn

from vaekit.config.configs import ModelConfig
from vaekit.model.ladder import TakeFirst, TopDownPrior, TopDownVAE, gaussian_params
from vaekit.model.resnet import blocks, norm_act, stage, stage_sizes, stem, upsample, upsampling_stages, widths


def latent_levels(config: ModelConfig) -> list[int]:
    """The stage (0 = the input's resolution) of each latent feature map, bottom first."""
    maps = config.latent_groups - 1
    return list(range(config.res_stages - maps + 1, config.res_stages + 1))


def layer_sizes(config: ModelConfig) -> tuple[int, ...]:
    """Dimensions of each stochastic layer, bottom first: the feature maps, then the top vector."""
    _, height, width = config.input_shape
    sizes = stage_sizes(height, width, config.res_stages)
    maps = (config.latent_channels * sizes[s][0] * sizes[s][1] for s in latent_levels(config))
    return (*maps, config.latent_dim)


def _map_head(channels: int, n_out: int) -> list[nn.Module]:
    """Features -> norm, activation, 3x3 conv to ``n_out`` channels."""
    return [*norm_act(channels), nn.Conv2d(channels, n_out, 3, padding=1)]


class BottomUp(nn.Module):
    """The resnet encoder's stem and stages, returning the features after each stage (stage 1 first)."""

    def __init__(self, config: ModelConfig, in_channels: int) -> None:
        super().__init__()
        self.stem = stem(config, in_channels)
        self.stages = nn.ModuleList(nn.Sequential(*stage(config, s)) for s in range(config.res_stages))

    def forward(self, x: Tensor) -> list[Tensor]:
        h, out = self.stem(x), []
        for block in self.stages:
            h = block(h)
            out.append(h)
        return out


class HierarchicalVAEModule(TopDownVAE):
    """Latent feature maps under a latent vector, with ladder-style top-down inference; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config, layer_sizes(config))
        channels, height, width = config.input_shape
        ws, sizes = widths(config), stage_sizes(height, width, config.res_stages)
        levels, c_z = latent_levels(config), config.latent_channels
        in_mult = 2 if config.mask_input else 1
        self.levels = levels
        self.encoder = BottomUp(config, in_mult * channels)
        top_h, top_w = sizes[-1]
        self.evidence = nn.ModuleList([
            *(nn.Sequential(*_map_head(ws[s], 2 * c_z), nn.Flatten()) for s in levels),
            nn.Sequential(nn.Flatten(), nn.Linear(ws[-1] * top_h * top_w, 2 * config.latent_dim)),
        ])
        top_down = []
        for i, s in enumerate(levels):  # p(z_i | z_{i+1}), z_i a map at stage s
            if i + 1 == len(levels):  # the layer above is the vector: a linear layer to this map's features
                entry = [nn.Linear(config.latent_dim, ws[s] * sizes[s][0] * sizes[s][1]),
                         nn.Unflatten(1, (ws[s], *sizes[s]))]
            else:  # the map one stage coarser: widen, then upsample to this stage
                entry = [nn.Unflatten(1, (c_z, *sizes[s + 1])), nn.Conv2d(c_z, ws[s + 1], 3, padding=1),
                         upsample(ws[s + 1], ws[s], sizes[s + 1], sizes[s])]
            top_down.append(nn.Sequential(*entry, *blocks(ws[s], config.res_blocks), *_map_head(ws[s], 2 * c_z),
                                          nn.Flatten()))
        self.prior = TopDownPrior(self.sizes, nn.ModuleList(top_down))
        bottom = levels[0]
        self.decoder = nn.Sequential(
            TakeFirst(self.sizes[0]), nn.Unflatten(1, (c_z, *sizes[bottom])), nn.Conv2d(c_z, ws[bottom], 3, padding=1),
            *blocks(ws[bottom], config.res_blocks), *upsampling_stages(config, self.likelihood.n_params, bottom),
        )

    def _evidence(self, x: Tensor, mask: Tensor | None) -> list[tuple[Tensor, Tensor]]:
        features = self.encoder(self.encoder_input(x, mask))
        inputs = [*(features[s - 1] for s in self.levels), features[-1]]
        return [gaussian_params(head(h)) for head, h in zip(self.evidence, inputs, strict=True)]
