"""``mixed``: one likelihood per column for heterogeneous tables (the HI-VAE idea).

The decoder emits ``n_params = max(2, largest number of categories)`` numbers per column;
each column reads the ones its type needs (see ``vaekit.config.column_types`` for the model units):

* real, positive: (location, log-scale) of a Gaussian on the standardised (log) value;
* count: log-rate of a Poisson on k = exp(x) - 1;
* binary, categorical: K logits of a categorical over the column's known codes.

Columns of one type are scored together, so a step costs a few vectorised kernels whatever
the number of columns. Without column types every column is real. Importing this module
registers the likelihood as ``mixed``; ``vaekit.model.likelihoods.likelihood_class`` imports it on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from vaekit.model.likelihoods import LIKELIHOODS, MIN_LOG_SCALE, Likelihood
from vaekit.model.posterior import gaussian_log_density, sample_gaussian

if TYPE_CHECKING:
    from vaekit.config.configs import ModelConfig

#: Poisson log-rates are capped here (a rate of ~3e6) so exp() cannot overflow early in training.
MAX_LOG_RATE = 15.0


@dataclass
class _Layout:
    """Column indices of each type on one device."""

    gauss: Tensor
    count: Tensor
    categorical: dict[int, Tensor]  # number of categories K -> its columns


class MixedTypes(Likelihood):
    name = "mixed"
    n_params = 2  # without categorical columns; an instance sets its own
    discrete = False

    def __init__(self, column_types: Sequence[str] = (), n_categories: Sequence[int] = ()) -> None:
        self.column_types = tuple(column_types)
        self.n_categories = tuple(int(k) for k in n_categories) or (0,) * len(self.column_types)
        self.n_params = max(2, *self.n_categories, 0)
        self._layouts: dict[tuple[int, str], _Layout] = {}

    @classmethod
    def from_config(cls, config: ModelConfig) -> MixedTypes:
        return cls(config.column_types, config.n_categories)

    def _layout(self, n_columns: int, device: torch.device) -> _Layout:
        key = (n_columns, str(device))
        if key not in self._layouts:
            types = self.column_types or ("real",) * n_columns
            ks = self.n_categories if self.column_types else (0,) * n_columns

            def columns(*wanted: str, k: int | None = None) -> Tensor:
                picked = [j for j, (t, n) in enumerate(zip(types, ks, strict=True)) if t in wanted and k in (None, n)]
                return torch.tensor(picked, dtype=torch.long, device=device)

            self._layouts[key] = _Layout(
                gauss=columns("real", "positive"), count=columns("count"),
                categorical={k: columns("binary", "categorical", k=k) for k in sorted(set(ks) - {0})},
            )
        return self._layouts[key]

    def log_prob_entries(self, params: Tensor, x: Tensor) -> Tensor:
        lay = self._layout(x.shape[1], x.device)
        out = torch.empty_like(x)
        g, c = lay.gauss, lay.count
        loc, log_scale = params[:, 0, g], params[:, 1, g].clamp(min=MIN_LOG_SCALE)
        out[:, g] = gaussian_log_density(x[:, g], loc, 2 * log_scale)
        log_rate = params[:, 0, c].clamp(max=MAX_LOG_RATE)
        k = torch.expm1(x[:, c]).round()
        out[:, c] = k * log_rate - log_rate.exp() - torch.lgamma(k + 1)
        for n, cols in lay.categorical.items():
            index = (x[:, cols] * (n - 1)).round().long().clamp(0, n - 1)
            out[:, cols] = params[:, :n, cols].log_softmax(1).gather(1, index.unsqueeze(1)).squeeze(1)
        return out

    def mean(self, params: Tensor) -> Tensor:
        """Expected value in model units; for categorical columns the most probable category."""
        return self.mixture_point(params.unsqueeze(0), params.new_ones(1, params.shape[0]))

    def mixture_point(self, params: Tensor, weights: Tensor) -> Tensor:
        """Point estimate under the mixture sum_k weights[k] p(x | params[k]), params ``[k, batch, P, D]``.

        Gaussian columns get the mixture mean, counts the mean rate, categorical columns the
        category of highest mixture probability (so they stay one of the known codes).
        """
        lay = self._layout(params.shape[-1], params.device)
        w = weights.unsqueeze(-1)  # [k, batch, 1]
        out = (w * params[:, :, 0]).sum(0)
        rate = params[:, :, 0, lay.count].clamp(max=MAX_LOG_RATE).exp()
        out[:, lay.count] = torch.log1p((w * rate).sum(0))
        for n, cols in lay.categorical.items():
            mixture = (weights[..., None, None] * params[:, :, :n, cols].softmax(2)).sum(0)
            out[:, cols] = mixture.argmax(1).to(out.dtype) / (n - 1)
        return out

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        lay = self._layout(params.shape[-1], params.device)
        out = torch.empty(params[:, 0].shape, dtype=params.dtype, device=params.device)
        g, c = lay.gauss, lay.count
        out[:, g] = sample_gaussian(params[:, 0, g], 2 * params[:, 1, g].clamp(min=MIN_LOG_SCALE), generator=generator)
        out[:, c] = torch.log1p(torch.poisson(params[:, 0, c].clamp(max=MAX_LOG_RATE).exp(), generator=generator))
        for n, cols in lay.categorical.items():
            probs = params[:, :n, cols].softmax(1).movedim(1, -1)
            draws = torch.multinomial(probs.reshape(-1, n), 1, generator=generator)
            out[:, cols] = draws.view(probs.shape[:-1]).to(out.dtype) / (n - 1)
        return out


LIKELIHOODS[MixedTypes.name] = MixedTypes
