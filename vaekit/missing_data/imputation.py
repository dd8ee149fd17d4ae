"""Filling missing entries from a trained VAE with importance weights (MIWAE).

For a row with observed entries x_o, the model's own posterior (the encoder fed the zero-filled
row and its mask; a ladder model's top-down path) proposes codes z_1..z_K ~ q(z|x_o). Each gets
the importance weight w_k ∝ p(x_o|z_k) p(z_k) / q(z_k|x_o), the IWAE's (``vaekit.train.objectives``),
where p(x_o|z) scores the observed entries only, so
the weighted codes approximate the true posterior p(z|x_o) however rough the proposal
(Mattei & Frellsen, 2019):

* single imputation: E[x_m|x_o] ≈ Σ_k ŵ_k E[x_m|z_k], the importance-weighted conditional mean
  (categorical columns take their most probable category under the same mixture);
* multiple imputation: sampling importance resampling — draw k with probability ŵ_k, then
  x_m ~ p(x_m|z_k) — once per completed copy, so the copies' spread shows the uncertainty.

Observed entries always come back exactly as given; only NaN entries are filled.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor
from tqdm.auto import tqdm

from vaekit.data import Dataset
from vaekit.data.coding import fill_frame
from vaekit.data.missing import observed_mask, zero_filled
from vaekit.errors import ConfigError
from vaekit.estimator import VAE, DataLike, as_dataset
from vaekit.model.mixed_likelihood import MixedTypes
from vaekit.model.module import VAEModule
from vaekit.train.objectives import importance_samples

#: Decoded numbers held at once (codes x rows x parameters per row): bounds memory for any K.
DECODE_BUDGET = 1 << 23
#: Share of rows whose importance weights may rest on fewer than M effective codes before M draws get a warning.
LOW_ESS_SHARE = 0.05


@torch.no_grad()
def importance_weighted(
    module: VAEModule, x: Tensor, mask: Tensor, k: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Decoder parameters ``[k, batch, n_params, *shape]`` of K codes per row from the model's own
    posterior, and their self-normalised importance weights ``[k, batch]`` given the observed entries."""
    samples = importance_samples(module, x, k, mask, generator=generator)
    return samples.params, samples.log_w.softmax(0)


def mixture_point(module: VAEModule, params: Tensor, weights: Tensor) -> Tensor:
    """Σ_k weights[k] E[x | params[k]] in model units (the mixed likelihood's own rule for categories)."""
    if isinstance(module.likelihood, MixedTypes):
        return module.likelihood.mixture_point(params, weights)
    means = module.likelihood.mean(params.flatten(0, 1)).view(*params.shape[:2], *params.shape[3:])
    return torch.einsum("kb,kb...->b...", weights, means)


def _resampled(module: VAEModule, params: Tensor, weights: Tensor, draws: int, gen: torch.Generator) -> Tensor:
    """``draws`` samples of x per row by sampling importance resampling, ``[draws, batch, *shape]``."""
    picks = torch.multinomial(weights.T, draws, replacement=True, generator=gen)  # [batch, draws]
    chosen = params.transpose(0, 1)[torch.arange(params.shape[1]).unsqueeze(1), picks]  # [batch, draws, P, ...]
    values = module.likelihood.sample(chosen.flatten(0, 1), generator=gen)
    return values.view(params.shape[1], draws, *values.shape[1:]).transpose(0, 1)


def effective_sample_size(weights: Tensor) -> Tensor:
    """Kish's effective number of codes behind each row's self-normalised weights ``[k, batch]``: 1 / Σ ŵ²."""
    return weights.square().sum(0).reciprocal()


def warn_if_few_effective(ess: np.ndarray, draws: int, iw_samples: int) -> None:
    """Warn when M draws resample fewer than M effective codes on too many rows: their spread is then too narrow,
    repeated codes make the copies alike."""
    low = float(np.mean(ess < draws))
    if low > LOW_ESS_SHARE:
        # the effective size grows about in proportion to K: aim the (LOW_ESS_SHARE)-quantile row at M
        enough = math.ceil(iw_samples * draws / max(float(np.quantile(ess, LOW_ESS_SHARE)), 1.0) / 100) * 100
        warnings.warn(
            f"{low:.0%} of the imputed rows have an importance-sampling effective sample size below the "
            f"{draws} imputations (median {np.median(ess):.0f} of {iw_samples} samples): their draws reuse "
            f"a few codes and may vary too little. Raise iw_samples (VAEImputer's imputation_samples, "
            f"vaekit impute --iw-samples) to about {max(enough, 2 * iw_samples)}, or draw fewer imputations",
            RuntimeWarning, stacklevel=3)


def fill_values(
    vae: VAE, data: Dataset, draws: int | None = None, *, iw_samples: int = 1000, seed: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The mask of missing entries and model values for them, in original units.

    Returns ``(missing, values)``: ``values`` holds one array (the conditional mean) when
    ``draws`` is None, else ``draws`` arrays drawn by importance resampling; each has the
    data's shape, and only its entries where ``missing`` is True are meaningful.
    """
    check_is_fitted(vae, "module_")
    if iw_samples < 1 or (draws is not None and draws < 1):
        raise ConfigError("the numbers of importance samples and of imputations must be at least 1")
    pre, module = vae.preprocessor_, vae.module_
    data = pre.check(data)
    observed = observed_mask(data)
    missing = np.zeros(data.x.shape, bool) if observed is None else ~observed
    values = [np.full(data.x.shape, np.nan, np.float32) for _ in range(draws or 1)]
    rows = np.flatnonzero(missing.reshape(data.n, -1).any(axis=1))
    if rows.size == 0:
        return missing, values
    x, mask = zero_filled(pre.transform(data.x[rows]))
    device = module.device
    x, mask = x.to(device), mask.to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    per_row = iw_samples * module.likelihood.n_params * int(np.prod(data.shape))
    batch = max(1, DECODE_BUDGET // per_row)
    module.eval()
    ess = []
    for start in tqdm(range(0, rows.size, batch), desc="imputing", unit="batch", disable=not progress):
        sl = slice(start, start + batch)
        params, weights = importance_weighted(module, x[sl], mask[sl], iw_samples, gen)
        if draws is None:
            filled = [mixture_point(module, params, weights)]
        else:
            filled = list(_resampled(module, params, weights, draws, gen))
            ess.append(effective_sample_size(weights).cpu().numpy())
        for out, f in zip(values, filled, strict=True):
            out[rows[sl]] = pre.inverse_transform(f.cpu().numpy())
    if draws is not None:
        warn_if_few_effective(np.concatenate(ess), draws, iw_samples)
    return missing, values


def _completed(X: DataLike, data: Dataset, missing: np.ndarray, values: np.ndarray,
               vocabularies: dict[str, list] | None = None) -> DataLike:
    """X with its missing entries replaced, in X's own type, layout, columns, index and column dtypes."""
    if isinstance(X, pd.DataFrame):
        return fill_frame(X, [str(c) for c in X.columns], missing, values, vocabularies)
    if isinstance(X, Dataset):
        return dataclasses.replace(X, x=np.where(missing, values, X.x).astype(X.x.dtype, copy=False))
    original = np.asarray(X)
    if original.ndim == 4 and original.shape != data.x.shape:  # images given channel-last
        missing, values = missing.transpose(0, 2, 3, 1), values.transpose(0, 2, 3, 1)
    missing, values = missing.reshape(original.shape), values.reshape(original.shape)
    out_dtype = original.dtype if np.issubdtype(original.dtype, np.floating) else np.float64
    return np.where(missing, values, original).astype(out_dtype)


def impute(vae: VAE, X: DataLike, *, iw_samples: int = 1000, seed: int = 0, progress: bool = False) -> DataLike:
    """X with every NaN replaced by its importance-weighted conditional mean given the row's observed entries.

    The result has X's type (array, DataFrame with its columns and index, or Dataset) and keeps
    observed entries exactly. ``iw_samples`` is the number K of importance samples per row.
    """
    data = as_dataset(X, allow_missing=True)
    missing, (values,) = fill_values(vae, data, None, iw_samples=iw_samples, seed=seed, progress=progress)
    return _completed(X, data, missing, values, vae.preprocessor_.vocabularies)


def multiple_imputations(
    vae: VAE, X: DataLike, m: int = 5, *, iw_samples: int = 1000, seed: int = 0, progress: bool = False
) -> list[DataLike]:
    """``m`` completed copies of X, each with its missing entries drawn from the model's conditional
    distribution (sampling importance resampling), for analyses that need the uncertainty."""
    data = as_dataset(X, allow_missing=True)
    missing, values = fill_values(vae, data, m, iw_samples=iw_samples, seed=seed, progress=progress)
    return [_completed(X, data, missing, v, vae.preprocessor_.vocabularies) for v in values]
