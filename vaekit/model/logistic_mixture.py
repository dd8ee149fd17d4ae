"""``logistic_mixture``: PixelCNN++'s discretized mixture of logistics for 8-bit pixels.

Each pixel is a mixture of K components shared by its channels. Under component k, channel c
is a discretized logistic (:func:`~vaekit.model.likelihoods.discretized_logistic_log_prob`)
whose location moves linearly with the values of the channels before it: for RGB, G's with R's
and B's with R's and G's (PixelCNN++'s coupling, coefficients in (-1, 1) per component). So

    p(pixel) = sum_k pi_k prod_c p(x_c | x_<c, k),

an exact probability mass over the 256**C values of a pixel; the log-probability of an image
is the sum over its pixels, in nats.

The decoder emits ``n_params = K * (3 + S)`` maps per channel, read as ``[3 + S, K]``: mixture
logits (a component's logit is the sum of its per-channel logits), locations on [0, 1],
log-scales, and ``S = C // 2`` slots of coupling coefficients (none for grey). A component's
C(C-1)/2 coefficients are its first slots across the channels, in the order (1, 0), (2, 0),
(2, 1), (3, 0), ... of (channel, earlier channel): for RGB, G|R, B|R, B|G, as in PixelCNN++.
Importing this module registers the likelihood; ``likelihood_class`` imports it on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from vaekit.errors import ConfigError
from vaekit.model.likelihoods import (
    LIKELIHOODS,
    MIN_LOG_SCALE,
    N_PIXEL_LEVELS,
    Likelihood,
    discretized_logistic_log_prob,
    discretized_logistic_sample,
    to_pixel_levels,
)

if TYPE_CHECKING:
    from vaekit.config.configs import ModelConfig

DEFAULT_COMPONENTS = 10


@dataclass
class _Mixture:
    """The decoder output read as mixture parameters, components along dimension 1."""

    log_weights: Tensor  # [batch, K, *space]
    loc: Tensor  # [batch, K, C, *space]
    log_scale: Tensor  # [batch, K, C, *space], floored
    coupling: Tensor | None  # [batch, K, C, C, *space], strictly lower triangular in (C, C); None for grey

    def locations(self, values: Tensor) -> Tensor:
        """Each channel's location given the values of the channels before it (``values`` [batch, K or 1, C, ...])."""
        if self.coupling is None:
            return self.loc
        return self.loc + (self.coupling * values.unsqueeze(2)).sum(3)

    def in_channel_order(self, draw: Callable[[Tensor, int], Tensor]) -> Tensor:
        """Values ``[batch, K, C, *space]`` made channel by channel: ``draw(location, c)`` from the
        channel's location coupled to the values already made for the channels before it."""
        values: list[Tensor] = []
        for c in range(self.loc.shape[2]):
            centre = self.loc[:, :, c]
            for j, earlier in enumerate(values):
                assert self.coupling is not None  # only images of several channels get here
                centre = centre + self.coupling[:, :, c, j] * earlier
            values.append(draw(centre, c))
        return torch.stack(values, 2)

    def component_means(self) -> Tensor:
        """Each component's channel means: its location clamped to the pixel range, coupled through the
        means of the channels before it (the tails in the edge bins are not integrated)."""
        return self.in_channel_order(lambda centre, _: centre.clamp(0, 1))


class LogisticMixture(Likelihood):
    """A K-component discretized logistic mixture per pixel, its channels coupled (see the module docstring)."""

    name = "logistic_mixture"
    n_params = 3 * DEFAULT_COMPONENTS  # grey images; an instance sets its own
    discrete = True

    def __init__(self, components: int = DEFAULT_COMPONENTS, channels: int = 1) -> None:
        if components < 1 or channels < 1:
            raise ConfigError(f"a logistic mixture needs at least one component and one channel, "
                              f"got {components} and {channels}")
        self.components = components
        self.channels = channels
        self.coupling_slots = channels // 2  # ceil((C - 1) / 2): room for C(C-1)/2 coefficients across C maps
        self.n_params = components * (3 + self.coupling_slots)

    @classmethod
    def from_config(cls, config: ModelConfig) -> LogisticMixture:
        return cls(config.mixture_components, config.input_shape[0])

    def _channel_axis(self, t: Tensor, dim: int) -> Tensor:
        """``t`` with the channel axis the mixture works on: for one channel every entry, of any shape
        (a grey image's, a table's), is a pixel of its own, so a channel axis of one is inserted."""
        return t.unsqueeze(dim) if self.channels == 1 else t

    def _without_channel_axis(self, t: Tensor) -> Tensor:
        """Values ``[batch, C, *space]`` back in the data's shape."""
        return t.squeeze(1) if self.channels == 1 else t

    def _unpack(self, params: Tensor) -> _Mixture:
        params = self._channel_axis(params, 2)
        batch, _, channels, *space = params.shape
        k = self.components
        p = params.view(batch, 3 + self.coupling_slots, k, channels, *space)
        log_weights = p[:, 0].sum(2).log_softmax(1)
        coupling = None
        if channels > 1:
            coefficients = torch.tanh(p[:, 3:].transpose(1, 2).flatten(2, 3))  # [batch, K, S * C, *space]
            rows, cols = torch.tril_indices(channels, channels, offset=-1, device=params.device)
            coupling = coefficients.new_zeros(batch, k, channels, channels, *space)
            coupling[:, :, rows, cols] = coefficients[:, :, : len(rows)]
        return _Mixture(log_weights, p[:, 1], p[:, 2].clamp(min=MIN_LOG_SCALE), coupling)

    def log_prob_pixels(self, params: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """log p of each pixel, ``[batch, *space]``, over its observed channels (of each entry for one channel).

        A pixel with no observed channel scores 0. Where a channel is missing but a later one is
        observed, the later one's location is coupled to the missing channel's component mean
        instead of its (unknown) value: still a normalised distribution over the observed
        channels, though not the model's exact marginal (which would sum over 256 values).
        """
        mix = self._unpack(params)
        x = self._channel_axis(x, 1)
        mask = None if mask is None else self._channel_axis(mask, 1)
        levels = to_pixel_levels(x).unsqueeze(1)  # [batch, 1, C, *space]
        values = levels.to(params.dtype) / (N_PIXEL_LEVELS - 1)
        if mask is not None and mix.coupling is not None:
            values = torch.where(mask.unsqueeze(1) > 0, values, mix.component_means())
        per_channel = discretized_logistic_log_prob(levels, mix.locations(values), mix.log_scale)
        if mask is not None:
            per_channel = per_channel * mask.unsqueeze(1)
        return torch.logsumexp(mix.log_weights + per_channel.sum(2), dim=1)

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.log_prob_pixels(params, x, mask).flatten(1).sum(1)

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        if self.channels > 1:
            raise NotImplementedError("coupled channels have one joint probability per pixel; use log_prob_pixels")
        return self.log_prob_pixels(params, x)

    def mean(self, params: Tensor) -> Tensor:
        """The mixture of the components' (coupled) means, in [0, 1]."""
        mix = self._unpack(params)
        return self._without_channel_axis((mix.log_weights.exp().unsqueeze(2) * mix.component_means()).sum(1))

    def sample(
        self, params: Tensor, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> Tensor:
        """Pixels drawn from the mixture, as levels / 255.

        ``temperature`` 1 draws exactly from the model. Lower temperatures divide the component
        logits by it (the choice of component sharpens towards the most probable) and multiply
        the logistic scales by it (values gather at the locations); 0 gives the most probable
        component's coupled location, rounded to a level.
        """
        if not temperature >= 0:
            raise ConfigError(f"temperature must be non-negative, got {temperature}")
        mix = self._unpack(params)
        batch, k, _, *space = mix.loc.shape
        if temperature == 0:
            chosen = mix.log_weights.argmax(1)
        else:
            probs = (mix.log_weights / temperature).softmax(1).movedim(1, -1)
            chosen = torch.multinomial(probs.reshape(-1, k), 1, generator=generator).view(probs.shape[:-1])

        def pick(t: Tensor) -> Tensor:
            """``t`` [batch, K, *middle, *space] at each pixel's chosen component: [batch, 1, *middle, *space]."""
            middle = t.shape[2: t.dim() - len(space)]
            return t.gather(1, chosen.view(batch, 1, *(1 for _ in middle), *space).expand(batch, 1, *t.shape[2:]))

        drawn = _Mixture(chosen.new_zeros((), dtype=params.dtype), pick(mix.loc), pick(mix.log_scale),
                         None if mix.coupling is None else pick(mix.coupling))
        scale = drawn.log_scale.exp() * temperature
        values = drawn.in_channel_order(
            lambda centre, c: discretized_logistic_sample(centre, scale[:, :, c], generator))
        return self._without_channel_axis(values.squeeze(1))


LIKELIHOODS[LogisticMixture.name] = LogisticMixture
