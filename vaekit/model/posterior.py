"""Diagonal-Gaussian maths, written once: reparameterised sampling, the log-density, the KL to N(0, I).

Every posterior (the flat encoder's, each layer of the ladder's top-down path), every Gaussian prior
(mixture components, VampPrior, the ladder's conditionals) and the Gaussian likelihoods draw and
score here, and so, through them, do the training objectives, evaluation, imputation and the
hand-derived training step: they all agree on one distribution for one set of parameters.
(Compression codes the posterior in exact integers and fixed-point tables, ``vaekit.compression``,
so that both ends agree bit for bit; it shares nothing with this on purpose.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def draw_noise(mu: Tensor, k: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    """eps ~ N(0, I) shaped like ``mu`` (with a leading ``k`` where given), on its device and dtype."""
    shape = mu.shape if k is None else (k, *mu.shape)
    return torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor, temperature: float = 1.0) -> Tensor:
    """z = mu + temperature * eps * sigma: a draw whose gradient flows to mu and logvar.

    ``temperature`` scales the standard deviation (priors sample below 1 for more typical codes).
    """
    return torch.addcmul(mu, eps, torch.exp(0.5 * logvar), value=temperature)


def sample_gaussian(
    mu: Tensor, logvar: Tensor, k: int | None = None, generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Reparameterised draws from N(mu, diag(exp(logvar))): ``mu``'s shape, or ``[k, *mu.shape]``."""
    return reparameterize(mu, logvar, draw_noise(mu, k, generator), temperature)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z_d; mu_d, exp(logvar_d)) per dimension (broadcasting), not summed."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return gaussian_log_density(z, mu, logvar).sum(-1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def standard_normal_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per dimension, not summed."""
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)


@dataclass(eq=False)
class Posterior:
    """Reparameterised codes from q(z|x), ``z`` ``[k, batch, latent_dim]``, with what objectives need of q.

    ``mu``/``logvar`` are set where q is one diagonal Gaussian (analytic KL, total correlation).
    With ``stop_gradient`` the density ``log_q`` sees q's parameters as constants (gradients reach
    them only through z), as the STL and DReG estimators require.
    """

    z: Tensor
    mu: Tensor | None = None
    logvar: Tensor | None = None
    stop_gradient: bool = False
    known_log_q: Tensor | None = None
    #: log p(z) ``[k, batch]`` where sampling computed it on the way (ladder models); else None.
    log_p: Tensor | None = None
    #: log q - log p of each stochastic layer, ``[k, batch, layers]``, where there are several (ladder models).
    layer_log_ratios: Tensor | None = None
    #: How many latent dimensions each of those layers holds (free bits per layer scale with it).
    layer_sizes: tuple[int, ...] | None = None

    @classmethod
    def gaussian(
        cls, mu: Tensor, logvar: Tensor, k: int, generator: torch.Generator | None = None,
        stop_gradient: bool = False,
    ) -> Posterior:
        """k codes per row from one diagonal Gaussian."""
        return cls(sample_gaussian(mu, logvar, k, generator), mu, logvar, stop_gradient)

    @cached_property
    def log_q(self) -> Tensor:
        """log q(z|x) of each code, ``[k, batch]``."""
        if self.known_log_q is not None:
            return self.known_log_q
        assert self.mu is not None and self.logvar is not None
        mu, logvar = (self.mu.detach(), self.logvar.detach()) if self.stop_gradient else (self.mu, self.logvar)
        return gaussian_log_prob(self.z, mu, logvar)
