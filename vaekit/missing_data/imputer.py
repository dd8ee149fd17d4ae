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

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from vaekit.config.column_types import ColumnTypesSpec
from vaekit.estimator import VAE
from vaekit.missing_data.imputation import impute, multiple_imputations

#: Gradient updates of ``epochs="auto"``: tables of a few hundred rows need many passes.
AUTO_STEPS = 4000


class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values (NaN) with a variational autoencoder trained on the observed entries.

    Parameters are those of :class:`vaekit.VAE` that matter for tables; ``iw_samples`` is the
    number of importance samples of the training bound (MIWAE), ``imputation_samples`` the
    number used per row to impute. ``likelihood="mixed"`` with ``column_types`` models
    positive, count, binary and categorical columns with their own likelihoods.

    The defaults are one configuration for any table (chosen on masks other than the
    benchmark's): ``epochs="auto"`` trains for about 4,000 updates whatever the number of
    rows, with the learning rate decayed to 0 on a cosine (on 50 % MCAR wine masks this cut
    the RMSE from 0.846 to 0.821 and left breast cancer and diabetes unchanged), and
    ``val_fraction=0`` keeps the best epoch by training bound, because a validation split of
    a few dozen rows with gaps is too noisy to stop on. The decay is meant for that full budget:
    with a short explicit ``epochs``, ``lr_schedule="constant"`` learns more.
    """

    def __init__(
        self,
        *,
        latent_dim: int = 16,
        hidden: tuple[int, ...] = (128, 128),
        likelihood: str = "gaussian",
        column_types: ColumnTypesSpec = None,
        epochs: int | str = "auto",
        batch_size: int = 64,
        lr: float = 1e-3,
        lr_schedule: str = "cosine",
        iw_samples: int = 10,
        imputation_samples: int = 1000,
        val_fraction: float = 0.0,
        patience: int = 50,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.likelihood = likelihood
        self.column_types = column_types
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.iw_samples = iw_samples
        self.imputation_samples = imputation_samples
        self.val_fraction = val_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan",
                             ensure_min_samples=2 if reset else 1)

    def fit(self, X: Any, y: Any = None) -> VAEImputer:
        """Train the VAE on X's observed entries (NaN = missing; X may also be complete)."""
        X = self._validate(X, reset=True)
        self.vae_ = VAE(
            hidden=tuple(self.hidden), latent_dim=self.latent_dim, likelihood=self.likelihood,
            column_types=self.column_types, mask_input=True, epochs=self._epochs(X.shape[0]),
            batch_size=self.batch_size, lr=self.lr, lr_schedule=self.lr_schedule, iw_samples=self.iw_samples,
            val_fraction=self.val_fraction, patience=self.patience,
            seed=self.seed, device=self.device, verbose=self.verbose,
        ).fit(self._named(X))
        return self

    def _epochs(self, n_rows: int) -> int:
        """``"auto"``: enough epochs for about ``AUTO_STEPS`` updates, however small the table."""
        if self.epochs != "auto":
            return int(self.epochs)
        train_rows = max(1, n_rows - round(self.val_fraction * n_rows))
        return max(1, round(AUTO_STEPS / math.ceil(train_rows / self.batch_size)))

    def transform(self, X: Any) -> np.ndarray:
        """X with every NaN replaced by its conditional mean given the row's observed entries."""
        check_is_fitted(self, "vae_")
        X = self._validate(X, reset=False)
        return np.asarray(impute(self.vae_, self._named(X), iw_samples=self.imputation_samples, seed=self.seed))

    def sample_imputations(self, X: Any, m: int = 5) -> list[np.ndarray]:
        """``m`` completed copies of X drawn from the conditional distribution of the missing entries."""
        check_is_fitted(self, "vae_")
        X = self._validate(X, reset=False)
        return [np.asarray(c) for c in multiple_imputations(self.vae_, self._named(X), m,
                                                            iw_samples=self.imputation_samples, seed=self.seed)]

    def _named(self, X: np.ndarray) -> np.ndarray | pd.DataFrame:
        """X with the fitted column names, if it had some (mixed column types are given by name)."""
        names = getattr(self, "feature_names_in_", None)
        return X if names is None else pd.DataFrame(X, columns=[str(n) for n in names])
