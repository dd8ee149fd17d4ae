"""The VAE network: encoder -> q(z|x) -> z -> decoder -> p(x|z), with its prior.

This is the torch ``nn.Module`` (the "module" in scvi-tools' sense): it knows the maths
of one forward pass and nothing about data files, training loops or run folders.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaekit.config.configs import ModelConfig
from vaekit.model.custom import build_network, check_contract, encoder_output
from vaekit.model.likelihoods import Likelihood, make_likelihood
from vaekit.model.networks import build_decoder, build_encoder
from vaekit.model.posterior import Posterior
from vaekit.model.priors import Prior, make_prior


class VAEModule(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.likelihood: Likelihood = make_likelihood(config.likelihood, config)
        self.prior: Prior = make_prior(config.prior, config.latent_dim, config.prior_components)
        # your own networks where the configuration names them (vaekit.model.custom), else vaekit's
        self.encoder = build_network(config.encoder, "encoder") if config.encoder else build_encoder(config)
        n_params = self.likelihood.n_params
        self.decoder = build_network(config.decoder, "decoder") if config.decoder else build_decoder(config, n_params)
        check_contract(self.encoder, self.decoder, config, n_params)
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
        return encoder_output(self.encoder(self.encoder_input(x, mask)))

    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters ``[batch, n_params, *input_shape]`` for codes ``[batch, latent_dim]``."""
        return self.decoder(z)

    def sample_posterior(
        self, x: Tensor, mask: Tensor | None = None, k: int = 1, generator: torch.Generator | None = None,
        stop_gradient: bool = False,
    ) -> Posterior:
        """k reparameterised codes per example from q(z|x); what every objective, evaluation and
        imputation is computed from."""
        mu, logvar = self.encode(x, mask)
        return Posterior.gaussian(mu, logvar, k, generator, stop_gradient)

    def reconstruct(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The decoder's mean at the posterior mean: the deterministic reconstruction."""
        mu, _ = self.encode(x, mask)
        return self.likelihood.mean(self.decode(mu))
