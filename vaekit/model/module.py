"""The VAE network: encoder -> q(z|x) -> z -> decoder -> p(x|z), with its prior.

This is the torch ``nn.Module`` (the "module" in scvi-tools' sense): it knows the maths
of one forward pass and nothing about data files, training loops or run folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn

from vaekit.config.configs import ModelConfig
from vaekit.model.likelihoods import Likelihood, make_likelihood
from vaekit.model.networks import build_decoder, build_encoder
from vaekit.model.priors import Prior, diagonal_normal_log_prob, make_prior


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

    @cached_property
    def log_q(self) -> Tensor:
        """log q(z|x) of each code, ``[k, batch]``."""
        if self.known_log_q is not None:
            return self.known_log_q
        assert self.mu is not None and self.logvar is not None
        mu, logvar = (self.mu.detach(), self.logvar.detach()) if self.stop_gradient else (self.mu, self.logvar)
        return diagonal_normal_log_prob(self.z, mu, logvar)


class VAEModule(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.likelihood: Likelihood = make_likelihood(config.likelihood, config)
        self.prior: Prior = make_prior(config.prior, config.latent_dim, config.prior_components)
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config, self.likelihood.n_params)
        self.prior.bind(self)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encoder_input(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x as the encoder sees it: with ``mask_input``, missing entries are zero-filled and the
        mask is stacked onto the input along dimension 1 (features for tables, channels for images).
        """
        if self.config.mask_input:
            if mask is None:
                mask = torch.ones_like(x)
            x = torch.cat([x * mask, mask], dim=1)
        return x

    def encode(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Posterior parameters (mean, log-variance), each ``[batch, latent_dim]``."""
        mu, logvar = self.encoder(self.encoder_input(x, mask)).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters ``[batch, n_params, *input_shape]`` for codes ``[batch, latent_dim]``."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma * eps: a sample whose gradient flows to mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def sample_posterior(
        self, x: Tensor, mask: Tensor | None = None, k: int = 1, generator: torch.Generator | None = None,
        stop_gradient: bool = False,
    ) -> Posterior:
        """k reparameterised codes per example from q(z|x); what every objective is computed from."""
        mu, logvar = self.encode(x, mask)
        eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
        return Posterior(mu + eps * torch.exp(0.5 * logvar), mu, logvar, stop_gradient)

    def reconstruct(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The decoder's mean at the posterior mean: the deterministic reconstruction."""
        mu, _ = self.encode(x, mask)
        return self.likelihood.mean(self.decode(mu))
