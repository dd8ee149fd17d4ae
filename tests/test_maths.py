"""The maths of the model: KL, likelihood normalisation, masks, IWAE convergence."""

import itertools
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaekit.config.configs import LIKELIHOOD_NAMES, ModelConfig
from vaekit.model.likelihoods import LIKELIHOODS, N_PIXEL_LEVELS, Bernoulli, make_likelihood
from vaekit.model.module import VAEModule
from vaekit.model.priors import StandardNormal
from vaekit.train.evaluation import iwae_nll
from vaekit.train.objectives import elbo_loss, iwae_loss

pytestmark = pytest.mark.usefixtures("float64")


def test_kl_matches_closed_form_and_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=gen)
    logvar = torch.randn(5, 3, generator=gen)
    ours = StandardNormal(3).kl(mu, logvar)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(ours, reference)
    z = mu + (0.5 * logvar).exp() * torch.randn(200_000, 5, 3, generator=gen)
    mc = (Normal(mu, (0.5 * logvar).exp()).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).mean(0)
    torch.testing.assert_close(ours, mc, atol=0.03, rtol=0.02)


def test_kl_is_zero_only_at_the_prior():
    prior = StandardNormal(4)
    assert prior.kl(torch.zeros(1, 4), torch.zeros(1, 4)).abs().max() == 0
    assert (prior.kl(torch.full((1, 4), 0.1), torch.zeros(1, 4)) > 0).all()


def _random_params(name: str, n_entries: int, gen: torch.Generator) -> torch.Tensor:
    n_params = LIKELIHOODS[name].n_params
    params = torch.randn(1, n_params, n_entries, generator=gen) * 3
    if name in ("gaussian", "logistic"):
        params[:, 1] = torch.linspace(-9, 2, n_entries)  # scales from below the floor to wide
        params[:, 0] = torch.linspace(-0.3, 1.3, n_entries)  # means inside and outside [0, 1]
    return params


@pytest.mark.parametrize("name", ["bernoulli", "logistic", "categorical"])
def test_discrete_likelihoods_sum_to_one(name):
    lik = make_likelihood(name)
    params = _random_params(name, 7, torch.Generator().manual_seed(1))
    support = torch.tensor([0.0, 1.0]) if name == "bernoulli" else torch.arange(N_PIXEL_LEVELS) / 255
    total = torch.zeros(7)
    for value in support:
        x = torch.full((1, 7), float(value))
        total += lik.log_prob_entries(params, x)[0].exp()
    torch.testing.assert_close(total, torch.ones(7), atol=1e-9, rtol=0)


def test_gaussian_density_integrates_to_one():
    lik = make_likelihood("gaussian")
    params = _random_params("gaussian", 5, torch.Generator().manual_seed(2))[:, :, 1:]  # skip the floor case
    grid = torch.linspace(-60, 60, 600_001)  # wide enough for the widest scale (e^2)
    for j in range(4):
        p = params[:, :, j : j + 1]
        values = lik.log_prob_entries(p.expand(grid.numel(), -1, -1).contiguous(), grid[:, None])[:, 0].exp()
        assert abs(torch.trapezoid(values, grid).item() - 1) < 1e-6


def test_bernoulli_is_stable_for_extreme_logits():
    lik = Bernoulli()
    params = torch.tensor([[[-1e4, 1e4, 0.0]]])
    logp = lik.log_prob(params, torch.tensor([[0.0, 1.0, 1.0]]))
    torch.testing.assert_close(logp, torch.tensor([-math.log(2)]))


@pytest.mark.parametrize("name", LIKELIHOOD_NAMES)
def test_mask_drops_entries(name):
    lik = make_likelihood(name)
    gen = torch.Generator().manual_seed(3)
    params = torch.randn(2, lik.n_params, 6, generator=gen)
    x = torch.rand(2, 6, generator=gen).round() if name == "bernoulli" else torch.rand(2, 6, generator=gen)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 0, 1, 0, 1, 0]], dtype=x.dtype)
    x_garbage = torch.where(mask.bool(), x, torch.full_like(x, 0.77))
    torch.testing.assert_close(lik.log_prob(params, x, mask), lik.log_prob(params, x_garbage, mask))
    full = lik.log_prob_entries(params, x)
    torch.testing.assert_close(lik.log_prob(params, x, mask), (full * mask).sum(1))


def _linear_gaussian_vae(dim: int = 3, latent: int = 2) -> tuple[VAEModule, torch.Tensor, torch.Tensor]:
    """A VAE whose decoder is linear with fixed noise: p(x) = N(b, W W^T + s^2 I) exactly."""
    torch.manual_seed(0)
    module = VAEModule(ModelConfig(input_shape=(dim,), hidden=(), latent_dim=latent, likelihood="gaussian"))
    linear = module.decoder.layers[0]
    with torch.no_grad():
        linear.weight[dim:] = 0  # the log-scale rows: constant
        linear.bias[dim:] = math.log(0.5)
    w, b = linear.weight[:dim].detach(), linear.bias[:dim].detach()
    return module, w, b


def test_iwae_bound_rises_with_k_towards_the_true_log_likelihood():
    module, w, b = _linear_gaussian_vae()
    cov = w @ w.T + 0.25 * torch.eye(3)
    x = torch.distributions.MultivariateNormal(b, cov).sample((64,))
    exact_nll = -torch.distributions.MultivariateNormal(b, cov).log_prob(x).mean().item()
    nlls = [iwae_nll(module, x, k, seed=1).mean().item() for k in (1, 10, 100, 5000)]
    assert all(a >= b - 1e-3 for a, b in itertools.pairwise(nlls)), nlls  # the bound tightens with k
    assert nlls[0] > exact_nll + 0.5  # the untrained encoder is a poor proposal ...
    assert abs(nlls[-1] - exact_nll) < 0.05  # ... yet k = 5000 recovers log p(x)


def test_iwae_with_one_sample_is_the_elbo():
    """Same z, same reconstruction term; the Monte Carlo KL averages to the analytic one."""
    module, _, _ = _linear_gaussian_vae()
    x = torch.randn(4, 3).repeat(20_000, 1)
    a = iwae_loss(module, x, 1, generator=torch.Generator().manual_seed(5))
    b = elbo_loss(module, x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.recon, b.recon)
    torch.testing.assert_close(a.bound.view(-1, 4).mean(0), b.bound.view(-1, 4).mean(0), atol=0.1, rtol=0)


def test_beta_weighs_only_the_kl():
    module, _, _ = _linear_gaussian_vae()
    x = torch.randn(8, 3)
    one = elbo_loss(module, x, beta=1.0, generator=torch.Generator().manual_seed(0))
    four = elbo_loss(module, x, beta=4.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(four.loss - one.loss, 3 * one.kl.mean())
    torch.testing.assert_close(four.bound, one.bound)  # the reported ELBO never carries beta
