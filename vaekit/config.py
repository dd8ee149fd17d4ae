"""The whole configuration of a run, as plain dataclasses that round-trip through JSON.

``ModelConfig`` fixes the network's architecture, so a weights file plus its
``ModelConfig`` rebuild the model exactly. ``TrainConfig`` says how it was trained.
Both are validated on construction, so a bad value fails before any work is done.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from vaekit.column_types import check_column_layout
from vaekit.errors import ConfigError

# This module imports nothing heavy (no torch): the command line builds its options from the
# names below and from the fields of the dataclasses, and ``vaekit --help`` must stay fast.
# The modules that implement each choice import their names from here.
ARCHITECTURES = ("mlp", "conv")
BINARIZE_MODES = ("none", "static", "dynamic")
PRECISIONS = ("fp32", "bf16")
#: Decoder likelihoods (``vaekit.likelihoods.LIKELIHOODS``, and ``mixed`` in ``vaekit.mixed_likelihood``).
LIKELIHOOD_NAMES = ("bernoulli", "gaussian", "logistic", "categorical", "mixed")
#: Priors (``vaekit.priors.PRIORS``).
PRIOR_NAMES = ("normal", "mog", "vamp")
#: KL weight schedules (see ``vaekit.regularizers``).
KL_SCHEDULES = ("constant", "linear", "cyclical")
#: Learning-rate schedules (see ``vaekit.training.scheduled_lr``).
LR_SCHEDULES = ("constant", "cosine")
#: Gradient estimators of the (importance-weighted) bound; see ``vaekit.objectives.iwae_loss``.
GRAD_ESTIMATORS = ("standard", "stl", "dreg")
#: Config fields whose estimator parameter has another name (``VAE(model="conv")`` sets ``arch``).
PARAM_NAMES = {"arch": "model"}


@dataclass
class ModelConfig:
    """Architecture: what goes in, how it is encoded, what comes out."""

    input_shape: tuple[int, ...]
    arch: str = "mlp"
    hidden: tuple[int, ...] = (400,)
    channels: tuple[int, ...] = (32, 64)
    latent_dim: int = 20
    likelihood: str = "bernoulli"
    prior: str = "normal"
    #: Mixture components (mog) or pseudo-inputs (vamp) of the prior; None = the prior's default.
    prior_components: int | None = None
    #: Sizes of extra stochastic layers above z, bottom to top (ladder-style top-down inference).
    ladder: tuple[int, ...] = ()
    #: Feed the observation mask to the encoder as extra inputs (for data with missing entries).
    mask_input: bool = False
    #: The mixed likelihood's type of each column and its number of categories (0 if not categorical).
    column_types: tuple[str, ...] = ()
    n_categories: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.channels = tuple(int(c) for c in self.channels)
        if not self.input_shape or min(self.input_shape) < 1:
            raise ConfigError(f"input_shape must be positive sizes, got {self.input_shape}")
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"unknown model {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.arch == "conv" and len(self.input_shape) != 3:
            raise ConfigError(
                f"the conv model needs images (channels, height, width); this data has shape {self.input_shape}"
                " — use --model mlp for tables"
            )
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden + self.channels):
            raise ConfigError("layer sizes must be positive")
        if self.likelihood not in LIKELIHOOD_NAMES:
            raise ConfigError(f"unknown likelihood {self.likelihood!r}; "
                              f"choose one of {', '.join(LIKELIHOOD_NAMES)}")
        if self.prior not in PRIOR_NAMES:
            raise ConfigError(f"unknown prior {self.prior!r}; choose one of {', '.join(PRIOR_NAMES)}")
        from vaekit.priors import PRIORS  # torch: only when a config is built, never for --help

        self.prior_components = PRIORS[self.prior].resolve_components(self.prior_components)
        self.ladder = tuple(int(d) for d in self.ladder)
        if any(d < 1 for d in self.ladder):
            raise ConfigError(f"ladder layer sizes must be positive, got {self.ladder}")
        if self.ladder and self.prior != "normal":
            raise ConfigError("a ladder model has its own hierarchical prior; use --prior normal with --ladder")
        self.column_types, self.n_categories = check_column_layout(
            self.likelihood, self.input_shape, self.column_types, self.n_categories)


@dataclass
class TrainConfig:
    """Optimisation: the objective's weights, the optimiser and the schedule."""

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    #: Learning-rate schedule over the epochs: constant, or cosine (decays to 0 at the last epoch).
    lr_schedule: str = "constant"
    beta: float = 1.0
    iw_samples: int = 1
    #: Gradient estimator of the importance-weighted bound: standard, stl or dreg.
    grad_estimator: str = "standard"
    #: KL weight schedule (constant, linear, cyclical) and its ramp length in epochs.
    kl_schedule: str = "constant"
    kl_warmup: float = 0.0
    #: Free bits: floor (nats) under each latent dimension's batch-mean KL in the loss.
    free_bits: float = 0.0
    #: Capacity annealing: gamma * |KL - C|, C rising from 0 to ``capacity`` nats over ``capacity_epochs``.
    capacity: float | None = None
    capacity_epochs: float = 0.0
    capacity_gamma: float = 1000.0
    #: beta-TCVAE: weight of the total-correlation part of the KL (None = off; equal to beta = plain).
    tc_beta: float | None = None
    binarize: str = "none"
    val_fraction: float = 0.1
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    #: bf16 autocasts matrix products (for GPUs and bf16 CPUs); compile torch.compiles encoder and decoder.
    precision: str = "fp32"
    compile: bool = False
    #: DataLoader worker processes that read streamed (memory-mapped or lazily decoded) data ahead.
    workers: int = 0
    #: Transfer learning: the run folder whose weights start this model, and the parts kept fixed.
    init_from: str | None = None
    freeze: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"unknown --lr-schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        if self.beta < 0:
            raise ConfigError(f"--beta must be non-negative (1 is the plain ELBO), got {self.beta}")
        if self.iw_samples < 1:
            raise ConfigError(f"--iw-samples must be at least 1, got {self.iw_samples}")
        from vaekit.regularizers import check_objective_settings  # torch, as above

        check_objective_settings(self)
        if self.binarize not in BINARIZE_MODES:
            raise ConfigError(f"--binarize must be one of {', '.join(BINARIZE_MODES)}, got {self.binarize!r}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.patience < 1:
            raise ConfigError(f"--patience must be at least 1, got {self.patience}")
        self.init_from = None if self.init_from is None else str(self.init_from)
        self.freeze = (self.freeze,) if isinstance(self.freeze, str) else tuple(str(f) for f in self.freeze)
        if self.freeze and self.init_from is None:
            raise ConfigError("--freeze needs --init-from: frozen fresh weights would stay random")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 (read in the training process) or more, got {self.workers}")


@dataclass
class RunConfig:
    """Everything ``config.json`` holds: model, training, where the data came from, versions."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        try:
            return cls(
                model=_build(ModelConfig, raw["model"]),
                train=_build(TrainConfig, raw.get("train", {})),
                data=dict(raw.get("data", {})),
                versions=dict(raw.get("versions", {})),
            )
        except (KeyError, TypeError) as err:
            raise ConfigError(f"config is incomplete or malformed: {err}") from None


def estimator_params(section: type) -> dict[str, str]:
    """Estimator parameter name -> field name, for every field of a config dataclass.

    Every parameter of :class:`vaekit.VAE` but ``verbose`` is one of these (``input_shape`` and
    ``n_categories`` come from the data instead), so the command line reads the parameter names
    here without importing the estimator (tests/test_cli.py checks the two agree).
    """
    return {PARAM_NAMES.get(f.name, f.name): f.name for f in dataclasses.fields(section)}


def _build(cls: type, raw: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    return cls(**raw)


def versions() -> dict[str, str]:
    """Library versions to record with every run, for reproducibility."""
    import numpy
    import torch

    from vaekit import __version__

    return {"vaekit": __version__, "torch": torch.__version__, "numpy": numpy.__version__}
