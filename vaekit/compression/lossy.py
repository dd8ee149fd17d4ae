"""Lossy compression through the latent code: quantise E[z|x], entropy-code the integers.

Each example's posterior mean is rounded to a grid of step Delta (set by the quality) and
the integer codes are coded with ANS under one of two factorised models, whichever makes
the smaller file:

* ``prior``: the prior N(0, 1) integrated over each step, the same for every dimension and
  free of side information (standard normal prior only);
* ``fitted``: a Gaussian per latent dimension fitted to this file's codes, its mean and
  standard deviation stored in the file; inactive dimensions, whose codes are all about
  zero, then cost almost nothing.

The decoder maps codes back to z = code * Delta and decodes them to the likelihood's mean.
Both networks run in exact integer arithmetic (:mod:`exact_network`), so the decompressed
output is identical on every machine.

Models with several stochastic layers (``ExactLadder``) are quantised top-down, every layer
with the same step: z_top's posterior mean on the grid as above; then each lower layer's
posterior mean, computed given the *quantised* layer above, standardised by its prior
p(z_l | z_{l+1}) at that quantised value (its mean and standard deviation) and rounded. The
decoder decodes the codes, then replays the same top-down walk: z_l = prior mean + code *
Delta * prior scale. In standardised units every layer's prior is N(0, 1), so the quantised
prior is the same ``prior`` model, with no side information, and ``fitted`` works unchanged.
Every layer is quantised at every quality: leaving the lower layers at their prior means
(codes 0) was measured worse at every rate on an MLP ladder on MNIST (``benchmarks/compression.py
--lossy``: it tops out 1.5 dB below, and all layers at quality 1 beat it at any quality), since
the decoder reads z_1, whose detail the top layer alone does not carry.
"""

from __future__ import annotations

import json
import math

import constriction
import numpy as np
import torch

from vaekit.compression.entropy_models import MEAN_LIKELIHOODS, decoder_mean, normal_bins
from vaekit.compression.exact_network import ExactLadder, ExactVAE, precision_weighted
from vaekit.compression.fixedpoint import FRAC_BITS, ONE, SCALE_BITS, decimal_exp2, exp_scale
from vaekit.errors import ConfigError

QUALITY_MIN, QUALITY_MAX = 1, 100
#: Codes cover this many prior standard deviations either side of zero; means beyond are clamped.
CODE_RANGE_STD = 8
#: Fitted means and standard deviations are stored in code units with this many fractional bits.
_FIT_BITS = 8
#: The narrowest fitted standard deviation, in code units (1/8 step).
_MIN_FIT_SCALE = 1 << (_FIT_BITS - 3)
BATCH = 256
_model = constriction.stream.model


def step_for_quality(quality: int) -> int:
    """The quantisation step (fixed point) for a quality: 2 ** (1 - 9 (q - 1) / 99) prior standard deviations.

    Quality 1 rounds to steps of 2, 50 to about 0.09, 100 to 1/256; each 11 points halve the step.
    """
    if not QUALITY_MIN <= quality <= QUALITY_MAX:
        raise ConfigError(f"--quality must be from {QUALITY_MIN} to {QUALITY_MAX}, got {quality}")
    return int((decimal_exp2(108 - 9 * quality, 99) * ONE).to_integral_value())


class LossyCodec:
    """Quantised latent codes of a VAE, coded under the quantised prior or a fitted factorised model."""

    def __init__(self, net: ExactVAE | ExactLadder, likelihood: str, step: int, normal_prior: bool) -> None:
        if step < 1:
            raise ConfigError(f"the quantisation step must be positive, got {step}")
        if likelihood not in MEAN_LIKELIHOODS:
            raise ConfigError(f"lossy compression supports the {', '.join(MEAN_LIKELIHOODS)} likelihoods; "
                              f"this model's is {likelihood}")
        self.net = net
        self.likelihood = likelihood
        self.step = step
        self.normal_prior = normal_prior
        self.radius = -(-CODE_RANGE_STD * ONE // step)  # codes lie in [-radius, radius]

    # -- latent codes ---------------------------------------------------------------------------
    def _round(self, value: np.ndarray) -> np.ndarray:
        """Fixed-point values -> int64 codes round(value / step), clamped to the code range."""
        return np.clip((2 * value + self.step) // (2 * self.step), -self.radius, self.radius)

    def quantize(self, x: torch.Tensor) -> np.ndarray:
        """Fixed-point inputs ``[n, *shape]`` -> integer codes ``[n, latent_dim]``: round(E[z|x] / step)
        (for a ladder, each layer's standardised mean given the quantised layers above, bottom layer first)."""
        if isinstance(self.net, ExactLadder):
            codes = [self._walk(len(batch), self.net.evidence(batch))[0] for batch in x.split(BATCH)]
            return np.concatenate(codes).astype(np.int32)
        mus = [self.net.encode(batch)[0].numpy().astype(np.int64) for batch in x.split(BATCH)]
        return self._round(np.concatenate(mus)).astype(np.int32)

    def latents(self, codes: np.ndarray) -> torch.Tensor:
        """Codes -> the quantised latent code (fixed point, float64) the decoder reads."""
        if isinstance(self.net, ExactLadder):
            return self._walk(len(codes), None, codes.astype(np.int64))[1]
        return torch.from_numpy(codes.astype(np.int64) * self.step).double()

    def _walk(self, count: int, evidence: list[tuple[torch.Tensor, torch.Tensor]] | None,
              codes: np.ndarray | None = None) -> tuple[np.ndarray, torch.Tensor]:
        """The top-down pass over a ladder's layers, from the data's ``evidence`` (encoding) or from
        ``codes`` (decoding): each layer's code and its quantised value, the prior p(z_l | z_{l+1})
        taken at the quantised layer above. Returns the codes and the quantised values, bottom first."""
        sizes = self.net.sizes
        given = None if codes is None else np.split(codes, np.cumsum(sizes)[:-1], axis=1)
        found: list[np.ndarray] = []
        values: list[torch.Tensor] = []
        for layer in range(len(sizes) - 1, -1, -1):
            if values:
                p_mu, p_logvar = self.net.conditional(layer, values[0])
            else:  # the top layer: N(0, I)
                p_mu = p_logvar = torch.zeros(count, sizes[layer], dtype=torch.float64)
            loc, half_logvar = p_mu.numpy().astype(np.int64), p_logvar.numpy().astype(np.int64) >> 1
            if given is None:
                mu = evidence[layer][0] if not values else precision_weighted(*evidence[layer], p_mu, p_logvar)[0]
                code = self._round(((mu.numpy().astype(np.int64) - loc) * exp_scale()(-half_logvar)) >> SCALE_BITS)
            else:
                code = given[layer]
            value = loc + ((code * self.step * exp_scale()(half_logvar)) >> SCALE_BITS)
            found.insert(0, code)
            values.insert(0, torch.from_numpy(value).double())
        return np.concatenate(found, axis=1), torch.cat(values, dim=-1)

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> the decoder's mean at the quantised code, in model units ``[n, *shape]`` (float64)."""
        return np.concatenate([decoder_mean(self.likelihood, self.net.decode(self.latents(codes[i: i + BATCH])))
                               for i in range(0, len(codes), BATCH)])

    # -- entropy models ---------------------------------------------------------------------------
    def _inner_edges(self) -> np.ndarray:
        return np.arange(-self.radius, self.radius, dtype=np.int64)  # k: the bin edge at k + 1/2

    def _models(self, settings: dict) -> list:
        """One concrete constriction model per latent dimension, from stored settings."""
        if settings["entropy_model"] == "prior":
            edges = ((2 * self._inner_edges() + 1) * self.step) >> 1  # (k + 1/2) * step, fixed point
            model = _model.Categorical(normal_bins(edges), perfect=False)
            return [model] * self.net.latent_dim
        loc = np.asarray(settings["loc"], np.int64)[:, None]
        scale = np.asarray(settings["scale"], np.int64)[:, None]
        if loc.shape != (self.net.latent_dim, 1) or scale.shape != loc.shape or scale.min() < 1:
            raise ValueError("fitted entropy model settings do not fit this model")
        edges = (2 * self._inner_edges()[None, :] + 1) << (_FIT_BITS - 1)  # (k + 1/2) in fit units
        masses = normal_bins(((edges - loc) << FRAC_BITS) // scale)
        return [_model.Categorical(row, perfect=False) for row in masses]

    @staticmethod
    def fit(codes: np.ndarray) -> dict:
        """A Gaussian per dimension fitted to the codes: mean and standard deviation as exact integers."""
        n = len(codes)
        total = codes.astype(np.int64).sum(0).tolist()
        squares = (codes.astype(np.int64) ** 2).sum(0).tolist()
        unit = 1 << _FIT_BITS
        loc = [(2 * s * unit + n) // (2 * n) for s in total]
        variance = [(n * q - s * s) * unit * unit // (n * n) for s, q in zip(total, squares, strict=True)]
        scale = [max(math.isqrt(v), _MIN_FIT_SCALE) for v in variance]
        return {"entropy_model": "fitted", "loc": loc, "scale": scale}

    def _encode_with(self, codes: np.ndarray, settings: dict) -> np.ndarray:
        coder = constriction.stream.stack.AnsCoder()
        symbols = codes + self.radius
        models = self._models(settings)
        for d in range(codes.shape[1] - 1, -1, -1):  # a stack: the last dimension first
            coder.encode_reverse(np.ascontiguousarray(symbols[:, d]), models[d])
        return coder.get_compressed()

    def encode(self, codes: np.ndarray) -> tuple[np.ndarray, dict]:
        """Codes -> (the coder's words, the entropy model's settings to store), whichever makes the smaller chunk
        (the words and the settings, both stored in the file)."""
        candidates = ([{"entropy_model": "prior"}] if self.normal_prior else []) + [self.fit(codes)]
        coded = [(self._encode_with(codes, settings), settings) for settings in candidates]
        return min(coded, key=lambda c: 4 * len(c[0]) + len(json.dumps(c[1], separators=(",", ":"))))

    def decode(self, words: np.ndarray, settings: dict, count: int) -> np.ndarray:
        """The coder's words and stored settings -> codes ``[count, latent_dim]``."""
        coder = constriction.stream.stack.AnsCoder(words)
        symbols = np.stack([coder.decode(model, count) for model in self._models(settings)], axis=1)
        return symbols.astype(np.int32) - self.radius
