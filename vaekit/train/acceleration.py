"""The training step's forward pass as one ``nn.Module``, where DDP, bf16 and torch.compile hook in.

DDP synchronises the gradients of what runs through a module's ``forward``; :class:`VAEModule`
has ``encode``/``decode`` instead of one forward. So the trainer calls its loss function
through :class:`LossForward`: ``forward(loss_fn, x, ...)`` runs ``loss_fn(vae, x, ...)``,
unchanged in full precision.

``compile=True`` compiles the encoder and decoder networks in place (``nn.Module.compile``,
so weight names are unchanged), not the whole objective: the objective takes Python floats
that change every step (the KL schedule's fractional epoch) and random generators, which
would make ``torch.compile`` recompile at every step and then give up.

``precision="bf16"`` runs the loss under ``torch.autocast``: matrix products and
convolutions in bfloat16, while the encoder's and decoder's outputs are cast back to
float32 (forward hooks, no-ops outside autocast) so likelihoods and KL terms, which
sum hundreds of log-probabilities, stay exact. It pays off on GPUs and CPUs with bf16
units (AMX, AVX-512 BF16; the fast MLP step then runs its own products in bfloat16, 1.3x
faster per epoch in BENCHMARKS.md); on AVX2-only CPUs it is several times slower, which is
why neither it nor ``compile`` is a default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vaekit.model.module import VAEModule
from vaekit.train.distributed import World


def _to_float32(module: nn.Module, args: Any, output: torch.Tensor | list[torch.Tensor]) -> Any:
    """A network's output (a tensor, or the hierarchical encoder's list of feature maps) in float32."""
    return output.float() if isinstance(output, torch.Tensor) else [o.float() for o in output]


class LossForward(nn.Module):
    """``forward(loss_fn, *args)`` = ``loss_fn(vae, *args)``, optionally under bf16 autocast, with
    the networks optionally compiled."""

    def __init__(self, vae: VAEModule, precision: str = "fp32", compile: bool = False) -> None:
        super().__init__()
        self.vae = vae
        self.bf16 = precision == "bf16"
        self.device_type = vae.device.type
        for part in (vae.encoder, vae.decoder):
            if self.bf16:
                part.register_forward_hook(_to_float32)
            if compile:
                part.compile()

    def forward(self, loss_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            return loss_fn(self.vae, *args, **kwargs)


def step_forward(vae: VAEModule, precision: str, compile: bool, world: World) -> nn.Module:
    """What the trainer calls each step: :class:`LossForward`, in DDP when there are several processes."""
    return world.wrap(LossForward(vae, precision, compile), vae.device)
