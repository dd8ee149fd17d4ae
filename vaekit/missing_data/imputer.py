"""``VAEImputer``: a VAE as a scikit-learn imputer, for pipelines and model selection.

It behaves like ``sklearn.impute.IterativeImputer``: ``fit`` learns from a table with NaN
entries (a VAE trained on the observed entries only, with the mask fed to the encoder),
``transform`` returns the table with every NaN replaced by its importance-weighted
conditional mean given the row's observed entries. Observed entries are never changed.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import Ridge
    >>> model = make_pipeline(VAEImputer(), Ridge()).fit(X_with_nan, y)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from vaekit.config.configs import OPTIONS
from vaekit.config.options import parameters_doc, stored_init
from vaekit.config.presets import IMPUTATION_DEFAULTS, IMPUTATION_SAMPLES, SELF_TUNE
from vaekit.estimator import VAE
from vaekit.missing_data.imputation import impute, multiple_imputations
from vaekit.missing_data.selftune import self_tune

#: VAE's parameters and two of its own: the importance samples of each row's conditional mean, self-tuning.
PARAMETERS = (*OPTIONS.values(), IMPUTATION_SAMPLES, SELF_TUNE)


class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    __doc__ = f"""Impute missing values (NaN) with a variational autoencoder trained on the observed entries.

Its parameters are :class:`vaekit.VAE`'s, with the defaults for imputing a table
(``vaekit.config.presets.IMPUTATION_DEFAULTS``, which ``vaekit train --allow-missing`` also takes on
a table with gaps): about 4,000 updates (``epochs="auto"``) whatever the number of rows, with the
learning rate decayed to 0 on a cosine, the importance-weighted bound with 10 samples (MIWAE),
and no validation split. ``imputation_samples`` is the number of importance samples used per
row to impute. ``likelihood="mixed"`` with ``column_types`` models positive, count, binary and
categorical columns with their own likelihoods. A DataFrame may hold text, ``category`` and boolean
columns (``vaekit.data.coding``; ``likelihood="auto"`` is then ``mixed``): ``transform`` returns a
DataFrame with the same columns and dtypes, filled cells in each column's own values. With
``self_tune`` (the default), ``fit`` first chooses the hidden widths on a share of X's observed
cells hidden from short fits (``vaekit.missing_data.selftune``); ``selected_candidate_`` and
``candidate_scores_`` say what it chose and why (None when off).

{parameters_doc(PARAMETERS, IMPUTATION_DEFAULTS)}
"""

    __init__ = stored_init({**{o.name: o.default for o in PARAMETERS}, **IMPUTATION_DEFAULTS}, "VAEImputer")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate(self, X: Any, reset: bool) -> np.ndarray | pd.DataFrame:
        """X checked; a DataFrame stays one (its columns may hold text, categories or booleans: VAE codes them)."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)  # column names and their number
            return X
        return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan",
                             ensure_min_samples=2 if reset else 1)

    def fit(self, X: Any, y: Any = None) -> VAEImputer:
        """Train the VAE on X's observed entries (NaN = missing; X may also be complete)."""
        IMPUTATION_SAMPLES.check(self.imputation_samples)
        tuned = SELF_TUNE.check(self.self_tune)
        X = self._validate(X, reset=True)
        params = {name: getattr(self, name) for name in OPTIONS}
        self.selected_candidate_ = self.candidate_scores_ = None
        if tuned:
            tuning = self_tune(params, X)
            params.update(tuning.selected)
            self.selected_candidate_, self.candidate_scores_ = tuning.selected, tuning.candidates
        self.vae_ = VAE(**params).fit(X)
        return self

    def transform(self, X: Any) -> np.ndarray | pd.DataFrame:
        """X with every NaN replaced by its conditional mean given the row's observed entries; a DataFrame
        comes back as one, with its columns, index and dtypes (text, categories, booleans, integers)."""
        check_is_fitted(self, "vae_")
        X = self._validate(X, reset=False)
        return impute(self.vae_, X, iw_samples=self.imputation_samples, seed=self.seed)

    def sample_imputations(self, X: Any, m: int = 5) -> list[np.ndarray | pd.DataFrame]:
        """``m`` completed copies of X drawn from the conditional distribution of the missing entries."""
        check_is_fitted(self, "vae_")
        X = self._validate(X, reset=False)
        return multiple_imputations(self.vae_, X, m, iw_samples=self.imputation_samples, seed=self.seed)
