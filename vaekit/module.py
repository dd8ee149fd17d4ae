"""The VAE network: encoder -> q(z|x) -> z -> decoder -> p(x|z), with its prior.

This is the torch ``nn.Module`` (the "module" in scvi-tools' sense): it knows the maths
of one forward pass and nothing about data files, training loops or run folders.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaekit.config import ModelConfig
from vaekit.likelihoods import Likelihood, make_likelihood
from vaekit.networks import build_decoder, build_encoder
from vaekit.priors import Prior, make_prior


class VAEModule(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.likelihood: Likelihood = make_likelihood(config.likelihood)
        self.prior: Prior = make_prior(config.prior, config.latent_dim)
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config, self.likelihood.n_params)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Posterior parameters (mean, log-variance), each ``[batch, latent_dim]``.

        With ``mask_input``, missing entries are zero-filled and the mask is stacked onto
        the input along dimension 1 (features for tables, channels for images).
        """
        if self.config.mask_input:
            if mask is None:
                mask = torch.ones_like(x)
            x = torch.cat([x * mask, mask], dim=1)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters ``[batch, n_params, *input_shape]`` for codes ``[batch, latent_dim]``."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma * eps: a sample whose gradient flows to mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def reconstruct(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The decoder's mean at the posterior mean: the deterministic reconstruction."""
        mu, _ = self.encode(x, mask)
        return self.likelihood.mean(self.decode(mu))
