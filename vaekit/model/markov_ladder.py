"""A ladder VAE with bottom-up Markov inference: the model Bit-Swap codes (Kingma, Abbeel and Ho, 2019).

Generative model as the ladder's (:class:`~vaekit.model.ladder.LadderPrior`, the same decoder
reading z_1): z_L ~ N(0, I), z_l ~ p(z_l | z_{l+1}), x ~ p(x | z_1). Inference is a Markov chain
the other way: q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1}), each a diagonal Gaussian whose
parameters a residual MLP head reads off the layer below (off the encoder's trunk for z_1).

Why a second inference model: the ladder's top-down posterior q(z_l | z_{l+1}, x) makes every
layer depend on x, so bits-back coding must pop all layers before it pushes anything and the
initial bits grow with depth. With this one, z_1 can be pushed back under p(z_1 | z_2) as soon as
z_2 has been popped from q(z_2 | z_1): Bit-Swap's interleaving, whose initial bits do not grow with
depth (``vaekit.compression.bitsback.BitSwapCodec``). The price is the usual one of bottom-up
hierarchies: upper layers get no help from the prior's top-down path and collapse more easily.

Choose it with ``ModelConfig.ladder_inference = "bottom-up"``. The code is [z_1, ..., z_L] as for
the ladder, and :meth:`sample_posterior` returns the same per-layer log-ratios, so training
(ELBO, IWAE, free bits per layer), evaluation and imputation treat both ladders alike.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.ladder import LadderPrior, ResidualBlock, TakeFirst, gaussian_head, gaussian_params
from vaekit.model.likelihoods import make_likelihood
from vaekit.model.module import VAEModule
from vaekit.model.networks import build_decoder, build_encoder
from vaekit.model.posterior import Posterior, draw_noise, gaussian_log_prob, reparameterize, standard_normal_log_prob


class MarkovLadderVAEModule(VAEModule):
    """Stochastic layers z_1 (``latent_dim``) and ``ladder`` above it, inferred bottom-up; see the module docstring."""

    prior: LadderPrior

    def __init__(self, config: ModelConfig) -> None:
        if not config.hidden:
            raise ConfigError("a ladder model needs at least one hidden layer (--hidden)")
        nn.Module.__init__(self)  # not VAEModule's: it would build the flat model's parts
        self.config = config
        self.sizes = (config.latent_dim, *config.ladder)
        self.likelihood = make_likelihood(config.likelihood, config)
        width = config.hidden[-1]
        # The flat encoder up to its last hidden layer (and activation) reads x; q(z_1 | x) sits on it.
        self.encoder = build_encoder(config, trunk=True)
        # posterior[0]: trunk features -> q(z_1 | x); posterior[l]: z_l -> q(z_{l+1} | z_l)
        self.posterior = nn.ModuleList([
            nn.Sequential(ResidualBlock(width), nn.ELU(), nn.Linear(width, 2 * self.sizes[0])),
            *(gaussian_head(self.sizes[i], width, self.sizes[i + 1]) for i in range(len(self.sizes) - 1)),
        ])
        self.prior = LadderPrior(self.sizes, width)
        self.decoder = nn.Sequential(TakeFirst(config.latent_dim), build_decoder(config, self.likelihood.n_params))

    @property
    def latent_dim(self) -> int:
        return sum(self.sizes)

    def _bottom_up(
        self, x: Tensor, mask: Tensor | None, k: int | None, generator: torch.Generator | None
    ) -> tuple[list[Tensor], list[tuple[Tensor, Tensor]]]:
        """Walk up from x, drawing ``k`` codes a layer (or taking each layer's mean where ``k`` is None).

        Returns the codes and their posterior (mean, log-variance), bottom first.
        """
        h = self.encoder(self.encoder_input(x, mask))
        codes: list[Tensor] = []
        params: list[tuple[Tensor, Tensor]] = []
        for layer, head in enumerate(self.posterior):
            mu, logvar = gaussian_params(head(h))
            if k is None:
                z = mu
            else:  # k codes from z_1's posterior; each layer above draws one code for each code below
                z = reparameterize(mu, logvar, draw_noise(mu, k if layer == 0 else None, generator))
            codes.append(z)
            params.append((mu, logvar))
            h = z
        return codes, params

    def encode(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The posterior along its mean path (each layer at its mean given the mean below), concatenated.

        A deterministic embedding for ``transform``; the posterior itself is not one diagonal Gaussian.
        """
        _, params = self._bottom_up(x, mask, None, None)
        return torch.cat([m for m, _ in params], -1), torch.cat([v for _, v in params], -1)

    def sample_posterior(
        self, x: Tensor, mask: Tensor | None = None, k: int = 1, generator: torch.Generator | None = None,
        stop_gradient: bool = False,
    ) -> Posterior:
        if stop_gradient:
            raise ConfigError("STL and DReG gradients need one stochastic layer; use the standard estimator")
        codes, params = self._bottom_up(x, mask, k, generator)
        log_q = [gaussian_log_prob(z, mu, logvar) for z, (mu, logvar) in zip(codes, params, strict=True)]
        top = len(codes) - 1
        log_p = [gaussian_log_prob(codes[i], *self.prior.conditional(i, codes[i + 1])) for i in range(top)]
        log_p.append(standard_normal_log_prob(codes[top]))
        ratios = torch.stack([q - p for q, p in zip(log_q, log_p, strict=True)], -1)
        return Posterior(torch.cat(codes, -1), known_log_q=sum(log_q), log_p=sum(log_p),
                         layer_log_ratios=ratios, layer_sizes=self.sizes)
