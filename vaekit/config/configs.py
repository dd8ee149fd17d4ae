"""The whole configuration of a run, as plain dataclasses that round-trip through JSON.

``ModelConfig`` fixes the network's architecture, so a weights file plus its
``ModelConfig`` rebuild the model exactly. ``TrainConfig`` says how it was trained.
Both are validated on construction, so a bad value fails before any work is done.

Each field that is an option is declared here, once, with :func:`~vaekit.config.options.option`:
its default, help text and checks. :data:`OPTIONS` collects them; ``vaekit.VAE``'s parameters,
``vaekit train``'s flags and ``VAEImputer`` are built from it. Adding an option means adding a
field here (and using it where the model or the trainer needs it), nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from vaekit.config.column_types import COLUMN_TYPES, check_column_layout, parse_column_type
from vaekit.config.options import Option, OptionError, check_fields, field_options, option
from vaekit.errors import ConfigError

# This module imports nothing heavy (no torch): the command line builds its flags from the
# options declared below, and ``vaekit --help`` must stay fast.
# The modules that implement each choice import their names from here.
ARCHITECTURES = ("mlp", "conv", "resnet", "hierarchical")
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
#: Inference models of a ladder: the ladder's own (``vaekit.model.ladder``) or a bottom-up Markov chain
#: (``vaekit.model.markov_ladder``, which lossless compression codes in Bit-Swap order).
LADDER_INFERENCES = ("top-down", "bottom-up")
#: Choices that need images (channels, height, width), and the one to use for tables instead.
IMAGES_ONLY = {"model": ("conv", "resnet", "hierarchical"), "likelihood": ("logistic_mixture",)}
TABLES_TOO = {"model": "mlp", "likelihood": "gaussian"}
#: What ``--freeze`` accepts (``vaekit.train.transfer`` matches the patterns).
FREEZE_HELP = ("encoder, decoder, or a glob or regular expression over parameter names such as "
               "'encoder.layers.0.*' or '.*bias'; a name's dotted prefixes match too, so 'decoder.layers.0' "
               "is one layer")
#: Models the gradient guard (``vaekit.train.guard``) is on for by default, and its ``"auto"`` settings there:
#: clip at 5x and skip above 25x the running median gradient norm. A ladder counts as the model "ladder".
GUARDED_MODELS = frozenset({"ladder", "hierarchical"})
GUARD_AUTO = {"grad_clip": 5.0, "grad_skip": 25.0}
#: Gradient updates that ``epochs="auto"`` trains for: a table of a few hundred rows needs many passes.
AUTO_UPDATES = 4000


def _multiple_or_off(word: str) -> float | None:
    """A gradient guard's multiple as the command line writes it: a number, or off."""
    return None if word.lower() == "off" else float(word)


@dataclass
class ModelConfig:
    """Architecture: what goes in, how it is encoded, what comes out."""

    #: From the data, as are ``n_categories`` and (for ``likelihood="mixed"``) the resolved ``column_types``.
    input_shape: tuple[int, ...]
    arch: str = option("mlp", "mlp for any data; conv for images of any size; resnet, residual conv networks "
                       "for images; hierarchical, a residual conv VAE with stochastic layers at several "
                       "resolutions (ladder-style top-down inference)", name="model", type=str,
                       choices=ARCHITECTURES)
    hidden: tuple[int, ...] = option((400,), "hidden layer widths (encoder order; the decoder mirrors them)",
                                     type=int, nargs="+", at_least=1, metavar="N")
    channels: tuple[int, ...] = option((32, 64), "conv only: channels of each stride-2 conv layer", type=int,
                                       nargs="+", at_least=1, metavar="C")
    latent_dim: int = option(20, "size of the latent code z (model hierarchical: of its top layer)", type=int,
                             at_least=1)
    likelihood: str = option("auto", "p(x|z): auto = bernoulli for images, gaussian for tables (mixed for tables "
                             "with text, category or boolean columns); logistic or "
                             "categorical model 8-bit pixels exactly; mixed gives each column of a table a "
                             "likelihood of its type", type=str, choices=LIKELIHOOD_NAMES, auto=True,
                             config_default="bernoulli")
    prior: str = option("normal", "p(z): normal N(0, I); mog, a learned Gaussian mixture; vamp, VampPrior",
                        type=str, choices=PRIOR_NAMES)
    prior_components: int | None = option(None, "mixture components (mog, default 10) or pseudo-inputs (vamp, "
                                          "default 100)", type=int, at_least=1, metavar="K")
    ladder: tuple[int, ...] = option((), "sizes of extra stochastic layers above z, bottom to top (ladder-style "
                                     "top-down inference), e.g. 16 above a 32-dimensional z", type=int,
                                     nargs="*", at_least=1, metavar="N")
    ladder_inference: str = option("top-down", "ladder only: q(z|x) top-down, each layer the prior corrected by "
                                   "the data (the better bound), or bottom-up, a Markov chain q(z_1|x) "
                                   "q(z_2|z_1) ... that lossless compression codes in Bit-Swap order, whose "
                                   "initial bits do not grow with depth", type=str, choices=LADDER_INFERENCES)
    mask_input: bool = option("auto", "feed the mask of observed entries to the encoder as extra inputs "
                              "(auto: when the training data has missing entries)", type=bool, auto=True,
                              config_default=False)
    column_types: tuple[str, ...] = option(
        None, f"likelihood mixed: column types ({', '.join(COLUMN_TYPES)}) instead of detected ones, by "
        "column name (COL=TYPE on the command line, repeated) or one for each column; categorical also "
        "accepts text columns refused as free text, dates or mixed values",
        flag="--column-type", metavar="COL=TYPE", parse_word=parse_column_type, repeat=True,
        type_doc="mapping of str to str, or sequence of str", config_default=())
    mixture_components: int = option(10, "likelihood logistic_mixture (PixelCNN++'s discretized logistic mixture, "
                                     "RGB-coupled, for 8-bit pixels): components per pixel", type=int, at_least=1,
                                     metavar="K")
    res_width: int = option(32, "model resnet (residual conv networks for images): channels of the first stage, "
                            "doubled at each further stage", type=int, at_least=1, metavar="C")
    res_blocks: int = option(1, "model resnet: residual blocks per stage", type=int, at_least=1, metavar="N")
    res_stages: int = option(2, "model resnet: stages, each halving height and width (rounding up)", type=int,
                             at_least=1, metavar="N")
    latent_groups: int = option(2, "model hierarchical (which takes the resnet's width, blocks and stages): "
                                "stochastic layers, a latent_dim vector on top and latent_groups - 1 feature "
                                "maps below it at the resolutions of the last stages, from the coarsest "
                                "(at most res_stages + 1 layers)", type=int, at_least=2, metavar="G")
    latent_channels: int = option(4, "model hierarchical: channels of each latent feature map", type=int,
                                  at_least=1, metavar="C")
    encoder: dict[str, Any] | None = option(
        None, "your own encoder network (Python API only; README: Your own networks): a vaekit.Network "
        "instance, or {'class': 'module:QualName', 'kwargs': {...}}; it returns (mu, logvar)", flag="",
        type_doc="vaekit.Network or mapping")
    decoder: dict[str, Any] | None = option(
        None, "your own decoder network (Python API only), as for encoder; it returns the likelihood's "
        "parameters", flag="", type_doc="vaekit.Network or mapping")
    #: The number of categories of each column of a mixed table (0 if not categorical).
    n_categories: tuple[int, ...] = ()

    @property
    def layered(self) -> bool:
        """Whether the model has several stochastic layers (a ladder, or the hierarchical conv VAE)."""
        return bool(self.ladder) or self.arch == "hierarchical"

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if not self.input_shape or min(self.input_shape) < 1:
            raise ConfigError(f"input_shape must be positive sizes, got {self.input_shape}")
        check_fields(self, MODEL_OPTIONS)
        for name, value in (("model", self.arch), ("likelihood", self.likelihood)):
            if value in IMAGES_ONLY[name] and len(self.input_shape) != 3:
                raise OptionError(f"{name}={value!r} needs images (channels, height, width); this data has shape "
                                  f"{self.input_shape}: use {name}={TABLES_TOO[name]!r} for tables", name)
        if self.arch in ("resnet", "hierarchical") and self.ladder:
            raise OptionError(f"ladder grows from the hidden layers of an mlp or conv encoder, not "
                              f"model={self.arch!r}", "ladder", "model")
        if self.ladder_inference != "top-down" and not self.ladder:
            raise OptionError(f"ladder_inference={self.ladder_inference!r} is for ladder models; give ladder "
                              "sizes too, or leave it at 'top-down'", "ladder_inference", "ladder")
        if self.arch == "hierarchical" and self.latent_groups > self.res_stages + 1:
            raise OptionError(f"latent_groups={self.latent_groups} needs res_stages >= {self.latent_groups - 1}: "
                              "each latent feature map sits at the resolution of one stage",
                              "latent_groups", "res_stages")
        self.encoder = check_network_spec("encoder", self.encoder)
        self.decoder = check_network_spec("decoder", self.decoder)
        if (self.ladder or self.arch == "hierarchical") and (self.encoder or self.decoder):
            raise OptionError("ladder and model='hierarchical' build their own networks; they do not take a custom "
                              "encoder or decoder", "ladder", "model", "encoder", "decoder")
        self.prior_components = resolve_components(self.prior, self.prior_components)
        if self.layered and self.prior != "normal":
            name = "ladder" if self.ladder else "model"
            raise OptionError(f"{name} brings its own hierarchical p(z); use prior='normal' with it", name, "prior")
        self.column_types, self.n_categories = check_column_layout(
            self.likelihood, self.input_shape, self.column_types, self.n_categories)


@dataclass
class TrainConfig:
    """Optimisation: the objective's weights, the optimiser and the schedule."""

    epochs: int = option(100, "maximum epochs; auto: about 4,000 gradient updates however many rows (small "
                         "tables need many passes); raise it when resuming a run to train longer", type=int,
                         at_least=1, auto=True, group="optimisation")
    batch_size: int = option(128, "examples per gradient update (per process under torchrun)", type=int,
                             at_least=1, group="optimisation")
    lr: float = option(1e-3, "Adam learning rate", type=float, positive=True, group="optimisation")
    lr_schedule: str = option("constant", "cosine: decay the learning rate to 0 over the epochs (better results "
                              "for a fixed budget of epochs; more epochs on resuming stretch the curve, so the "
                              "rate rises again)", type=str, choices=LR_SCHEDULES, group="optimisation")
    beta: float = option(1.0, "weight of the KL term (1 = the true ELBO; >1 favours disentangled codes)",
                         type=float, at_least=0, group="optimisation")
    iw_samples: int = option(1, "importance samples per example (1 = ELBO; more: the tighter IWAE bound)",
                             type=int, at_least=1, group="optimisation")
    grad_estimator: str = option("standard", "encoder gradient of the IWAE bound: dreg (doubly reparameterised) "
                                 "or stl (sticking the landing) lower its noise", type=str, choices=GRAD_ESTIMATORS,
                                 group="latent")
    kl_schedule: str = option("constant", "KL weight: constant beta; linear warm-up from 0; cyclical ramps "
                              "(Fu et al.)", type=str, choices=KL_SCHEDULES, group="latent")
    kl_warmup: float = option(0.0, "ramp length of the KL schedule in epochs (cyclical: each ramp, then as long "
                              "at beta)", type=float, at_least=0, metavar="EPOCHS", group="latent")
    free_bits: float = option(0.0, "free bits: floor (nats) under each latent dimension's KL in the loss, "
                              "against collapse (0 = off); with several stochastic layers, under each "
                              "layer's KL per dimension (free bits per group)", type=float, at_least=0,
                              metavar="NATS", group="latent")
    capacity: float | None = option(None, "capacity annealing: gamma*|KL - C|, C rising from 0 to this many "
                                    "nats over the capacity epochs", type=float, at_least=0, metavar="NATS",
                                    group="latent")
    capacity_epochs: float = option(0.0, "epochs over which the capacity C rises from 0", type=float,
                                    at_least=0, metavar="EPOCHS", group="latent")
    capacity_gamma: float = option(1000.0, "weight gamma of |KL - C|", type=float, positive=True, group="latent")
    tc_beta: float | None = option(None, "beta-TCVAE: weight of the total-correlation part of the KL, for "
                                   "disentangling (equal to beta: the plain ELBO)", type=float, at_least=0,
                                   metavar="B", group="latent")
    binarize: str = option("auto", "bernoulli only: static = one fixed random binarisation, dynamic = resampled "
                           "every epoch (auto: dynamic for images)", type=str, choices=BINARIZE_MODES, auto=True,
                           config_default="none")
    val_fraction: float = option(0.1, "share of the training data held out for validation (early stopping, "
                                 "best epoch); 0: keep the best epoch by the training bound", type=float,
                                 at_least=0, below=1, group="optimisation")
    patience: int = option(10, "epochs without improvement before stopping", type=int, at_least=1,
                           group="optimisation")
    grad_clip: float | None = option(
        "auto", "clip each update's gradient norm to this many times the median norm of the last 100 updates "
        "(off: never; auto: 5 for ladder and hierarchical models, off otherwise; README: Stable training of "
        "deep models)", type=float, at_least=1, auto=True, parse_word=_multiple_or_off,
        config_default=None, metavar="X|off", group="optimisation")
    grad_skip: float | None = option(
        "auto", "skip updates whose gradient norm is above this many times that median, or not finite, as "
        "VDVAE does (off: never; auto: 25 for ladder and hierarchical models, off otherwise); metrics.jsonl "
        "counts clipped and skipped updates", type=float, at_least=1, auto=True,
        parse_word=_multiple_or_off, config_default=None, metavar="X|off", group="optimisation")
    seed: int = option(0, "random seed of the weights, the validation split and the batches", type=int,
                       at_least=0, group="optimisation")
    device: str = option("auto", "auto (CUDA if present, else CPU), cpu, cuda, cuda:1 ...", type=str,
                         group="optimisation")
    precision: str = option("fp32", "bf16: matrix products in bfloat16 (faster on GPUs and CPUs with bf16 units "
                            "only)", type=str, choices=PRECISIONS, group="optimisation")
    compile: bool = option(False, "compile the encoder and decoder with torch.compile (a one-off compile; "
                           "measure before relying on it)", type=bool, group="optimisation")
    workers: int = option(0, "for data streamed from disk: worker processes reading batches ahead",
                          type=int, at_least=0, group="optimisation")
    init_from: str | None = option(None, "start from this trained run's weights: all of them, or those whose "
                                   "shapes fit (fresh input/output layers for data of another size); on the "
                                   "command line, model options left at their defaults follow RUN. "
                                   "transfer.json lists what was reused", type=str, metavar="RUN", group="transfer")
    freeze: tuple[str, ...] = option((), f"with a run to start from, keep these parameters fixed: {FREEZE_HELP}",
                                     type=str, nargs="+", metavar="PART", group="transfer")

    def __post_init__(self) -> None:
        check_fields(self, TRAIN_OPTIONS)
        if self.freeze and self.init_from is None:
            raise OptionError("freeze needs init_from: frozen fresh weights would stay random", "freeze", "init_from")
        check_objective_settings(self)


def check_objective_settings(config: TrainConfig) -> None:
    """Reject settings that contradict each other, naming the parameters to change."""
    if config.kl_schedule == "constant" and config.kl_warmup != 0:
        raise OptionError("kl_warmup needs a kl_schedule that ramps (linear or cyclical)", "kl_warmup", "kl_schedule")
    if config.kl_schedule != "constant" and not config.kl_warmup > 0:
        raise OptionError(f"kl_schedule={config.kl_schedule!r} needs kl_warmup > 0 (the ramp length in epochs)",
                          "kl_schedule", "kl_warmup")
    _check_capacity(config)
    shaped = {"free_bits": config.free_bits > 0, "capacity": config.capacity is not None,
              "tc_beta": config.tc_beta is not None}
    if config.iw_samples > 1 or config.grad_estimator != "standard":
        for name, used in shaped.items():
            if used:
                raise OptionError(f"{name} shapes the single-sample ELBO; it does not combine with iw_samples > 1 "
                                  "or a grad_estimator other than 'standard'", name, "iw_samples", "grad_estimator")


def _check_capacity(config: TrainConfig) -> None:
    if config.capacity is None:
        if config.capacity_epochs != 0:
            raise OptionError("capacity_epochs needs capacity (the nats it rises to)", "capacity_epochs", "capacity")
        return
    if not config.capacity_epochs > 0:
        raise OptionError("capacity needs a schedule: capacity_epochs > 0, over which C rises from 0 to its value",
                          "capacity", "capacity_epochs")
    if config.beta != 1 or config.kl_schedule != "constant" or config.free_bits > 0 or config.tc_beta is not None:
        raise OptionError("capacity replaces beta, kl_schedule, free_bits and tc_beta: gamma * |KL - C| is the "
                          "whole KL term; leave those at their defaults",
                          "capacity", "beta", "kl_schedule", "free_bits", "tc_beta")


def check_model_fits(model: ModelConfig, config: TrainConfig) -> None:
    """Reject training settings the model cannot take: levers that need a single diagonal-Gaussian
    posterior or a per-dimension KL, and binarised data without the Bernoulli likelihood."""
    if config.free_bits > 0 and model.prior != "normal":
        raise OptionError("free_bits needs a per-dimension KL (or one per stochastic layer): prior='normal'",
                          "free_bits", "prior")
    layers = "ladder" if model.ladder else "model"
    if config.tc_beta is not None and model.layered:
        raise OptionError(f"tc_beta needs one stochastic layer (a diagonal-Gaussian posterior); drop {layers}",
                          "tc_beta", layers)
    if config.grad_estimator != "standard" and model.layered:
        raise OptionError(f"grad_estimator={config.grad_estimator!r} needs one stochastic layer; use "
                          f"grad_estimator='standard' with {layers}", "grad_estimator", layers)
    if config.binarize != "none" and model.likelihood != "bernoulli":
        raise OptionError(f"binarize={config.binarize!r} only makes sense with likelihood='bernoulli'",
                          "binarize", "likelihood")


def check_network_spec(role: str, spec: Any) -> dict[str, Any] | None:
    """A custom network as ``config.json`` records it: ``{"class": "module:QualName", "kwargs": {...}}``."""
    if spec is None:
        return None
    name = spec.get("class") if isinstance(spec, Mapping) else None
    if not (isinstance(name, str) and name.count(":") == 1 and all(name.split(":"))
            and isinstance(spec.get("kwargs"), Mapping) and set(spec) == {"class", "kwargs"}):
        raise OptionError(f"{role} must name its class as 'module:QualName' with a mapping of kwargs "
                          f"({{'class': ..., 'kwargs': ...}}); got {spec!r}", role)
    return {"class": name, "kwargs": dict(spec["kwargs"])}


def resolve_components(prior: str, components: int | None) -> int | None:
    """The component count a config records for ``prior``: its default where None, validated."""
    default = PRIOR_COMPONENTS[prior]
    if default is None:
        if components is not None:
            raise OptionError(f"the {prior} prior has no components; prior_components is for mog and vamp",
                              "prior_components")
        return None
    return default if components is None else components


MODEL_OPTIONS = field_options(ModelConfig, "model")
TRAIN_OPTIONS = field_options(TrainConfig, "train")
#: Every option, in the order of ``vaekit.VAE``'s parameters; ``verbose`` is the one no configuration records.
OPTIONS: dict[str, Option] = {o.name: o for o in (
    *MODEL_OPTIONS, *TRAIN_OPTIONS,
    Option("verbose", False, "show a progress bar and a summary while training (the command line: unless "
                             "--quiet)", type=bool, flag=""),
)}


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Estimator parameters, each checked (``"auto"`` allowed where declared) and in its plain type."""
    unknown = sorted(set(params) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r}; the parameters are {', '.join(OPTIONS)}")
    return {name: OPTIONS[name].check(value) for name, value in params.items()}


def resolve_auto(params: Mapping[str, Any], *, kind: str, rows: int, has_missing: bool,
                 categorical: bool = False) -> dict[str, Any]:
    """``params`` with each ``"auto"`` replaced by what it means for this data (``kind`` "image" or "table";
    ``categorical``: a table with columns of text, categories or booleans)."""
    p = dict(params)
    if p["likelihood"] == "auto":
        p["likelihood"] = "bernoulli" if kind == "image" else "mixed" if categorical else "gaussian"
    if p["binarize"] == "auto":
        p["binarize"] = "dynamic" if p["likelihood"] == "bernoulli" and kind == "image" else "none"
    if p["mask_input"] == "auto":
        p["mask_input"] = has_missing
    guarded = ("ladder" if p["ladder"] else p["model"]) in GUARDED_MODELS
    for name, multiple in GUARD_AUTO.items():
        if p[name] == "auto":
            p[name] = multiple if guarded else None
    if p["epochs"] == "auto":
        train_rows = max(1, rows - round(p["val_fraction"] * rows))
        p["epochs"] = max(1, round(AUTO_UPDATES / math.ceil(train_rows / p["batch_size"])))
    return p


def config_fields(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``ModelConfig`` and ``TrainConfig`` keyword arguments that resolved parameters give."""
    sections: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for name, value in params.items():
        spec = OPTIONS[name]
        if spec.section:
            sections[spec.section][spec.field] = value
    return sections["model"], sections["train"]


def config_params(config: RunConfig) -> dict[str, Any]:
    """The estimator parameters a run was configured with (resolved: no ``"auto"``)."""
    return {o.name: getattr(getattr(config, o.section), o.field) for o in OPTIONS.values() if o.section}


@dataclass
class RunConfig:
    """Everything ``config.json`` holds: model, training, where the data came from, versions."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_model_fits(self.model, self.train)

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
