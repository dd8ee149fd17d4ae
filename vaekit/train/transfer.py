"""Transfer learning: start a model from a trained run's weights, and keep parts of it fixed.

Weights are matched by name and shape, so a model for data of another size keeps the
source's middle layers and gets fresh input and output layers. :class:`TransferReport`
says exactly which tensors were reused, which were re-initialised (and why) and which
are frozen. A frozen parameter gets no gradient (``requires_grad=False``, so the
optimiser never sees it), and a submodule whose parameters are all frozen always runs
in eval mode, so its BatchNorm statistics and dropout stay fixed while the rest trains.

    >>> module = VAEModule(config)                                  # the new model
    >>> report = load_pretrained(module, "runs/digits")             # reuse what fits
    >>> report.frozen = freeze_parameters(module, ["decoder"])      # encoder-only fine-tuning
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from vaekit.config.configs import TrainConfig
from vaekit.errors import ConfigError
from vaekit.io import atomic
from vaekit.io.runfolder import RunFolder
from vaekit.io.serialization import load_tensors
from vaekit.model.module import VAEModule

#: Written into the new run folder, next to config.json.
REPORT_FILE = "transfer.json"


@dataclass
class TransferReport:
    """What a model took from its source run: reused and re-initialised tensors, frozen parameters."""

    source: str
    reused: list[str] = field(default_factory=list)
    #: name -> why it could not be reused (absent from the source, or another shape).
    reinitialised: dict[str, str] = field(default_factory=dict)
    frozen: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """A few lines for people: counts, then every re-initialised tensor and why."""
        lines = [(f"initialised from {self.source}: reused {len(self.reused)} tensors, "
                  f"re-initialised {len(self.reinitialised)}, froze {len(self.frozen)} parameters")]
        lines += [f"  re-initialised {name}: {why}" for name, why in self.reinitialised.items()]
        if self.frozen:
            lines.append("  frozen: " + ", ".join(self.frozen))
        return "\n".join(lines)


def load_pretrained(module: VAEModule, source: str | Path) -> TransferReport:
    """Copy every tensor of ``source``'s best weights whose name and shape fit ``module``.

    The latent size must match (the pretrained latent space is what is being reused); any
    other difference only re-initialises the tensors it touches.
    """
    run = RunFolder(source).require()
    model = run.read_config().model
    latent_dim = module.config.latent_dim
    if model.latent_dim != latent_dim:
        raise ConfigError(
            f"--init-from {source}: its latent size is {model.latent_dim} but this model's is "
            f"{latent_dim}; a pretrained latent space keeps its size (use --latent-dim {model.latent_dim})"
        )
    tensors, _ = load_tensors(run.file(RunFolder.MODEL))
    report = TransferReport(source=str(source))
    state = module.state_dict()
    for name, target in state.items():
        if name not in tensors:
            report.reinitialised[name] = "not in the source model"
        elif tensors[name].shape != target.shape:
            report.reinitialised[name] = (f"shape {tuple(tensors[name].shape)} in the source, "
                                          f"{tuple(target.shape)} here")
    misfit_layers = {_layer(name) for name in report.reinitialised}
    for name in state:  # a layer is reused whole or not at all: a bias means nothing without its weight
        if name not in report.reinitialised and _layer(name) in misfit_layers:
            report.reinitialised[name] = f"the rest of layer {_layer(name)} does not fit"
    report.reused = [name for name in state if name not in report.reinitialised]
    matched = {name: tensors[name] for name in report.reused}
    if not matched:
        raise ConfigError(f"--init-from {source}: none of its weights fit this model "
                          f"({model.arch} {model.hidden} in the source); choose a compatible architecture")
    module.load_state_dict(matched, strict=False)
    return report


def _layer(name: str) -> str:
    """The module that owns a tensor: 'encoder.layers.0.weight' -> 'encoder.layers.0'."""
    return name.rpartition(".")[0]


def _prefixes(name: str) -> list[str]:
    """'encoder.layers.0.weight' -> ['encoder', 'encoder.layers', 'encoder.layers.0', 'encoder.layers.0.weight']."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def match_parameters(module: nn.Module, pattern: str) -> list[str]:
    """Names of the parameters that ``pattern`` (a glob or a regular expression) selects."""
    try:
        regex = re.compile(pattern)
    except re.error:
        regex = None  # a glob such as '*.bias' is no valid regex; it still matches as a glob
    return [
        name for name, _ in module.named_parameters()
        if any(fnmatch.fnmatchcase(p, pattern) or (regex is not None and regex.fullmatch(p))
               for p in _prefixes(name))
    ]


def _keep_eval(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: a frozen block runs in eval mode even inside a model in training mode."""
    module.eval()


def freeze_parameters(module: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Freeze the parameters the patterns select; return their names (an unmatched pattern is an error)."""
    names: list[str] = []
    for pattern in patterns:
        found = match_parameters(module, pattern)
        if not found:
            examples = ", ".join(name for name, _ in list(module.named_parameters())[:4])
            raise ConfigError(f"--freeze {pattern!r} matches no parameter; names look like {examples}")
        names += [n for n in found if n not in names]
    params = dict(module.named_parameters())
    for name in names:
        params[name].requires_grad_(False)
    if names and not any(p.requires_grad for p in module.parameters()):
        raise ConfigError("--freeze leaves nothing to train; freeze the encoder or the decoder, not both")
    for block in _frozen_blocks(module):
        block.register_forward_pre_hook(_keep_eval)
    return names


def _frozen_blocks(module: nn.Module) -> list[nn.Module]:
    """The largest submodules that have parameters and whose parameters are all frozen."""
    params = list(module.parameters())
    if params and not any(p.requires_grad for p in params):
        return [module]
    return [block for child in module.children() for block in _frozen_blocks(child)]


def apply_transfer(module: VAEModule, train: TrainConfig, *, resume: bool = False,
                   run: RunFolder | None = None) -> TransferReport | None:
    """What ``VAE.fit`` does with ``init_from`` and ``freeze``: load, freeze, check, report.

    On resume the weights come from the checkpoint, so only the freezing is redone.
    A new run gets the report as ``transfer.json``.
    """
    if train.init_from is None:
        return None
    report = TransferReport(source=train.init_from) if resume else load_pretrained(module, train.init_from)
    report.frozen = freeze_parameters(module, train.freeze)
    fresh = [name for name in report.frozen if name in report.reinitialised]
    if fresh:
        raise ConfigError(f"--freeze would keep re-initialised weights random ({', '.join(fresh[:3])}: "
                          f"{report.reinitialised[fresh[0]]}); freeze a narrower pattern")
    if run is not None and not resume:
        atomic.write_text(run.file(REPORT_FILE), json.dumps(report.to_dict(), indent=2) + "\n")
    return report
