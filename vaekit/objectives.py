"""Training objectives: the ELBO and the importance-weighted bound (IWAE).

Sign conventions, used everywhere in vaekit (metrics, CLI, API), all per example in nats:

* ``recon`` = -E_q[log p(x|z)], the reconstruction cost (lower is better);
* ``kl`` = KL(q(z|x) || p(z)) (non-negative);
* ``elbo`` = -(recon + kl) <= log p(x); the training loss is recon + beta * kl.

With ``k > 1`` samples the IWAE bound log (1/k) sum_i p(x, z_i) / q(z_i|x) is tighter
than the ELBO and tends to log p(x) as k grows (Burda et al., 2015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.module import VAEModule
from vaekit.priors import diagonal_normal_log_prob


@dataclass
class LossTerms:
    """One batch's objective: ``loss`` to minimise, and per-example terms for reporting."""

    loss: Tensor
    recon: Tensor
    kl: Tensor
    bound: Tensor  # the per-example bound being maximised (ELBO, or IWAE for k > 1)


def kl_divergence(module: VAEModule, mu: Tensor, logvar: Tensor, z: Tensor) -> Tensor:
    """Per-example KL(q||p): analytic where the prior has one, else a one-sample Monte Carlo estimate."""
    per_dim = module.prior.kl(mu, logvar)
    if per_dim is not None:
        return per_dim.sum(-1)
    return diagonal_normal_log_prob(z, mu, logvar) - module.prior.log_prob(z)


def elbo_loss(
    module: VAEModule, x: Tensor, mask: Tensor | None = None, beta: float = 1.0,
    generator: torch.Generator | None = None,
) -> LossTerms:
    """Single-sample ELBO with reparameterised gradients; the loss weighs the KL by ``beta``."""
    mu, logvar = module.encode(x, mask)
    z = module.reparameterize(mu, logvar, generator)
    recon = -module.likelihood.log_prob(module.decode(z), x, mask)
    kl = kl_divergence(module, mu, logvar, z)
    return LossTerms(loss=(recon + beta * kl).mean(), recon=recon, kl=kl, bound=-(recon + kl))


def iwae_log_weights(
    module: VAEModule, x: Tensor, k: int, mask: Tensor | None = None, beta: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Log importance weights ``[k, batch]`` and their two parts (log p(x|z), log q - log p).

    ``beta`` scales the prior-vs-posterior part, matching the beta-weighted ELBO at k = 1.
    """
    mu, logvar = module.encode(x, mask)
    batch = x.shape[0]
    eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    z = mu + eps * torch.exp(0.5 * logvar)  # [k, batch, latent]
    flat_z = z.reshape(k * batch, -1)
    params = module.decode(flat_z)
    x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(k * batch, *x.shape[1:])
    mask_rep = None if mask is None else mask.unsqueeze(0).expand(k, *mask.shape).reshape(x_rep.shape)
    log_px = module.likelihood.log_prob(params, x_rep, mask_rep).view(k, batch)
    log_q_over_p = diagonal_normal_log_prob(z, mu, logvar) - module.prior.log_prob(flat_z).view(k, batch)
    return log_px - beta * log_q_over_p, log_px, log_q_over_p


def iwae_loss(
    module: VAEModule, x: Tensor, k: int, mask: Tensor | None = None, beta: float = 1.0,
    generator: torch.Generator | None = None,
) -> LossTerms:
    log_w, log_px, log_q_over_p = iwae_log_weights(module, x, k, mask, beta, generator)
    bound = torch.logsumexp(log_w, 0) - math.log(k)
    return LossTerms(loss=-bound.mean(), recon=-log_px.mean(0), kl=log_q_over_p.mean(0), bound=bound)


def training_loss(
    module: VAEModule, x: Tensor, mask: Tensor | None = None, beta: float = 1.0, iw_samples: int = 1,
    generator: torch.Generator | None = None,
) -> LossTerms:
    """The objective the trainer minimises: ELBO for one sample, IWAE for several."""
    if iw_samples == 1:
        return elbo_loss(module, x, mask, beta, generator)
    return iwae_loss(module, x, iw_samples, mask, beta, generator)
