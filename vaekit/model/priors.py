"""Priors p(z) over the latent code.

A prior scores codes (``log_prob``), draws them (``sample``) and, where a closed form
exists, gives the KL divergence from a diagonal-Gaussian posterior per latent dimension
(``kl``). Priors without a closed form return ``None`` there and the objective falls
back to a Monte Carlo estimate, log q(z|x) - log p(z), on the sampled codes.

* ``normal``: N(0, I), the default, with analytic KL.
* ``mog``: a learned mixture of K diagonal Gaussians; a multi-modal prior that can match a
  clustered aggregate posterior (K = ``prior_components``, default 10).
* ``vamp``: VampPrior (Tomczak & Welling, 2018), the mixture of the encoder's posteriors at
  K learned pseudo-inputs, p(z) = (1/K) sum_k q(z|u_k): the prior that approximates the
  aggregate posterior, which is the ELBO-optimal prior (default K = 100; the paper used 500).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from vaekit.config.configs import PRIOR_COMPONENTS
from vaekit.errors import ConfigError
from vaekit.model.posterior import LOG_2PI, sample_gaussian, standard_normal_kl, standard_normal_log_prob

if TYPE_CHECKING:
    from vaekit.model.module import VAEModule

class Prior(nn.Module):
    """Base class; a prior may hold learnable parameters, so it is a module."""

    name: str

    def __init__(self, latent_dim: int, components: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def bind(self, module: VAEModule) -> None:
        """Called once by the module that owns this prior; priors built from its networks hook in here."""

    def log_prob(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
        temperature: float = 1.0,
    ) -> Tensor:
        """n codes; ``temperature`` scales the standard deviation of every Gaussian in the prior
        (not its means), so below 1 the codes are more typical and stay where the prior has mass."""
        raise NotImplementedError

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor | None:
        """KL(q(z|x) || p(z)) per latent dimension, ``[batch, latent_dim]``, or None if no closed form."""
        return None


class StandardNormal(Prior):
    """p(z) = N(0, I), the default; its KL to a diagonal Gaussian is analytic."""

    name = "normal"

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_prob(z)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
        temperature: float = 1.0,
    ) -> Tensor:
        return temperature * torch.randn(n, self.latent_dim, generator=generator, device=device)

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        return standard_normal_kl(mu, logvar)


def mixture_log_prob(z: Tensor, means: Tensor, logvars: Tensor, log_weights: Tensor) -> Tensor:
    """log sum_k w_k N(z; means_k, diag(exp(logvars_k))) for codes ``[..., D]`` and K components ``[K, D]``.

    The squared distance is expanded into matrix products, so no ``[..., K, D]`` tensor is formed
    (``posterior.gaussian_log_prob`` would broadcast one); the density is the same.
    """
    inv_var = torch.exp(-logvars)
    flat = z.reshape(-1, z.shape[-1])
    quad = (flat**2) @ inv_var.T - 2 * flat @ (means * inv_var).T + (means**2 * inv_var).sum(-1)
    log_comp = -0.5 * (quad + (LOG_2PI + logvars).sum(-1))  # [N, K]
    return torch.logsumexp(log_comp + log_weights, -1).reshape(z.shape[:-1])


def sample_mixture(
    means: Tensor, logvars: Tensor, log_weights: Tensor, n: int, generator: torch.Generator | None,
    temperature: float = 1.0,
) -> Tensor:
    """n codes from a diagonal-Gaussian mixture: a component by weight, then a Gaussian draw
    with its standard deviation scaled by ``temperature``."""
    if generator is not None:  # draw where the generator lives
        means, logvars, log_weights = (t.to(generator.device) for t in (means, logvars, log_weights))
    comp = torch.multinomial(log_weights.softmax(0), n, replacement=True, generator=generator)
    return sample_gaussian(means[comp], logvars[comp], generator=generator, temperature=temperature)


class MixtureOfGaussians(Prior):
    """p(z) = sum_k pi_k N(mu_k, diag(sigma_k^2)), all learned; the KL is estimated by Monte Carlo."""

    name = "mog"

    def __init__(self, latent_dim: int, components: int | None = None) -> None:
        super().__init__(latent_dim)
        k = components or PRIOR_COMPONENTS[self.name]
        self.means = nn.Parameter(torch.randn(k, latent_dim))  # spread out, so components start distinct
        self.logvars = nn.Parameter(torch.zeros(k, latent_dim))
        self.logits = nn.Parameter(torch.zeros(k))

    def log_prob(self, z: Tensor) -> Tensor:
        return mixture_log_prob(z, self.means, self.logvars, self.logits.log_softmax(0))

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
        temperature: float = 1.0,
    ) -> Tensor:
        return sample_mixture(self.means, self.logvars, self.logits.log_softmax(0), n, generator,
                              temperature).to(device)


class VampPrior(Prior):
    """p(z) = (1/K) sum_k q(z|u_k) at K learned pseudo-inputs u_k; the KL is estimated by Monte Carlo.

    The encoder is the owning module's own (``bind``), not a copy: prior and posterior share it.
    """

    name = "vamp"

    def __init__(self, latent_dim: int, components: int | None = None) -> None:
        super().__init__(latent_dim)
        self.components = components or PRIOR_COMPONENTS[self.name]

    def bind(self, module: VAEModule) -> None:
        # Pseudo-inputs start uniform in [0, 1]: inside the range of image data, plausible for tables.
        self.pseudo_inputs = nn.Parameter(torch.rand(self.components, *module.config.input_shape))
        self._encode = module.encode  # a bound method, not a submodule: no second copy of the weights

    def components_params(self) -> tuple[Tensor, Tensor]:
        """Means and log-variances ``[K, D]`` of the K mixture components."""
        return self._encode(self.pseudo_inputs)

    def log_prob(self, z: Tensor) -> Tensor:
        means, logvars = self.components_params()
        uniform = torch.full((self.components,), -math.log(self.components), dtype=z.dtype, device=z.device)
        return mixture_log_prob(z, means, logvars, uniform)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
        temperature: float = 1.0,
    ) -> Tensor:
        means, logvars = self.components_params()
        uniform = torch.zeros(self.components, dtype=means.dtype, device=means.device)
        return sample_mixture(means, logvars, uniform, n, generator, temperature).to(device)


PRIORS: dict[str, type[Prior]] = {cls.name: cls for cls in (StandardNormal, MixtureOfGaussians, VampPrior)}


def make_prior(name: str, latent_dim: int, components: int | None = None) -> Prior:
    try:
        return PRIORS[name](latent_dim, components)
    except KeyError:
        raise ConfigError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}") from None
