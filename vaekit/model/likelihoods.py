"""Decoder likelihoods p(x|z).

A likelihood turns the decoder's raw output into a distribution over one example and
scores data under it. The decoder emits ``n_params`` numbers per data entry, shaped
``[batch, n_params, *event_shape]``; every likelihood here factorises over entries.

``log_prob`` returns an exact per-example log-probability (or density) in nats,
summed over entries; an optional mask (1 = observed, 0 = missing) drops entries from
the sum, which is how incomplete data is trained on. Discrete likelihoods (Bernoulli
over {0,1}, the two 8-bit pixel models over {0..255}) are normalised probability mass
functions, so their negative log-likelihood is a code length an entropy coder can reach.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit.config.configs import LIKELIHOOD_NAMES
from vaekit.errors import ConfigError
from vaekit.model.posterior import gaussian_log_density, sample_gaussian

if TYPE_CHECKING:
    from vaekit.config.configs import ModelConfig

#: Gaussian and logistic scales are kept above this (in data units): a density on data that
#: sits exactly on a value (a black pixel) would otherwise grow without bound.
MIN_LOG_SCALE = -7.0
N_PIXEL_LEVELS = 256


def _masked_sum(per_entry: Tensor, mask: Tensor | None) -> Tensor:
    """Sum per-entry log-probabilities over every dimension but the batch."""
    if mask is not None:
        per_entry = per_entry * mask
    return per_entry.flatten(1).sum(1)


def _loc_log_scale(params: Tensor) -> tuple[Tensor, Tensor]:
    """Location and floored log-scale of a two-parameter (location-scale) likelihood."""
    return params[:, 0], params[:, 1].clamp(min=MIN_LOG_SCALE)


class Likelihood:
    """Base class: a distribution over one example, parameterised by the decoder output."""

    name: ClassVar[str]
    n_params: ClassVar[int]
    #: True where ``log_prob`` is a probability mass over a finite alphabet.
    discrete: ClassVar[bool]

    @classmethod
    def from_config(cls, config: ModelConfig) -> Likelihood:
        """The likelihood a model configuration asks for (most need nothing from it)."""
        return cls()

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-example log p(x|params) in nats, shape ``[batch]``."""
        return _masked_sum(self.log_prob_entries(params, x), mask)

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        """The expected value of x, in the model's [0, 1] or standardised units."""
        raise NotImplementedError

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError


class Bernoulli(Likelihood):
    """Independent Bernoulli per entry, from logits (numerically stable for any logit)."""

    name = "bernoulli"
    n_params = 1
    discrete = True

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        return -F.binary_cross_entropy_with_logits(params[:, 0], x, reduction="none")

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:  # the hot path of training: one fused kernel, no per-entry tensor kept
            logits = params.flatten(1)
            return -F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)
        return super().log_prob(params, x, mask)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params[:, 0])

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(self.mean(params), generator=generator)


class Gaussian(Likelihood):
    """Independent Gaussian per entry with a learned (per-entry, decoder-predicted) variance."""

    name = "gaussian"
    n_params = 2
    discrete = False

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        loc, log_scale = _loc_log_scale(params)
        return gaussian_log_density(x, loc, 2 * log_scale)

    def mean(self, params: Tensor) -> Tensor:
        return params[:, 0]

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        loc, log_scale = _loc_log_scale(params)
        return sample_gaussian(loc, 2 * log_scale, generator=generator)


def to_pixel_levels(x: Tensor) -> Tensor:
    """Map [0, 1] intensities to integer levels 0..255 (as a long tensor)."""
    return (x * (N_PIXEL_LEVELS - 1)).round().clamp(0, N_PIXEL_LEVELS - 1).long()


#: Below this log bin width (in units of the logistic's scale), log(1 - exp(-width)) is log(width) to
#: float precision; computing it through expm1 would underflow to log(0) for huge scales.
_LOG_TINY_BIN = -15.0


def discretized_logistic_log_prob(levels: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
    """log P(level) of 8-bit levels 0..255 under a logistic(loc, exp(log_scale)) on [0, 1] cut into 256 bins.

    Bin v covers (v -/+ 0.5) / 255; the edge bins take the tails, so the 256 masses sum to one.
    Everything stays in log space: exact and finite for any location and scale, tiny bins included.
    """
    levels = levels.to(loc.dtype)
    half_bin = 0.5 / (N_PIXEL_LEVELS - 1)
    centred = levels / (N_PIXEL_LEVELS - 1) - loc
    inv_scale = torch.exp(-log_scale)
    log_cdf_upper = F.logsigmoid(inv_scale * (centred + half_bin))
    log_sf_lower = F.logsigmoid(-inv_scale * (centred - half_bin))
    # sigmoid(u) - sigmoid(l) = sigmoid(u) * sigmoid(-l) * (1 - exp(l - u)), with u - l = exp(log_width)
    log_width = math.log(2 * half_bin) - log_scale
    log_gap = torch.where(log_width < _LOG_TINY_BIN, log_width,
                          torch.log(-torch.expm1(-log_width.clamp(min=_LOG_TINY_BIN).exp())))
    log_bin = log_cdf_upper + log_sf_lower + log_gap
    return torch.where(levels == 0, log_cdf_upper,
                       torch.where(levels == N_PIXEL_LEVELS - 1, log_sf_lower, log_bin))


def discretized_logistic_sample(loc: Tensor, scale: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A draw from the discretized logistic, as a level / 255 in [0, 1] (scale 0 gives the rounded location)."""
    u = torch.rand(loc.shape, generator=generator, dtype=loc.dtype, device=loc.device).clamp(1e-6, 1 - 1e-6)
    value = loc + scale * (torch.log(u) - torch.log1p(-u))
    return to_pixel_levels(value.clamp(0, 1)).to(loc.dtype) / (N_PIXEL_LEVELS - 1)


class DiscretizedLogistic(Likelihood):
    """8-bit pixels: a logistic on [0, 1] integrated over each of the 256 bins (PixelCNN++ style).

    The two edge bins take the logistic's tails, so the 256 probabilities sum to one exactly.
    """

    name = "logistic"
    n_params = 2
    discrete = True

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        loc, log_scale = _loc_log_scale(params)
        return discretized_logistic_log_prob(to_pixel_levels(x), loc, log_scale)

    def mean(self, params: Tensor) -> Tensor:
        return params[:, 0].clamp(0, 1)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        loc, log_scale = _loc_log_scale(params)
        return discretized_logistic_sample(loc, log_scale.exp(), generator)


class Categorical256(Likelihood):
    """8-bit pixels: a free 256-way categorical per entry (the most flexible, the most outputs)."""

    name = "categorical"
    n_params = N_PIXEL_LEVELS
    discrete = True

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        levels = to_pixel_levels(x)
        return -F.cross_entropy(params, levels, reduction="none")

    def mean(self, params: Tensor) -> Tensor:
        grid = torch.linspace(0, 1, N_PIXEL_LEVELS, dtype=params.dtype, device=params.device)
        probs = params.softmax(1)
        return torch.einsum("bk...,k->b...", probs, grid)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        probs = params.movedim(1, -1).softmax(-1)
        flat = torch.multinomial(probs.reshape(-1, N_PIXEL_LEVELS), 1, generator=generator)
        return flat.reshape(probs.shape[:-1]).to(params.dtype) / (N_PIXEL_LEVELS - 1)


LIKELIHOODS: dict[str, type[Likelihood]] = {
    cls.name: cls for cls in (Bernoulli, Gaussian, DiscretizedLogistic, Categorical256)
}


#: Likelihoods defined in a module of their own, which registers them in ``LIKELIHOODS`` when imported.
DEFINED_ELSEWHERE = {"mixed": "vaekit.model.mixed_likelihood", "logistic_mixture": "vaekit.model.logistic_mixture"}


def likelihood_class(name: str) -> type[Likelihood]:
    """The likelihood registered as ``name``, importing its module first if need be.

    So a name works whatever the program imported before (``LIKELIHOOD_NAMES`` lists them all).
    """
    if name not in LIKELIHOODS and name in DEFINED_ELSEWHERE:
        importlib.import_module(DEFINED_ELSEWHERE[name])
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise ConfigError(f"unknown likelihood {name!r}; choose one of {', '.join(LIKELIHOOD_NAMES)}") from None


def make_likelihood(name: str, config: ModelConfig | None = None) -> Likelihood:
    cls = likelihood_class(name)
    return cls() if config is None else cls.from_config(config)
