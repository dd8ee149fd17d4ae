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
  floor and keeps it in use. Needs a per-dimension KL (the standard normal prior). Neutral: 0.
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

from vaekit.config import GRAD_ESTIMATORS, KL_SCHEDULES
from vaekit.errors import ConfigError
from vaekit.priors import LOG_2PI

if TYPE_CHECKING:
    from vaekit.config import ModelConfig, TrainConfig


def kl_weight(schedule: str, warmup: float, epoch: float) -> float:
    """The factor on beta after ``epoch`` (fractional) epochs of training, in [0, 1]."""
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return min(1.0, epoch / warmup)
    return min(1.0, (epoch % (2 * warmup)) / warmup)  # cyclical: ramp, then hold, half a period each


def free_bits_kl(kl_per_dim: Tensor, floor: float) -> Tensor:
    """Per-dimension KL terms of the loss, ``[latent_dim]``: batch means, each floored at ``floor`` nats.

    Below the floor the term is constant, so it sends no gradient that would shrink the dimension further.
    """
    return kl_per_dim.mean(0).clamp(min=floor)


def total_correlation(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Per-example estimate of log q(z) - sum_j log q(z_j), ``[batch]``, on one minibatch.

    The aggregate posterior q(z) is stood in for by the minibatch's mixture (1/M) sum_m q(z|x_m),
    evaluated for every code against every example (minibatch-weighted sampling, Chen et al. 2018).
    Their 1/(NM) normalisation only adds the constant (D - 1) log N, which is dropped here so an
    independent code scores about 0 rather than an offset.
    """
    # log q(z_i,d | x_j) for every pair of examples (i, j) and dimension d: [M, M, D]
    log_q = -0.5 * (LOG_2PI + logvar[None] + (z[:, None] - mu[None]) ** 2 * torch.exp(-logvar[None]))
    log_m = math.log(z.shape[0])
    log_joint = torch.logsumexp(log_q.sum(-1), dim=1) - log_m
    log_marginals = (torch.logsumexp(log_q, dim=1) - log_m).sum(-1)
    return log_joint - log_marginals


class Regularizer:
    """The KL levers of one run's :class:`~vaekit.config.TrainConfig`; beta comes with each call."""

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
        beta: float, epoch: float,
    ) -> Tensor:
        """The KL part of the single-sample loss (a batch mean); ``kl`` is per example, ``z`` ``[batch, D]``."""
        cfg = self.config
        if cfg.capacity is not None:
            return cfg.capacity_gamma * (kl.mean() - self.capacity_at(epoch)).abs()
        weight = self.kl_weight(epoch)
        if cfg.free_bits > 0:
            assert kl_per_dim is not None, "check_model_fits rules this out"
            term = free_bits_kl(kl_per_dim, cfg.free_bits).sum()
        else:
            term = kl.mean()
        penalty = beta * weight * term
        if cfg.tc_beta is not None and cfg.tc_beta != beta:
            assert mu is not None and logvar is not None, "check_model_fits rules this out"
            penalty = penalty + weight * (cfg.tc_beta - beta) * total_correlation(z, mu, logvar).mean()
        return penalty


def check_objective_settings(config: TrainConfig) -> None:
    """Reject settings that contradict each other, naming the flag to change."""
    if config.grad_estimator not in GRAD_ESTIMATORS:
        raise ConfigError(f"--grad-estimator must be one of {', '.join(GRAD_ESTIMATORS)}, "
                          f"got {config.grad_estimator!r}")
    if config.kl_schedule not in KL_SCHEDULES:
        raise ConfigError(f"--kl-schedule must be one of {', '.join(KL_SCHEDULES)}, got {config.kl_schedule!r}")
    if config.kl_schedule == "constant" and config.kl_warmup != 0:
        raise ConfigError("--kl-warmup needs --kl-schedule linear or cyclical")
    if config.kl_schedule != "constant" and not config.kl_warmup > 0:
        raise ConfigError(f"--kl-schedule {config.kl_schedule} needs --kl-warmup EPOCHS > 0 (the ramp length)")
    if config.free_bits < 0:
        raise ConfigError(f"--free-bits must be non-negative (0 = off), got {config.free_bits}")
    if config.tc_beta is not None and config.tc_beta < 0:
        raise ConfigError(f"--tc-beta must be non-negative, got {config.tc_beta}")
    _check_capacity(config)
    shaped = {"--free-bits": config.free_bits > 0, "--capacity": config.capacity is not None,
              "--tc-beta": config.tc_beta is not None}
    if config.iw_samples > 1 or config.grad_estimator != "standard":
        for flag, used in shaped.items():
            if used:
                raise ConfigError(f"{flag} shapes the single-sample ELBO; it does not combine with "
                                  "--iw-samples > 1 or --grad-estimator stl/dreg")


def _check_capacity(config: TrainConfig) -> None:
    if config.capacity is None:
        if config.capacity_epochs != 0:
            raise ConfigError("--capacity-epochs needs --capacity NATS (the capacity it rises to)")
        return
    if config.capacity < 0:
        raise ConfigError(f"--capacity must be non-negative nats, got {config.capacity}")
    if not config.capacity_epochs > 0:
        raise ConfigError("--capacity needs a schedule: --capacity-epochs EPOCHS > 0, over which C rises "
                          "from 0 to the capacity")
    if not config.capacity_gamma > 0:
        raise ConfigError(f"--capacity-gamma must be positive, got {config.capacity_gamma}")
    if config.beta != 1 or config.kl_schedule != "constant" or config.free_bits > 0 or config.tc_beta is not None:
        raise ConfigError("--capacity replaces --beta, --kl-schedule, --free-bits and --tc-beta: "
                          "gamma * |KL - C| is the whole KL term; leave those at their defaults")


def check_model_fits(model: ModelConfig, config: TrainConfig) -> None:
    """Reject levers that need a single diagonal-Gaussian posterior or a per-dimension KL."""
    if config.free_bits > 0 and (model.prior != "normal" or model.ladder):
        raise ConfigError("--free-bits needs a per-dimension KL: the normal prior and no --ladder")
    if config.tc_beta is not None and model.ladder:
        raise ConfigError("--tc-beta needs one stochastic layer (a diagonal-Gaussian posterior); drop --ladder")
    if config.grad_estimator != "standard" and model.ladder:
        raise ConfigError(f"--grad-estimator {config.grad_estimator} needs one stochastic layer; "
                          "use standard with --ladder")
