"""Levers on the KL term: how the objective shapes the latent space.

The plain objective is the ELBO, loss = recon + beta * KL (per example, in nats). Each lever
below changes only the KL part of the *loss*; the reported ``elbo`` stays the true bound, so
runs with different levers remain comparable. Every lever has a neutral setting at which
the loss is exactly the plain (beta-weighted) ELBO.

* **beta** (Higgins et al., 2017): a constant weight on the KL. 1 is the true ELBO; above 1
  trades reconstruction for a more factorised, more prior-like code; below 1 the opposite.
* **KL schedules**: the weight rises from 0 to beta. ``linear`` warm-up (Bowman et al., 2016;
  Sønderby et al., 2016) over ``kl_warmup`` epochs, then stays at beta: use it when latent
  dimensions collapse early ("posterior collapse"). ``cyclical`` (Fu et al., 2019) repeats a
  ramp of ``kl_warmup`` epochs followed by as many at beta, so the code is re-learnt several
  times; useful with strong decoders. Neutral: ``constant``.
* **free bits** (Kingma et al., 2016): each latent dimension's batch-mean KL counts as at
  least ``free_bits`` nats, so the optimiser gains nothing by pushing a dimension below that
  floor and keeps it in use. Needs a per-dimension KL (the standard normal prior). With several
  stochastic layers (ladder, hierarchical) the floor is per group (Kingma et al.'s own use): each
  layer's KL counts as at least ``free_bits`` times its number of dimensions. Neutral: 0.
* **capacity annealing** (Burgess et al., 2018): loss = recon + gamma * |KL - C| with the
  capacity C rising linearly from 0 to ``capacity`` nats over ``capacity_epochs``; the code
  is allowed to carry C nats and is pulled towards exactly that. Replaces beta and
  schedules. Neutral: gamma = 1 and C = 0 (then |KL| = KL).
* **beta-TCVAE** (Chen et al., 2018): KL = index-code MI + total correlation (TC) +
  dimension-wise KL; ``tc_beta`` weighs the TC part instead of beta, penalising statistical
  dependence between latent dimensions (disentangling) without starving the code. TC is
  estimated on the minibatch by minibatch-weighted sampling. Neutral: ``tc_beta = beta``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from vaekit.model.posterior import gaussian_log_density

if TYPE_CHECKING:
    from vaekit.config.configs import TrainConfig


def kl_weight(schedule: str, warmup: float, epoch: float) -> float:
    """The factor on beta after ``epoch`` (fractional) epochs of training, in [0, 1]."""
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return min(1.0, epoch / warmup)
    return min(1.0, (epoch % (2 * warmup)) / warmup)  # cyclical: ramp, then hold, half a period each


def free_bits_kl(kl_per_dim: Tensor, floor: float | Tensor) -> Tensor:
    """Per-dimension (or per-group) KL terms of the loss: batch means, each floored at ``floor`` nats
    (one number, or one per column).

    Below the floor the term is constant, so it sends no gradient that would shrink the dimension further.
    """
    return torch.maximum(kl_per_dim.mean(0), torch.as_tensor(floor, dtype=kl_per_dim.dtype,
                                                                device=kl_per_dim.device))


def total_correlation(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Per-example estimate of log q(z) - sum_j log q(z_j), ``[batch]``, on one minibatch.

    The aggregate posterior q(z) is stood in for by the minibatch's mixture (1/M) sum_m q(z|x_m),
    evaluated for every code against every example (minibatch-weighted sampling, Chen et al. 2018).
    Their 1/(NM) normalisation only adds the constant (D - 1) log N, which is dropped here so an
    independent code scores about 0 rather than an offset.
    """
    # log q(z_i,d | x_j) for every pair of examples (i, j) and dimension d: [M, M, D]
    log_q = gaussian_log_density(z[:, None], mu[None], logvar[None])
    log_m = math.log(z.shape[0])
    log_joint = torch.logsumexp(log_q.sum(-1), dim=1) - log_m
    log_marginals = (torch.logsumexp(log_q, dim=1) - log_m).sum(-1)
    return log_joint - log_marginals


class Regularizer:
    """The KL levers of one run's :class:`~vaekit.config.configs.TrainConfig`; beta comes with each call."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def kl_weight(self, epoch: float) -> float:
        return kl_weight(self.config.kl_schedule, self.config.kl_warmup, epoch)

    def capacity_at(self, epoch: float) -> float:
        """Burgess et al.'s C: rises linearly from 0 to ``capacity`` nats, then stays."""
        assert self.config.capacity is not None
        return self.config.capacity * min(1.0, epoch / self.config.capacity_epochs)

    def kl_penalty(
        self, kl: Tensor, kl_per_dim: Tensor | None, z: Tensor, mu: Tensor | None, logvar: Tensor | None,
        beta: float, weight: float, epoch: float, split_sizes: tuple[int, ...] | None = None,
    ) -> Tensor:
        """The KL part of the single-sample loss (a batch mean); ``kl`` is per example, ``z`` ``[batch, D]``.

        ``weight`` is the KL schedule's factor at ``epoch`` (:meth:`kl_weight`, which the caller evaluates once).
        ``kl_per_dim`` splits ``kl`` by dimension, or by group of ``split_sizes`` dimensions each.
        """
        cfg = self.config
        if cfg.capacity is not None:
            return cfg.capacity_gamma * (kl.mean() - self.capacity_at(epoch)).abs()
        if cfg.free_bits > 0:
            assert kl_per_dim is not None, "check_model_fits (vaekit.config) rules this out"
            floor = cfg.free_bits if split_sizes is None else cfg.free_bits * torch.tensor(split_sizes)
            term = free_bits_kl(kl_per_dim, floor).sum()
        else:
            term = kl.mean()
        penalty = beta * weight * term
        if cfg.tc_beta is not None and cfg.tc_beta != beta:
            assert mu is not None and logvar is not None, "check_model_fits (vaekit.config) rules this out"
            penalty = penalty + weight * (cfg.tc_beta - beta) * total_correlation(z, mu, logvar).mean()
        return penalty
