"""What a hyperparameter search may vary: ranges, choices and fixed values of ``VAE`` parameters.

A space is a JSON object keyed by :class:`vaekit.VAE` parameter names, plus ``width`` and
``depth``, which together make ``hidden`` (``depth`` layers of ``width`` units). Each value is

    {"low": 1e-4, "high": 1e-2, "log": true}     a range (integers when both ends are)
    {"choices": [32, 64, 128]}                    a choice
    20 / "conv" / [32, 64]                        a fixed value

Likelihood choices must score the same data: a Bernoulli ELBO (binarised pixels), a
Gaussian one (standardised values) and the 8-bit pixel models' (logistic, categorical)
are different quantities, and a search that compared them would compare nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from vaekit.config.configs import OPTIONS
from vaekit.config.options import OptionError
from vaekit.data import Dataset
from vaekit.errors import ConfigError

#: Layers of one width: ``{"width": w, "depth": d}`` becomes ``hidden=(w,) * d``.
LAYER_KEYS = ("width", "depth")
#: What each likelihood's ELBO is a (log-)probability of; only one kind can be compared.
SCORED_DATA = {"bernoulli": "binarised pixels", "gaussian": "standardised values",
               "logistic": "8-bit pixels", "categorical": "8-bit pixels", "logistic_mixture": "8-bit pixels"}


def default_space(data: Dataset) -> dict[str, Any]:
    """Latent size, widths, depth, beta, learning rate, batch size and, for images, the binarisation."""
    space: dict[str, Any] = {
        "latent_dim": {"low": 2, "high": 64, "log": True},
        "width": {"low": 32, "high": 512, "log": True},
        "depth": {"low": 1, "high": 3},
        "beta": {"low": 0.5, "high": 2.0},
        "lr": {"low": 1e-4, "high": 1e-2, "log": True},
        "batch_size": {"choices": [32, 64, 128, 256]},
    }
    if data.kind == "image":  # Bernoulli likelihood: resample the binarisation every epoch, or fix it once
        space["binarize"] = {"choices": ["static", "dynamic"]}
    return space


def _distribution(name: str, spec: Mapping[str, Any]) -> BaseDistribution:
    try:
        if set(spec) == {"choices"}:
            return CategoricalDistribution(list(spec["choices"]))
        if not {"low", "high"} <= set(spec) <= {"low", "high", "log", "step"}:
            raise ValueError('expected {"low", "high"} with optional "log" and "step", or {"choices"}')
        ints = all(isinstance(spec.get(k, 1), int) and not isinstance(spec.get(k), bool)
                   for k in ("low", "high", "step"))
        log = bool(spec.get("log", False))
        if ints:
            return IntDistribution(spec["low"], spec["high"], log=log, step=spec.get("step", 1))
        return FloatDistribution(spec["low"], spec["high"], log=log, step=spec.get("step"))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"search space entry {name!r}: {err}") from None


class SearchSpace:
    """Distributions to sample and fixed values; :meth:`suggest` turns a trial into ``VAE`` parameters."""

    def __init__(self, entries: Mapping[str, Any]) -> None:
        known = set(OPTIONS) | set(LAYER_KEYS)
        unknown = sorted(set(entries) - known)
        if unknown:
            raise ConfigError(f"search space: unknown parameter(s) {', '.join(unknown)}; "
                              f"choose from {', '.join(sorted(known))}")
        if "hidden" in entries and any(k in entries for k in LAYER_KEYS):
            raise ConfigError("search space: give either hidden or width/depth, not both")
        self.entries = dict(entries)
        self.distributions = {k: _distribution(k, v) for k, v in entries.items() if isinstance(v, Mapping)}
        self.fixed = {k: v for k, v in entries.items() if k not in self.distributions}
        likelihoods = self.distributions.get("likelihood")
        if isinstance(likelihoods, CategoricalDistribution):
            scored = {SCORED_DATA.get(str(c), str(c)) for c in likelihoods.choices}
            if len(scored) > 1:
                raise ConfigError(
                    f"search space: likelihoods {', '.join(map(str, likelihoods.choices))} score different data "
                    f"({', '.join(sorted(scored))}), so their ELBOs cannot be compared; choose within one kind"
                )

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise OptionError(f"space {path}: no such file", "space") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise OptionError(f"space {path} is not valid JSON ({err})", "space") from None
        if not isinstance(raw, dict):
            raise OptionError(f"space {path} must hold a JSON object of parameter names", "space")
        return cls(raw)

    def suggest(self, trial: optuna.Trial, base: Mapping[str, Any]) -> dict[str, Any]:
        """``VAE`` parameters for one trial: ``base`` overridden by fixed values and sampled ones."""
        values = {**base, **self.fixed}
        for name, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                values[name] = trial.suggest_categorical(name, dist.choices)
            elif isinstance(dist, IntDistribution):
                values[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                values[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
        if any(k in values for k in LAYER_KEYS):  # the one missing comes from the default layers
            default = OPTIONS["hidden"].default
            values["hidden"] = [int(values.pop("width", default[0]))] * int(values.pop("depth", len(default)))
        return values
