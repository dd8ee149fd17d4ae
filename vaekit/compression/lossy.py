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
"""

from __future__ import annotations

import json
import math

import constriction
import numpy as np
import torch

from vaekit.compression.entropy_models import MEAN_LIKELIHOODS, decoder_mean, normal_bins
from vaekit.compression.exact_network import ExactVAE
from vaekit.compression.fixedpoint import FRAC_BITS, ONE, decimal_exp2
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

    def __init__(self, net: ExactVAE, likelihood: str, step: int, normal_prior: bool) -> None:
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
    def quantize(self, x: torch.Tensor) -> np.ndarray:
        """Fixed-point inputs ``[n, *shape]`` -> integer codes ``[n, latent_dim]``: round(E[z|x] / step)."""
        mus = [self.net.encode(batch)[0].numpy().astype(np.int64) for batch in x.split(BATCH)]
        codes = (2 * np.concatenate(mus) + self.step) // (2 * self.step)
        return np.clip(codes, -self.radius, self.radius).astype(np.int32)

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> the decoder's mean at z = code * step, in model units ``[n, *shape]`` (float64)."""
        z = torch.from_numpy(codes.astype(np.int64) * self.step).double()
        return np.concatenate([decoder_mean(self.likelihood, self.net.decode(b)) for b in z.split(BATCH)])

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
        """Codes -> (the coder's words, the entropy model's settings to store), whichever model is smaller."""
        fitted = self.fit(codes)
        best = (self._encode_with(codes, fitted), fitted)
        if self.normal_prior:
            prior = {"entropy_model": "prior"}
            words = self._encode_with(codes, prior)
            side_bytes = len(json.dumps(fitted, separators=(",", ":")))  # the fitted numbers, in the file
            if 4 * len(words) <= 4 * len(best[0]) + side_bytes:
                best = (words, prior)
        return best

    def decode(self, words: np.ndarray, settings: dict, count: int) -> np.ndarray:
        """The coder's words and stored settings -> codes ``[count, latent_dim]``."""
        coder = constriction.stream.stack.AnsCoder(words)
        symbols = np.stack([coder.decode(model, count) for model in self._models(settings)], axis=1)
        return symbols.astype(np.int32) - self.radius
