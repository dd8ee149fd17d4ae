"""Weights and checkpoints as safetensors: tensors plus JSON, never pickle.

A checkpoint is one safetensors file holding the model's and the optimiser's tensors
and the random generator's state, with the rest of the training state (epoch, best
score, optimiser hyper-parameters) as JSON in the file's metadata. One file, written
atomically, so a crash leaves either the old checkpoint or the new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from vaekit.errors import ModelFileError
from vaekit.io.atomic import atomic_path

STATE_KEY = "vaekit_state"


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {STATE_KEY: json.dumps(state or {})}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path} does not exist")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = json.loads(metadata.get(STATE_KEY, "{}"))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path} is not a readable safetensors file ({err})") from None
    return tensors, state


def load_state_strict(module: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load weights, failing with a readable list of differences if they do not fit the module."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [
        f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shapes differ (file vs config): " + "; ".join(wrong[:3]))
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        raise ModelFileError(f"{source} does not fit the architecture in config.json: {', '.join(parts)}")
    module.load_state_dict(tensors)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's state dict into tensors and JSON-able rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, entry in rest["scalars"].items():
        state.setdefault(int(pid), {}).update(entry)
    optimizer.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def save_checkpoint(
    path: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator], state: dict[str, Any],
) -> None:
    opt_tensors, opt_rest = optimizer_tensors(optimizer)
    tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
    tensors.update(opt_tensors)
    tensors.update({f"rng.{name}": gen.get_state() for name, gen in generators.items()})
    save_tensors(path, tensors, {**state, "optimizer": opt_rest})


def load_checkpoint(
    path: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
) -> dict[str, Any]:
    tensors, state = load_tensors(path)
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    load_state_strict(module, model, str(path))
    try:
        restore_optimizer(optimizer, tensors, state.pop("optimizer"))
        for name, gen in generators.items():
            gen.set_state(tensors[f"rng.{name}"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{path} is not a complete vaekit checkpoint ({err})") from None
    return state
