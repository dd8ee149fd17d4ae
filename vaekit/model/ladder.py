"""A VAE with several stochastic layers and ladder-style top-down inference (Sønderby et al., 2016).

Generative model, top to bottom: z_L ~ N(0, I), z_l ~ p(z_l | z_{l+1}) for l = L-1 .. 1, and
x ~ p(x | z_1). Inference shares the top-down path: a deterministic bottom-up pass computes
Gaussian "evidence" for every layer, and q(z_l | z_{l+1}, x) combines it with the generative
p(z_l | z_{l+1}) by precision weighting. Each layer's posterior is therefore the prior corrected
by the data, which keeps upper layers active where a bottom-up hierarchy lets them collapse.

The code is the concatenation [z_1, ..., z_L] (``latent_dim`` = the sum of the sizes), so the rest
of vaekit (sampling, decoding, IWAE, evaluation) treats the model like the flat one. The
deterministic paths between stochastic layers are residual MLP blocks. Configure it with
``ModelConfig.ladder``: the sizes of the layers above z_1 (``latent_dim``), bottom to top.

The top-down walk, the per-layer scores and the posterior are :class:`TopDownVAE`'s, which the
hierarchical conv VAE (``vaekit.model.hierarchical``) shares; this module adds the MLP parts.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.likelihoods import make_likelihood
from vaekit.model.module import VAEModule
from vaekit.model.networks import build_decoder, build_encoder
from vaekit.model.posterior import (
    Posterior,
    draw_noise,
    gaussian_log_prob,
    reparameterize,
    sample_gaussian,
    standard_normal_log_prob,
)
from vaekit.model.priors import Prior


class ResidualBlock(nn.Module):
    """h + W2 act(W1 act(h)): depth without losing the identity path (He et al., 2016, pre-activation)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ELU(), nn.Linear(width, width), nn.ELU(), nn.Linear(width, width))

    def forward(self, h: Tensor) -> Tensor:
        return h + self.body(h)


class TakeFirst(nn.Module):
    """The first ``n`` features of a code: the decoder reads z_1 only."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, z: Tensor) -> Tensor:
        return z[..., : self.n]


def gaussian_head(n_in: int, width: int, n_out: int) -> nn.Sequential:
    """A code or features -> residual block -> mean and log-variance of an ``n_out``-dimensional Gaussian."""
    return nn.Sequential(nn.Linear(n_in, width), ResidualBlock(width), nn.ELU(), nn.Linear(width, 2 * n_out))


#: Log-variances inside the ladder are softly bounded to +-LOGVAR_BOUND (sigma from 0.02 to 55):
#: while a KL warm-up holds the prior's weight near zero, unbounded posterior variances can shrink
#: until their precisions overflow in the precision-weighted merge.
LOGVAR_BOUND = 8.0


def gaussian_params(raw: Tensor) -> tuple[Tensor, Tensor]:
    """Split a head's output into a mean and a softly bounded log-variance."""
    mu, logvar = raw.chunk(2, dim=-1)
    return mu, LOGVAR_BOUND * torch.tanh(logvar / LOGVAR_BOUND)


def precision_weighted(mu_a: Tensor, logvar_a: Tensor, mu_b: Tensor, logvar_b: Tensor) -> tuple[Tensor, Tensor]:
    """The product of two diagonal Gaussians, renormalised: precisions add, means weigh by precision."""
    logvar = -torch.logaddexp(-logvar_a, -logvar_b)
    mu = mu_a * torch.exp(logvar - logvar_a) + mu_b * torch.exp(logvar - logvar_b)
    return mu, logvar


class TopDownPrior(Prior):
    """p(z_1..z_L) = N(z_L; 0, I) prod_l p(z_l | z_{l+1}), each layer a flat code of ``sizes[l]`` numbers.

    ``top_down[l]`` maps a flat z_{l+1} to the flat (mean, raw log-variance) of p(z_l | z_{l+1}); how it
    does (MLP heads, or convolutions over codes laid out as feature maps) is the subclass's business.
    """

    name = "ladder"

    def __init__(self, sizes: tuple[int, ...], top_down: nn.ModuleList) -> None:
        super().__init__(sum(sizes))
        self.sizes = sizes
        # top_down[l] gives p(z_l | z_{l+1}) for l = 0 .. L-2 (0 is the bottom layer)
        self.top_down = top_down

    def split(self, z: Tensor) -> list[Tensor]:
        return list(z.split(self.sizes, dim=-1))

    def conditional(self, layer: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of p(z_layer | z_{layer+1}) for codes of any leading shape."""
        flat = z_above.reshape(-1, z_above.shape[-1])
        mu, logvar = gaussian_params(self.top_down[layer](flat))
        return mu.view(*z_above.shape[:-1], -1), logvar.view(*z_above.shape[:-1], -1)

    def log_prob(self, z: Tensor) -> Tensor:
        layers = self.split(z)
        total = standard_normal_log_prob(layers[-1])
        for i in range(len(layers) - 1):
            total = total + gaussian_log_prob(layers[i], *self.conditional(i, layers[i + 1]))
        return total

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
        temperature: float = 1.0,
    ) -> Tensor:
        param = next(self.parameters())
        shape = (n, self.sizes[-1])
        z = temperature * torch.randn(shape, generator=generator, device=device, dtype=param.dtype)
        layers = [z]
        for i in reversed(range(len(self.sizes) - 1)):
            mu, logvar = self.conditional(i, layers[0].to(param.device))
            layers.insert(0, sample_gaussian(mu.to(device), logvar.to(device), generator=generator,
                                             temperature=temperature))
        return torch.cat(layers, dim=-1)


class LadderPrior(TopDownPrior):
    """The MLP ladder's p(z_1..z_L): each conditional a residual MLP head of ``width`` units."""

    def __init__(self, sizes: tuple[int, ...], width: int) -> None:
        super().__init__(sizes, nn.ModuleList(gaussian_head(sizes[i + 1], width, sizes[i])
                                              for i in range(len(sizes) - 1)))


class TopDownVAE(VAEModule):
    """Ladder-style inference and scoring over stochastic layers ``sizes`` (bottom first), written once.

    A subclass builds ``likelihood``, a :class:`TopDownPrior` ``prior``, a ``decoder`` reading the
    flat code and :meth:`_evidence` (the bottom-up Gaussian evidence for every layer); this class
    walks the top-down path, scores each layer and gives the posterior every objective, evaluation
    and imputation use.
    """

    sizes: tuple[int, ...]
    prior: TopDownPrior

    def __init__(self, config: ModelConfig, sizes: tuple[int, ...]) -> None:
        nn.Module.__init__(self)  # not VAEModule's: it would build the flat model's parts
        self.config = config
        self.sizes = sizes
        self.likelihood = make_likelihood(config.likelihood, config)

    @property
    def latent_dim(self) -> int:
        return sum(self.sizes)

    def _evidence(self, x: Tensor, mask: Tensor | None) -> list[tuple[Tensor, Tensor]]:
        """Bottom-up Gaussian evidence (flat mean, log-variance) for each layer, bottom first."""
        raise NotImplementedError

    def _top_down(
        self, x: Tensor, mask: Tensor | None, eps: list[Tensor] | None
    ) -> tuple[list[Tensor], list[tuple[Tensor, Tensor]], list[Tensor]]:
        """Walk from the top layer down, sampling with ``eps`` (or taking means where None).

        Returns the codes, their posterior (mean, log-variance) and log p of each layer, bottom first.
        """
        evidence = self._evidence(x, mask)
        top = len(self.sizes) - 1
        mu, logvar = evidence[top]
        codes, params, log_p = [], [], []
        for layer in range(top, -1, -1):
            if layer < top:
                p_mu, p_logvar = self.prior.conditional(layer, codes[0])
                mu, logvar = precision_weighted(evidence[layer][0], evidence[layer][1], p_mu, p_logvar)
            z = mu if eps is None else reparameterize(mu, logvar, eps[layer])
            layer_log_p = standard_normal_log_prob(z) if layer == top else gaussian_log_prob(z, p_mu, p_logvar)
            codes.insert(0, z)
            params.insert(0, (mu, logvar))
            log_p.insert(0, layer_log_p)
        return codes, params, log_p

    def encode(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The posterior along its mean path (each layer at its mean given the means above), concatenated.

        A deterministic embedding for ``transform``; the posterior itself is not one diagonal Gaussian.
        """
        _, params, _ = self._top_down(x, mask, None)
        return torch.cat([m for m, _ in params], -1), torch.cat([v for _, v in params], -1)

    def sample_posterior(
        self, x: Tensor, mask: Tensor | None = None, k: int = 1, generator: torch.Generator | None = None,
        stop_gradient: bool = False,
    ) -> Posterior:
        if stop_gradient:
            raise ConfigError("STL and DReG gradients need one stochastic layer; use the standard estimator")
        # all layers' noise first, bottom to top; the walk down then uses it top first
        eps = [draw_noise(x.new_empty(x.shape[0], size), k, generator) for size in self.sizes]
        codes, params, log_p = self._top_down(x, mask, eps)
        layer_log_q = [gaussian_log_prob(z, mu, logvar) for z, (mu, logvar) in zip(codes, params, strict=True)]
        ratios = torch.stack([q - p for q, p in zip(layer_log_q, log_p, strict=True)], -1)
        return Posterior(torch.cat(codes, -1), known_log_q=sum(layer_log_q), log_p=sum(log_p),
                         layer_log_ratios=ratios, layer_sizes=self.sizes)


class LadderVAEModule(TopDownVAE):
    """A VAE with stochastic layers z_1 (``latent_dim``) and ``ladder`` above it; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        if not config.hidden:
            raise ConfigError("a ladder model needs at least one hidden layer (--hidden)")
        super().__init__(config, (config.latent_dim, *config.ladder))
        width = config.hidden[-1]
        # The flat encoder up to its last hidden layer (and activation) is the bottom-up trunk.
        self.encoder = build_encoder(config, trunk=True)
        self.bottom_up = nn.ModuleList(ResidualBlock(width) for _ in self.sizes)
        self.evidence = nn.ModuleList(nn.Linear(width, 2 * size) for size in self.sizes)
        self.prior = LadderPrior(self.sizes, width)
        self.decoder = nn.Sequential(TakeFirst(config.latent_dim), build_decoder(config, self.likelihood.n_params))

    def _evidence(self, x: Tensor, mask: Tensor | None) -> list[tuple[Tensor, Tensor]]:
        h = self.encoder(self.encoder_input(x, mask))
        out = []
        for block, head in zip(self.bottom_up, self.evidence, strict=True):
            h = block(h)
            out.append(gaussian_params(head(h)))
        return out
