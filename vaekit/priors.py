"""Priors p(z) over the latent code.

A prior scores codes (``log_prob``), draws them (``sample``) and, where a closed form
exists, gives the KL divergence from a diagonal-Gaussian posterior per latent dimension
(``kl``). Priors without a closed form return ``None`` there and the objective falls
back to a Monte Carlo estimate, log q(z|x) - log p(z), on the sampled codes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaekit.errors import ConfigError

LOG_2PI = math.log(2 * math.pi)


def diagonal_normal_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


class Prior(nn.Module):
    """Base class; a prior may hold learnable parameters, so it is a module."""

    name: str

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> Tensor:
        raise NotImplementedError

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor | None:
        """KL(q(z|x) || p(z)) per latent dimension, ``[batch, latent_dim]``, or None if no closed form."""
        return None


class StandardNormal(Prior):
    """p(z) = N(0, I), the default; its KL to a diagonal Gaussian is analytic."""

    name = "normal"

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (LOG_2PI + z**2).sum(-1)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)


PRIORS: dict[str, type[Prior]] = {cls.name: cls for cls in (StandardNormal,)}


def make_prior(name: str, latent_dim: int) -> Prior:
    try:
        return PRIORS[name](latent_dim)
    except KeyError:
        raise ConfigError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}") from None
