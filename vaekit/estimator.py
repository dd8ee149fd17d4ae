"""``vaekit.VAE``: the user-facing model, with scikit-learn's conventions.

Parameters live in ``__init__`` and are only stored there; ``fit`` learns everything
else (attributes ending in ``_``). ``transform`` gives posterior means (a deterministic
embedding), ``inverse_transform`` decodes codes back to data in the user's units.

    >>> from sklearn.datasets import load_digits
    >>> vae = VAE(latent_dim=8, epochs=5).fit(load_digits().images[:, None] / 16)
    >>> codes = vae.transform(load_digits().images[:10, None] / 16)   # (10, 8)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted

from vaekit.config.column_types import column_layout
from vaekit.config.configs import (
    OPTIONS,
    ModelConfig,
    RunConfig,
    TrainConfig,
    check_params,
    config_fields,
    config_params,
    resolve_auto,
    versions,
)
from vaekit.config.options import parameters_doc, stored_init
from vaekit.config.presets import preset_params
from vaekit.data import Dataset, from_array
from vaekit.data.coding import coded_types, encode_frame, to_frame
from vaekit.data.missing import observed_mask, zero_filled
from vaekit.data.out_of_core import is_out_of_core
from vaekit.data.preprocessing import Preprocessor, fixed_binarization
from vaekit.data.validate import first_non_binary
from vaekit.errors import ConfigError, DataError
from vaekit.io.runfolder import RunFolder
from vaekit.model.build import build_module
from vaekit.model.custom import network_spec
from vaekit.train.distributed import World, join, peers_reported
from vaekit.train.evaluation import evaluate
from vaekit.train.streaming import stream_sources
from vaekit.train.trainer import EpochCallback, Trainer, mean_elbo, resolve_device
from vaekit.train.transfer import apply_transfer

DataLike = np.ndarray | pd.DataFrame | Dataset


def as_dataset(X: DataLike, allow_missing: bool = False) -> Dataset:
    """Accept a Dataset, a DataFrame (a table) or an array: (n, d) table, (n, h, w) or (n, c, h, w) images.

    ``allow_missing`` keeps NaN entries (missing values) instead of refusing them.
    """
    return _checked(X, allow_missing)[0]


def _checked(X: DataLike, allow_missing: bool) -> tuple[Dataset, np.dtype]:
    """X as a Dataset, and the dtype it came in (results keep float64).

    Arrays and DataFrames are checked as scikit-learn checks them, with its messages (sparse,
    empty, 1-D, complex, infinite data); a Dataset was checked when it was loaded. A DataFrame's
    text, category and boolean columns are coded first (``vaekit.data.coding``).
    """
    if isinstance(X, Dataset):
        return X, X.x.dtype
    frame = isinstance(X, pd.DataFrame)
    coding = None
    if frame and not all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in X.dtypes):
        values, coding = encode_frame(X)
    else:
        values = X
    try:
        x = check_array(values, accept_sparse=False, allow_nd=True, dtype="numeric", input_name="X",
                        ensure_all_finite="allow-nan" if allow_missing else True)
    except ValueError as err:
        raise DataError(str(err)) from None
    data = from_array(x, columns=[str(c) for c in X.columns] if frame else None,
                      index=list(X.index) if frame else None, allow_missing=allow_missing, coding=coding)
    return data, x.dtype


def _result_dtype(dtype: np.dtype) -> type:
    """Results of float64 data are float64, as scikit-learn's transformers keep; any other data gives float32."""
    return np.float64 if dtype == np.float64 else np.float32


class VAE(TransformerMixin, BaseEstimator):
    __doc__ = f"""A variational autoencoder for images or tables.

Its parameters are ``vaekit train``'s options (``latent_dim`` is ``--latent-dim``), each declared once
with its default, help and checks in ``vaekit.config.configs``. ``__init__`` only stores them, as
scikit-learn's conventions ask; ``fit`` checks them and resolves each ``"auto"`` from the data
(``likelihood="bernoulli"`` also fits tables of 0s and 1s).

Inputs follow scikit-learn's rules: arrays are checked with its ``check_array`` (NaN marks a
missing value), ``transform`` refuses another number of features than ``fit`` saw, and float64
data gives float64 results (anything else float32).

{parameters_doc(OPTIONS.values())}
"""

    __init__ = stored_init({name: spec.default for name, spec in OPTIONS.items()}, "VAE")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN marks a missing value
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -- configuration -------------------------------------------------------------------------
    def _run_config(self, data: Dataset, has_missing: bool = False) -> RunConfig:
        params = resolve_auto(check_params(self.get_params()), kind=data.kind, rows=data.n, has_missing=has_missing,
                              categorical=bool(data.coding))
        model, train = config_fields(params)
        model.update({role: network_spec(model[role], role) for role in ("encoder", "decoder")})
        model.update(column_layout(params["likelihood"], data.kind, data.x, data.columns,
                                   self._column_types(data, params)))
        return RunConfig(model=ModelConfig(input_shape=tuple(data.shape), **model), train=TrainConfig(**train),
                         data={"source": data.source, "kind": data.kind}, versions=versions())

    @staticmethod
    def _column_types(data: Dataset, params: dict[str, Any]) -> Any:
        """The ``column_types`` given, with those of the table's coded columns (text, categories, booleans)."""
        spec = params["column_types"]
        if not data.coding:
            return spec
        names = list(data.columns or [])
        declared = dict(spec) if isinstance(spec, dict) else dict(zip(names, spec or (), strict=False))
        types = coded_types(data.coding, np.asarray(data.x, dtype=np.float64), names, declared)
        if params["likelihood"] != "mixed":
            name, vocab = next(iter(data.coding.items()))
            raise ConfigError(f"column '{name}' holds {vocab.kind} values ({vocab.describe(3)}); likelihood "
                              f"{params['likelihood']} models numbers only: use likelihood mixed (or auto, which "
                              "picks it)")
        return spec if spec and not isinstance(spec, dict) else {**declared, **types}

    @classmethod
    def from_config(cls, config: RunConfig, **overrides: Any) -> VAE:
        """An unfitted estimator with the parameters a run was trained with."""
        return cls(**{**config_params(config), **overrides})

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> VAE:
        """An unfitted estimator with a preset's parameters (``vaekit.config.presets``); ``overrides`` win."""
        return cls(**{**preset_params(name), **overrides})

    @classmethod
    def from_pretrained(cls, run_dir: str | Path, **overrides: Any) -> VAE:
        """An unfitted estimator that starts from a trained run: its settings, and its weights where they fit.

        ``fit`` on new data then fine-tunes; ``freeze=("decoder",)`` trains only the encoder, which maps
        new data into the run's latent space. Overrides (``lr``, ``epochs``, ...) replace the run's settings.
        """
        config = RunFolder(run_dir).require().read_config()
        return cls.from_config(config, **{"freeze": (), **overrides, "init_from": str(run_dir)})

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        X: DataLike,
        y: Any = None,
        *,
        X_val: DataLike | None = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        callbacks: list[EpochCallback] | None = None,
    ) -> VAE:
        """Train on X (a validation split is held out unless ``X_val`` is given).

        With ``run_dir``, the run folder is written as training goes (config, best weights,
        metrics, checkpoints); ``resume=True`` continues from its last checkpoint.
        """
        data, _ = self._dataset(X, reset=True, allow_missing=True)
        streamed = is_out_of_core(data.x)  # memory-mapped or decoded on demand: never loaded whole
        config = self._run_config(data, has_missing=not streamed and observed_mask(data) is not None)
        run = RunFolder(run_dir) if run_dir is not None else None
        self._check_likelihood_fits(config, data)
        if resume:
            if run is None:
                raise ConfigError("resume=True needs the run_dir to resume from")
            run.require_checkpoint()
            pre = run.read_preprocessing()
            data = pre.check(data)
        else:
            pre = Preprocessor.fit(data, config.model.column_types, binary=config.model.likelihood == "bernoulli")

        device = join(resolve_device(self.device))  # under torchrun: join the process group, this rank's GPU
        world = World.current()
        if streamed:  # read batch by batch
            rows = torch.arange(data.n)
            train_rows, val_rows = (rows, None) if X_val is not None else self._split(rows, config.train)
            train, val = stream_sources(data, pre, config.train.binarize, train_rows, val_rows,
                                        None if X_val is None else as_dataset(X_val))
            train_mask = val_mask = None
        else:
            train, val, train_mask, val_mask = self._in_memory(data, pre, config.train, X_val)

        torch.manual_seed(self.seed)  # deterministic initial weights
        module = build_module(config.model).to(device)
        self.transfer_report_ = apply_transfer(module, config.train, resume=resume,
                                               run=run if world.is_main else None)
        if run is not None and not resume and world.is_main:
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_config(config)
            run.write_preprocessing(pre)
        trainer = Trainer(module, config.train, run=run, quiet=not (self.verbose and world.is_main),
                          callbacks=callbacks or ())
        with peers_reported(world):
            result = trainer.fit(train.to(device), None if val is None else val.to(device), resume=resume,
                                 train_mask=None if train_mask is None else train_mask.to(device),
                                 val_mask=None if val_mask is None else val_mask.to(device))

        self.module_ = module.eval()
        self.preprocessor_ = pre
        self.config_ = config
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_features_in_ = int(np.prod(data.shape))
        return self

    def _in_memory(
        self, data: Dataset, pre: Preprocessor, train: TrainConfig, X_val: DataLike | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Training and validation data (and masks of observed entries) as tensors in model units."""
        x, mask = zero_filled(pre.transform(data.x))  # NaN -> 0 plus the mask of observed entries
        if X_val is not None:
            val_data = pre.check(as_dataset(X_val, allow_missing=True))
            observed_mask(val_data)
            (train_x, train_mask), (val, val_mask) = (x, mask), zero_filled(pre.transform(val_data.x))
        else:
            train_x, val = self._split(x, train)
            train_mask, val_mask = (None, None) if mask is None else self._split(mask, train)
        if train.binarize != "none":
            val = None if val is None else fixed_binarization(val)
            if train.binarize == "static":
                train_x = fixed_binarization(train_x)
        return train_x, val, train_mask, val_mask

    def _split(self, x: torch.Tensor, train: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
        n_val = round(train.val_fraction * x.shape[0])
        if n_val == 0:
            return x, None
        if n_val >= x.shape[0]:
            raise DataError(f"only {x.shape[0]} examples: too few to hold out a validation split")
        order = torch.from_numpy(np.random.default_rng(train.seed).permutation(x.shape[0]))
        return x[order[n_val:]], x[order[:n_val]]

    @staticmethod
    def _check_likelihood_fits(config: RunConfig, data: Dataset) -> None:
        """Tables take the gaussian and mixed likelihoods, and bernoulli when every value is 0 or 1."""
        name = config.model.likelihood
        if data.kind != "table" or name in ("gaussian", "mixed"):
            return
        hint = "use likelihood gaussian (or mixed, for columns of several types)"
        if name != "bernoulli":
            raise ConfigError(f"likelihood {name} is for images; for a table {hint}, or bernoulli for 0/1 values")
        bad = first_non_binary(data)
        if bad:
            raise ConfigError(f"{data.source or 'the data'}: likelihood bernoulli models values 0 and 1, but {bad}; "
                              f"for other tables {hint}")

    def _dataset(self, X: DataLike, *, reset: bool, allow_missing: bool = False) -> tuple[Dataset, np.dtype]:
        """X checked (see :func:`_checked`), and, for a fitted model, that it has the features ``fit`` saw."""
        if not reset:
            check_is_fitted(self, "module_")
        data, dtype = _checked(X, allow_missing)
        if not reset:
            if not isinstance(X, Dataset) and data.kind == "table" and data.shape[0] != self.n_features_in_:
                raise DataError(f"X has {data.shape[0]} features, but {type(self).__name__} is expecting "
                                f"{self.n_features_in_} features as input")
            data = self.preprocessor_.check(data)
        return data, dtype

    # -- using a fitted model -----------------------------------------------------------------
    def _tensor(self, X: DataLike) -> torch.Tensor:
        data, _ = self._dataset(X, reset=False)
        return torch.from_numpy(self.preprocessor_.transform(data.x)).to(self.module_.device)

    def _model_input(self, X: DataLike) -> torch.Tensor:
        """Data as the model scores it: binarised once, reproducibly, if trained on binary data."""
        x = self._tensor(X)
        return fixed_binarization(x) if self.config_.train.binarize != "none" else x

    def _to_units(self, x: torch.Tensor, dtype: type) -> np.ndarray:
        return self.preprocessor_.inverse_transform(x.detach().cpu().numpy()).astype(dtype, copy=False)

    @torch.no_grad()
    def transform(self, X: DataLike) -> np.ndarray:
        """Posterior means E[z|x], ``(n, latent_dim)`` — deterministic, unlike a sample.

        Missing entries (NaN) are allowed: the code is then inferred from the observed ones.
        """
        data, dtype = self._dataset(X, reset=False, allow_missing=True)
        x, mask = zero_filled(self.preprocessor_.transform(data.x))
        x = x.to(self.module_.device)
        mask = torch.ones_like(x) if mask is None else mask.to(x.device)
        batches = zip(x.split(1024), mask.split(1024), strict=True)
        return torch.cat([self.module_.encode(b, m)[0] for b, m in batches]).cpu().numpy().astype(
            _result_dtype(dtype), copy=False)

    @torch.no_grad()
    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Decode codes to the decoder's mean, in the data's original units (float64 for float64 codes)."""
        check_is_fitted(self, "module_")
        try:
            codes = check_array(Z, dtype=FLOAT_DTYPES, input_name="Z")
        except ValueError as err:
            raise DataError(str(err)) from None
        if codes.shape[1] != self.module_.latent_dim:
            raise DataError(f"codes must have shape (n, {self.module_.latent_dim}), got {codes.shape}")
        module = self.module_
        z = torch.as_tensor(codes, dtype=torch.float32, device=module.device)
        return self._to_units(torch.cat([module.likelihood.mean(module.decode(b)) for b in z.split(1024)]),
                              _result_dtype(codes.dtype))

    @torch.no_grad()
    def sample(self, n: int = 64, temperature: float = 1.0, seed: int | None = None) -> np.ndarray:
        """New examples (float32): codes drawn from the prior, decoded to their mean.

        ``temperature`` scales the standard deviation of the prior's Gaussians (for a mixture or
        ladder prior, around each component's or layer's mean): below 1, more typical examples.
        """
        check_is_fitted(self, "module_")
        gen = torch.Generator().manual_seed(self.seed if seed is None else seed)
        z = self.module_.prior.sample(n, generator=gen, temperature=temperature)
        return self.inverse_transform(z.numpy().astype(np.float32, copy=False))

    @torch.no_grad()
    def reconstruct(self, X: DataLike) -> np.ndarray:
        """Decoder mean at the posterior mean, in original units."""
        return self.inverse_transform(self.transform(X))

    def to_frame(self, values: np.ndarray, index: list | None = None) -> pd.DataFrame:
        """Table rows from :meth:`sample`, :meth:`reconstruct` or :meth:`inverse_transform` as a DataFrame with
        the training table's columns: its text, category and boolean columns (codes in those arrays) in their
        own values and dtypes, columns of whole numbers (counts, integer categories) as int64."""
        check_is_fitted(self, "module_")
        pre = self.preprocessor_
        if pre.kind != "table":
            raise DataError("to_frame is for models of tables; this one models images")
        frame = to_frame(np.asarray(values), pre.column_names(), pre.vocabularies, index)
        layout = zip(frame.columns, pre.column_types or (), pre.categories or (), strict=False)
        whole = [name for name, kind, codes in layout if name not in (pre.vocabularies or {})
                 and (kind == "count" or (codes and np.all(np.mod(codes, 1) == 0)))]
        return frame.astype(dict.fromkeys(whole, np.int64))

    def score(self, X: DataLike, y: Any = None) -> float:
        """Mean ELBO in nats per example (higher is better)."""
        return mean_elbo(self.module_, self._model_input(X), seed=self.seed)["elbo"]

    def evaluate(self, X: DataLike, iw_samples: int = 1000, progress: bool = False) -> dict[str, Any]:
        """ELBO, importance-weighted NLL, bits/dim, reconstruction error, KL per dimension, active units."""
        return evaluate(self.module_, self._model_input(X), iw_samples=iw_samples, seed=self.seed,
                        progress=progress)

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> RunFolder:
        """Write config, weights and preprocessing to a run folder (no pickle anywhere)."""
        check_is_fitted(self, "module_")
        run = RunFolder(path)
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_config(self.config_)
        run.write_preprocessing(self.preprocessor_)
        run.save_weights(self.module_)
        return run


def load(path: str | Path, device: str = "auto") -> VAE:
    """Load a fitted :class:`VAE` from a run folder written by ``vaekit train`` or ``VAE.save``."""
    run = RunFolder(path).require()
    config = run.read_config()
    vae = VAE.from_config(config, device=device)
    vae.module_ = run.load_module(config).to(resolve_device(device))
    vae.preprocessor_ = run.read_preprocessing()
    vae.config_ = config
    vae.history_ = run.read_metrics()
    vae.best_epoch_ = max((r["epoch"] for r in vae.history_), default=0)
    vae.n_features_in_ = int(np.prod(config.model.input_shape))
    return vae
