"""The integer probability models the entropy coder uses.

* ``DiscreteCode``: p(x|z) of a discrete likelihood as per-entry coder models: Bernoulli
  probabilities for binary data, 256 bin masses for 8-bit levels (discretized logistic
  or 256-way categorical).
* ``LatentBuckets``: the latent space cut into 2**bits buckets of equal mass under the
  standard normal prior (what bits-back coding codes), with the posterior's bucket masses.
* ``normal_bins``: standard normal masses between given (standardised) bin edges, for
  posterior buckets and the quantised-latent models of lossy coding.
* ``decoder_mean``: the decoder's mean in model units, for lossy reconstructions.

All of it takes and returns the fixed-point integers of :mod:`fixedpoint`, so both ends of
a codec build bit-identical tables on any machine.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

import constriction
import numpy as np
import torch
from torch import Tensor

from vaekit.compression.fixedpoint import (
    FRAC_BITS,
    ONE,
    PROB_BITS,
    PROB_ONE,
    SCALE_BITS,
    exp_neg,
    exp_scale,
    masses_from_cdf,
    normal_cdf,
    sigmoid,
)
from vaekit.errors import ConfigError
from vaekit.model.likelihoods import MIN_LOG_SCALE, N_PIXEL_LEVELS

_model = constriction.stream.model
_LEVEL_MAX = N_PIXEL_LEVELS - 1


def _fixed(params: Tensor) -> np.ndarray:
    return params.cpu().numpy().astype(np.int64)


class DiscreteCode:
    """How one discrete likelihood turns model-unit data into symbols and decoder output into coder models."""

    name: ClassVar[str]
    #: The constriction model family the per-entry parameters of ``coder_args`` plug into.
    family: ClassVar[object]

    def symbols(self, x: np.ndarray) -> np.ndarray:
        """Model-unit values ``[n, *shape]`` -> int32 symbols ``[n, entries]``."""
        raise NotImplementedError

    def values(self, symbols: np.ndarray) -> np.ndarray:
        """Symbols -> model-unit values (float32), the inverse of ``symbols`` on representable data."""
        raise NotImplementedError

    def fixed_input(self, symbols: np.ndarray, shape: tuple[int, ...]) -> Tensor:
        """The encoder's fixed-point input for symbols, computed from integers only."""
        raise NotImplementedError

    def coder_args(self, params: Tensor) -> tuple[np.ndarray, ...]:
        """Per-entry model parameters for the ``family`` from one example's fixed-point decoder output."""
        raise NotImplementedError


class BinaryCode(DiscreteCode):
    name = "bernoulli"
    family = _model.Bernoulli(perfect=False)

    def symbols(self, x: np.ndarray) -> np.ndarray:
        return (x.reshape(len(x), -1) >= 0.5).astype(np.int32)

    def values(self, symbols: np.ndarray) -> np.ndarray:
        return symbols.astype(np.float32)

    def fixed_input(self, symbols: np.ndarray, shape: tuple[int, ...]) -> Tensor:
        return torch.from_numpy((symbols.astype(np.int64) << FRAC_BITS).reshape(-1, *shape)).double()

    def coder_args(self, params: Tensor) -> tuple[np.ndarray, ...]:
        # p(1) = sigmoid(logit): an exact integer mass over 2**PROB_BITS, so p is an exact float64.
        return (sigmoid()(_fixed(params[0, 0]).ravel()) / float(PROB_ONE),)


class LevelCode(DiscreteCode):
    """8-bit levels 0..255 (model units level / 255), coded with 256 bin masses per entry."""

    family = _model.Categorical(perfect=False)

    def symbols(self, x: np.ndarray) -> np.ndarray:
        levels = np.rint(x.reshape(len(x), -1).astype(np.float64) * _LEVEL_MAX)
        return np.clip(levels, 0, _LEVEL_MAX).astype(np.int32)

    def values(self, symbols: np.ndarray) -> np.ndarray:
        return symbols.astype(np.float32) / np.float32(_LEVEL_MAX)

    def fixed_input(self, symbols: np.ndarray, shape: tuple[int, ...]) -> Tensor:
        # round(level * ONE / 255) in integers
        fixed = (symbols.astype(np.int64) * (2 * ONE) + _LEVEL_MAX) // (2 * _LEVEL_MAX)
        return torch.from_numpy(fixed.reshape(-1, *shape)).double()


class LogisticCode(LevelCode):
    """Discretized logistic: masses sigmoid((edge_k+1 - loc) / s) - sigmoid((edge_k - loc) / s)."""

    name = "logistic"
    #: Inner bin edges (k + 1/2) / 255, k = 0..254, in fixed point.
    EDGES = (np.arange(_LEVEL_MAX, dtype=np.int64) * 2 + 1) * ONE // (2 * _LEVEL_MAX)

    def coder_args(self, params: Tensor) -> tuple[np.ndarray, ...]:
        loc = np.clip(_fixed(params[0, 0]).ravel(), -16 * ONE, 16 * ONE)
        log_scale = np.clip(_fixed(params[0, 1]).ravel(), int(MIN_LOG_SCALE * ONE), 8 * ONE)
        inv_scale = exp_scale()(-log_scale)
        t = ((self.EDGES[None, :] - loc[:, None]) * inv_scale[:, None]) >> SCALE_BITS
        return (masses_from_cdf(sigmoid()(t)),)


def _softmax_weights(logits: np.ndarray) -> np.ndarray:
    """exp(logit - max) along the last axis as integers out of 2**PROB_BITS (fixed-point logits in)."""
    return exp_neg()(logits - logits.max(axis=-1, keepdims=True))


class CategoricalCode(LevelCode):
    """256-way categorical: masses exp(logit_k - max) from the exp table, normalised by the coder."""

    name = "categorical"

    def coder_args(self, params: Tensor) -> tuple[np.ndarray, ...]:
        logits = _fixed(params[0]).reshape(N_PIXEL_LEVELS, -1).T
        return (_softmax_weights(logits).astype(np.float64),)


DISCRETE_CODES: dict[str, type[DiscreteCode]] = {
    c.name: c for c in (BinaryCode, LogisticCode, CategoricalCode)
}


def discrete_code(likelihood: str) -> DiscreteCode:
    """The symbol code of a discrete likelihood; a clear error for a continuous one."""
    if likelihood not in DISCRETE_CODES:
        raise ConfigError(
            f"lossless compression needs a discrete likelihood ({', '.join(DISCRETE_CODES)}); this model's "
            f"is {likelihood}, so use --mode lossy (or train with --likelihood logistic for 8-bit images)"
        )
    return DISCRETE_CODES[likelihood]()


#: Likelihoods whose mean ``decoder_mean`` computes exactly (lossy reconstructions).
MEAN_LIKELIHOODS = ("bernoulli", "gaussian", "logistic", "categorical")


def decoder_mean(likelihood: str, params: Tensor) -> np.ndarray:
    """E[x|z] in model units (float64) from fixed-point decoder output ``[n, n_params, *shape]``.

    For one of ``MEAN_LIKELIHOODS``; the location parameter for gaussian and logistic.
    """
    fixed = _fixed(params)
    if likelihood == "bernoulli":
        return sigmoid()(fixed[:, 0]) / float(PROB_ONE)
    if likelihood == "categorical":
        # 28-bit weights: 256 of them times a level stay far below 2**53, so the sums are exact
        weights = _softmax_weights(np.moveaxis(fixed, 1, -1)) >> (PROB_BITS - 28)
        levels = np.arange(N_PIXEL_LEVELS, dtype=np.int64)
        return (weights @ levels).astype(np.float64) / (weights.sum(-1) * _LEVEL_MAX).astype(np.float64)
    loc = fixed[:, 0] / float(ONE)
    return np.clip(loc, 0.0, 1.0) if likelihood == "logistic" else loc


def normal_bins(standardized_edges: np.ndarray) -> np.ndarray:
    """Masses of a standard normal over bins with the given inner edges (fixed point, last axis)."""
    return masses_from_cdf(normal_cdf()(standardized_edges))


#: Log-variances of the posterior are clamped to this range (sigma from 3.4e-4 to 2981).
_LOGVAR_LIMIT = 16 * ONE
_MEAN_LIMIT = 64 * ONE


class LatentBuckets:
    """2**bits buckets of equal mass under N(0, 1), the discretised latent space of bits-back coding.

    Edges and centres are found on the fixed-point normal CDF table, so they are exact
    integers; the prior over buckets is uniform.
    """

    def __init__(self, bits: int) -> None:
        self.size = 1 << bits
        self.prior = _model.Uniform(self.size)
        # Golden-ratio scattering of bucket indices, a bijection applied before coding under the
        # uniform prior (so it costs nothing): see ``to_prior_symbols``.
        self._scatter = (self.size * 40503 >> 16) | 1  # about size * 0.618, odd
        self._gather = pow(self._scatter, -1, self.size)
        self.posterior_family = _model.Categorical(perfect=False)
        grid = np.arange(-8 * ONE, 8 * ONE + 1, dtype=np.int64)
        cdf = normal_cdf()(grid)
        quantiles = np.arange(1, 2 * self.size, dtype=np.int64) * (PROB_ONE // (2 * self.size))
        points = grid[np.searchsorted(cdf, quantiles)]
        self.edges = points[1::2]  # the size - 1 inner edges
        self.centres = torch.from_numpy(points[0::2]).double()  # the prior median of each bucket

    def to_prior_symbols(self, buckets: np.ndarray) -> np.ndarray:
        """Bucket indices -> the symbols coded under the uniform prior.

        In bits-back coding, the next example's posterior pop reads the bits this example's
        buckets were coded into. They are uniformly random only if the aggregate posterior
        equals the prior; when it does not (a model still learning, a narrow latent dimension),
        posterior samples come out biased and the rate rises above the negative ELBO (by
        3.7 % for a VAE after 2 epochs on MNIST). Multiplying by an odd number near
        size * 0.618 modulo size spreads neighbouring buckets evenly over the whole range,
        so those bits look uniform at the scale of a posterior (1.037 -> 1.002 of the -ELBO).
        """
        return ((buckets.astype(np.int64) * self._scatter) % self.size).astype(np.int32)

    def from_prior_symbols(self, symbols: np.ndarray) -> np.ndarray:
        return ((symbols.astype(np.int64) * self._gather) % self.size).astype(np.int32)

    def posterior_masses(self, mu: Tensor, logvar: Tensor) -> np.ndarray:
        """Masses of q(z|x) = N(mu, exp(logvar)) over the buckets, ``[latent_dim, size]`` (fixed point in)."""
        mu = np.clip(_fixed(mu), -_MEAN_LIMIT, _MEAN_LIMIT)
        logvar = np.clip(_fixed(logvar), -_LOGVAR_LIMIT, _LOGVAR_LIMIT)
        inv_sigma = exp_scale()(-logvar >> 1)
        return normal_bins(((self.edges[None, :] - mu[:, None]) * inv_sigma[:, None]) >> SCALE_BITS)


@cache
def latent_buckets(bits: int) -> LatentBuckets:
    return LatentBuckets(bits)
