"""Amputation: masks of missing entries with a known mechanism, for benchmarking imputers.

The three mechanisms of Rubin's taxonomy, made as in the harness of hyperimpute (after
Muzellec et al., 2020), on a standardised table ``x`` of shape (n, d):

* **MCAR** (missing completely at random): each entry is missing with probability ``rate``.
* **MAR** (missing at random): a share ``observed_share`` of the columns is always observed;
  each other column is missing with a probability given by a logistic model of those
  columns, its intercept fitted so that the column's missing rate is ``rate``.
* **MNAR** (missing not at random): the same logistic model, on a share ``observed_share``
  of input columns that are then themselves masked completely at random at ``rate`` — so
  whether an entry is missing depends on values that may be unseen.

Every function returns a boolean mask, True where the entry is to be hidden.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from vaekit.errors import ConfigError

MECHANISMS = ("mcar", "mar", "mnar")


def mcar(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    return rng.random(x.shape) < rate


def _logistic_mask(x: np.ndarray, inputs: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Mask the columns not in ``inputs`` with logistic probabilities of the ``inputs`` columns."""
    targets = np.setdiff1d(np.arange(x.shape[1]), inputs)
    logits = x[:, inputs] @ rng.standard_normal((inputs.size, targets.size))
    logits /= np.where(logits.std(0) > 0, logits.std(0), 1.0)  # unit-scale logits, whatever the data
    mask = np.zeros(x.shape, dtype=bool)
    for j, column in enumerate(logits.T):
        intercept = brentq(lambda b, c=column: expit(c + b).mean() - rate, -50.0, 50.0)
        mask[:, targets[j]] = rng.random(x.shape[0]) < expit(column + intercept)
    return mask


def _inputs(d: int, share: float, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(d, size=max(1, int(share * d)), replace=False))


def mar(x: np.ndarray, rate: float, rng: np.random.Generator, observed_share: float = 0.3) -> np.ndarray:
    return _logistic_mask(x, _inputs(x.shape[1], observed_share, rng), rate, rng)


def mnar(x: np.ndarray, rate: float, rng: np.random.Generator, observed_share: float = 0.3) -> np.ndarray:
    inputs = _inputs(x.shape[1], observed_share, rng)
    mask = _logistic_mask(x, inputs, rate, rng)
    mask[:, inputs] = rng.random((x.shape[0], inputs.size)) < rate
    return mask


def ampute(x: np.ndarray, mechanism: str, rate: float, seed: int = 0, *, observed_share: float = 0.3,
           keep_one_per_row: bool = False) -> np.ndarray:
    """A mask (True = hide) for table ``x`` under ``mechanism`` ("mcar", "mar", "mnar") at ``rate``.

    ``keep_one_per_row`` re-observes one random entry in any row the mask would hide entirely
    (imputation needs something to condition on; at 50 % MCAR a 10-column table loses a
    whole row about once in a thousand).
    """
    if mechanism not in MECHANISMS:
        raise ConfigError(f"unknown missingness mechanism {mechanism!r}; choose one of {', '.join(MECHANISMS)}")
    if not 0 < rate < 1:
        raise ConfigError(f"the missing rate must lie strictly between 0 and 1, got {rate}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ConfigError(f"amputation needs a table of at least two columns, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    if mechanism == "mcar":
        mask = mcar(x, rate, rng)
    else:
        mask = (mar if mechanism == "mar" else mnar)(x, rate, rng, observed_share)
    if keep_one_per_row:
        empty = np.flatnonzero(mask.all(axis=1))
        mask[empty, rng.integers(0, x.shape[1], size=empty.size)] = False
    return mask
