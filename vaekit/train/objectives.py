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
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.model.module import VAEModule
from vaekit.model.posterior import Posterior
from vaekit.train.regularizers import Regularizer


@dataclass
class LossTerms:
    """One batch's objective: ``loss`` to minimise, and per-example terms for reporting."""

    loss: Tensor
    recon: Tensor
    kl: Tensor
    bound: Tensor  # the per-example bound being maximised (ELBO, or IWAE for k > 1)


def posterior_kl(module: VAEModule, posterior: Posterior) -> tuple[Tensor, Tensor | None]:
    """Per-example KL(q||p) of a one-sample posterior, and its split: ``[batch, latent_dim]`` where
    analytic, ``[batch, layers]`` (one-sample, per stochastic layer) for models with several layers.

    Analytic where the prior has a closed form for q's diagonal Gaussian; otherwise the one-sample
    Monte Carlo estimate log q(z|x) - log p(z) (mixture and VampPrior, ladder models).
    """
    if posterior.mu is not None:
        per_dim = module.prior.kl(posterior.mu, posterior.logvar)
        if per_dim is not None:
            return per_dim.sum(-1), per_dim
    per_layer = None if posterior.layer_log_ratios is None else posterior.layer_log_ratios[0]
    return posterior.log_q[0] - prior_log_prob(module, posterior)[0], per_layer


def prior_log_prob(module: VAEModule, posterior: Posterior) -> Tensor:
    """log p(z) of the posterior's codes, ``[k, batch]`` (reusing it where sampling already computed it)."""
    if posterior.log_p is not None:
        return posterior.log_p
    z = posterior.z
    return module.prior.log_prob(z.reshape(-1, z.shape[-1])).view(z.shape[:-1])


def elbo_loss(
    module: VAEModule, x: Tensor, mask: Tensor | None = None, beta: float = 1.0,
    generator: torch.Generator | None = None, regularizer: Regularizer | None = None, epoch: float = 0.0,
    kl_weight: float = 1.0,
) -> LossTerms:
    """Single-sample ELBO with reparameterised gradients; the loss weighs the KL by ``beta * kl_weight``.

    A :class:`~vaekit.train.regularizers.Regularizer` reshapes the KL part of the loss (free bits,
    capacity, total correlation) at training progress ``epoch``; ``kl_weight`` is its schedule's
    factor there. ``bound`` stays the true ELBO.
    """
    posterior = module.sample_posterior(x, mask, 1, generator)
    recon = -module.likelihood.log_prob(module.decode(posterior.z[0]), x, mask)
    kl, kl_split = posterior_kl(module, posterior)
    if regularizer is None:
        loss = (recon + beta * kl_weight * kl).mean()
    else:
        penalty = regularizer.kl_penalty(kl, kl_split, posterior.z[0], posterior.mu, posterior.logvar, beta,
                                         kl_weight, epoch, split_sizes=posterior.layer_sizes)
        loss = recon.mean() + penalty
    return LossTerms(loss=loss, recon=recon, kl=kl, bound=-(recon + kl))


@dataclass
class ImportanceSamples:
    """k codes per example from q(z|x) with their importance weights: the one place they are computed.

    Training (IWAE, STL, DReG), the NLL estimate and imputation all read them from
    :func:`importance_samples`, so every model is scored and imputes with its own posterior (a ladder
    model with its top-down one).
    """

    #: log p(x|z) + beta (log p(z) - log q(z|x)), ``[k, batch]``.
    log_w: Tensor
    #: log p(x|z) over the observed entries, ``[k, batch]``.
    log_px: Tensor
    #: log q(z|x) - log p(z), ``[k, batch]``.
    log_q_over_p: Tensor
    #: The codes, ``[k, batch, latent_dim]``.
    z: Tensor
    #: The decoder's likelihood parameters at each code, ``[k, batch, n_params, *input_shape]``.
    params: Tensor


def importance_samples(
    module: VAEModule, x: Tensor, k: int, mask: Tensor | None = None, beta: float = 1.0,
    generator: torch.Generator | None = None, stop_gradient: bool = False,
) -> ImportanceSamples:
    """k codes per example from ``module.sample_posterior`` and their log importance weights.

    ``mask`` (1 = observed) restricts log p(x|z) to the observed entries. ``beta`` scales the
    prior-vs-posterior part, matching the beta-weighted ELBO at k = 1. ``stop_gradient`` scores
    log q with q's parameters held constant (STL, DReG).
    """
    posterior = module.sample_posterior(x, mask, k, generator, stop_gradient=stop_gradient)
    z = posterior.z
    batch = x.shape[0]
    params = module.decode(z.reshape(k * batch, -1))
    x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(k * batch, *x.shape[1:])
    mask_rep = None if mask is None else mask.unsqueeze(0).expand(k, *mask.shape).reshape(x_rep.shape)
    log_px = module.likelihood.log_prob(params, x_rep, mask_rep).view(k, batch)
    log_q_over_p = posterior.log_q - prior_log_prob(module, posterior)
    return ImportanceSamples(log_px - beta * log_q_over_p, log_px, log_q_over_p, z,
                             params.view(k, batch, *params.shape[1:]))


def iwae_loss(
    module: VAEModule, x: Tensor, k: int, mask: Tensor | None = None, beta: float = 1.0,
    generator: torch.Generator | None = None, estimator: str = "standard",
) -> LossTerms:
    """The k-sample importance-weighted bound, with a choice of gradient estimator for q's parameters.

    * ``standard``: the reparameterised gradient of the bound (Burda et al., 2015). Its signal for the
      encoder fades as k grows (Rainforth et al., 2018).
    * ``stl``, sticking the landing (Roeder et al., 2017): log q is scored with q's parameters held
      constant, dropping the score-function term whose mean is zero. Unbiased for the ELBO (k = 1),
      slightly biased for k > 1; lowest variance near a good posterior.
    * ``dreg``, doubly reparameterised (Tucker et al., 2018): unbiased for any k, and its encoder
      signal does not fade with k. Encoder paths through z get squared normalised weights; the
      decoder and prior get the standard IWAE gradient. At k = 1 it equals STL.
    """
    samples = importance_samples(module, x, k, mask, beta, generator, stop_gradient=estimator != "standard")
    log_w, z = samples.log_w, samples.z
    bound = torch.logsumexp(log_w, 0) - math.log(k)
    if estimator == "dreg":
        weights = torch.softmax(log_w.detach(), 0)
        if z.requires_grad:  # gradients reaching z come in with weight w; DReG wants w^2
            z.register_hook(lambda grad: grad * weights.unsqueeze(-1))
        loss = -(weights * log_w).sum(0).mean()
    else:
        loss = -bound.mean()
    return LossTerms(loss=loss, recon=-samples.log_px.mean(0), kl=samples.log_q_over_p.mean(0), bound=bound)


#: A hand-derived single-sample ELBO, ``fast(x, beta, generator)``, with autograd's loss and gradients
#: (``vaekit.train.fast_step``); the trainer passes one where it covers the run's settings.
FastElbo = Callable[[Tensor, float, torch.Generator | None], LossTerms]


def training_loss(
    module: VAEModule, x: Tensor, mask: Tensor | None = None, beta: float = 1.0, iw_samples: int = 1,
    generator: torch.Generator | None = None, *, regularizer: Regularizer | None = None, epoch: float = 0.0,
    estimator: str = "standard", fast: FastElbo | None = None,
) -> LossTerms:
    """The objective the trainer minimises: ELBO for one sample, IWAE for several (or with STL/DReG).

    The KL schedule in ``regularizer`` is evaluated here, once, and scales beta in either; its other
    levers apply to the ELBO only. ``fast`` computes the ELBO of batches without a mask.
    """
    weight = 1.0 if regularizer is None else regularizer.kl_weight(epoch)
    if iw_samples == 1 and estimator == "standard":
        if fast is not None and mask is None:
            return fast(x, beta * weight, generator)
        return elbo_loss(module, x, mask, beta, generator, regularizer, epoch, weight)
    return iwae_loss(module, x, iw_samples, mask, beta * weight, generator, estimator)
