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

from vaekit.config.column_types import check_column_layout
from vaekit.errors import ConfigError

# This module imports nothing heavy (no torch): the command line builds its options from the
# names below and from the fields of the dataclasses, and ``vaekit --help`` must stay fast.
# The modules that implement each choice import their names from here.
ARCHITECTURES = ("mlp", "conv", "resnet")
BINARIZE_MODES = ("none", "static", "dynamic")
PRECISIONS = ("fp32", "bf16")
#: Decoder likelihoods (``vaekit.model.likelihoods.LIKELIHOODS``, ``mixed`` in ``vaekit.model.mixed_likelihood``,
#: ``logistic_mixture`` in ``vaekit.model.logistic_mixture``).
LIKELIHOOD_NAMES = ("bernoulli", "gaussian", "logistic", "categorical", "mixed", "logistic_mixture")
#: Priors (``vaekit.model.priors.PRIORS``) and the default number of components of those that have them.
PRIOR_NAMES = ("normal", "mog", "vamp")
PRIOR_COMPONENTS: dict[str, int | None] = {"normal": None, "mog": 10, "vamp": 100}
#: KL weight schedules (see ``vaekit.train.regularizers``).
KL_SCHEDULES = ("constant", "linear", "cyclical")
#: Learning-rate schedules (see ``vaekit.train.trainer.scheduled_lr``).
LR_SCHEDULES = ("constant", "cosine")
#: Gradient estimators of the (importance-weighted) bound; see ``vaekit.train.objectives.iwae_loss``.
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
    #: Components of the logistic_mixture likelihood (per pixel).
    mixture_components: int = 10
    #: The resnet model: channels of its first stage (doubled at each further stage), residual
    #: blocks per stage, and stages (each halves height and width, rounding up).
    res_width: int = 32
    res_blocks: int = 1
    res_stages: int = 2

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
        self.prior_components = resolve_components(self.prior, self.prior_components)
        self.ladder = tuple(int(d) for d in self.ladder)
        if any(d < 1 for d in self.ladder):
            raise ConfigError(f"ladder layer sizes must be positive, got {self.ladder}")
        if self.ladder and self.prior != "normal":
            raise ConfigError("a ladder model has its own hierarchical prior; use --prior normal with --ladder")
        self.column_types, self.n_categories = check_column_layout(
            self.likelihood, self.input_shape, self.column_types, self.n_categories)
        for what, used in (("the resnet model", self.arch == "resnet"),
                           ("the logistic_mixture likelihood", self.likelihood == "logistic_mixture")):
            if used and len(self.input_shape) != 3:
                raise ConfigError(f"{what} needs images (channels, height, width); "
                                  f"this data has shape {self.input_shape}")
        if self.arch == "resnet" and self.ladder:
            raise ConfigError("a ladder model grows from the hidden layers of the mlp or conv encoder; "
                              "use model mlp or conv with ladder")
        for name in ("mixture_components", "res_width", "res_blocks", "res_stages"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
            setattr(self, name, int(getattr(self, name)))


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


def check_objective_settings(config: TrainConfig) -> None:
    """Reject settings that contradict each other, naming the flag to change."""
    if config.grad_estimator not in GRAD_ESTIMATORS:
        raise ConfigError(f"--grad-estimator must be one of {', '.join(GRAD_ESTIMATORS)}, "
                          f"got {config.grad_estimator!r}")
    if config.kl_schedule not in KL_SCHEDULES:
        raise ConfigError(f"--kl-schedule must be one of {', '.join(KL_SCHEDULES)}, got {config.kl_schedule!r}")
    if config.kl_schedule == "constant" and config.kl_warmup != 0:
        raise ConfigError("--kl-warmup needs --kl-schedule linear or cyclical")
    if config.kl_schedule != "constant" and not config.kl_warmup > 0:
        raise ConfigError(f"--kl-schedule {config.kl_schedule} needs --kl-warmup EPOCHS > 0 (the ramp length)")
    if config.free_bits < 0:
        raise ConfigError(f"--free-bits must be non-negative (0 = off), got {config.free_bits}")
    if config.tc_beta is not None and config.tc_beta < 0:
        raise ConfigError(f"--tc-beta must be non-negative, got {config.tc_beta}")
    _check_capacity(config)
    shaped = {"--free-bits": config.free_bits > 0, "--capacity": config.capacity is not None,
              "--tc-beta": config.tc_beta is not None}
    if config.iw_samples > 1 or config.grad_estimator != "standard":
        for flag, used in shaped.items():
            if used:
                raise ConfigError(f"{flag} shapes the single-sample ELBO; it does not combine with "
                                  "--iw-samples > 1 or --grad-estimator stl/dreg")


def _check_capacity(config: TrainConfig) -> None:
    if config.capacity is None:
        if config.capacity_epochs != 0:
            raise ConfigError("--capacity-epochs needs --capacity NATS (the capacity it rises to)")
        return
    if config.capacity < 0:
        raise ConfigError(f"--capacity must be non-negative nats, got {config.capacity}")
    if not config.capacity_epochs > 0:
        raise ConfigError("--capacity needs a schedule: --capacity-epochs EPOCHS > 0, over which C rises "
                          "from 0 to the capacity")
    if not config.capacity_gamma > 0:
        raise ConfigError(f"--capacity-gamma must be positive, got {config.capacity_gamma}")
    if config.beta != 1 or config.kl_schedule != "constant" or config.free_bits > 0 or config.tc_beta is not None:
        raise ConfigError("--capacity replaces --beta, --kl-schedule, --free-bits and --tc-beta: "
                          "gamma * |KL - C| is the whole KL term; leave those at their defaults")


def check_model_fits(model: ModelConfig, config: TrainConfig) -> None:
    """Reject levers that need a single diagonal-Gaussian posterior or a per-dimension KL."""
    if config.free_bits > 0 and (model.prior != "normal" or model.ladder):
        raise ConfigError("--free-bits needs a per-dimension KL: the normal prior and no --ladder")
    if config.tc_beta is not None and model.ladder:
        raise ConfigError("--tc-beta needs one stochastic layer (a diagonal-Gaussian posterior); drop --ladder")
    if config.grad_estimator != "standard" and model.ladder:
        raise ConfigError(f"--grad-estimator {config.grad_estimator} needs one stochastic layer; "
                          "use standard with --ladder")


def resolve_components(prior: str, components: int | None) -> int | None:
    """The component count a config records for ``prior``: its default where None, validated."""
    default = PRIOR_COMPONENTS[prior]
    if default is None:
        if components is not None:
            raise ConfigError(f"the {prior} prior has no components; --prior-components is for mog and vamp")
        return None
    components = default if components is None else int(components)
    if components < 1:
        raise ConfigError(f"--prior-components must be at least 1, got {components}")
    return components


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

    from vaekit.version import __version__

    return {"vaekit": __version__, "torch": torch.__version__, "numpy": numpy.__version__}
