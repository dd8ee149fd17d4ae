"""Mixture-of-Gaussians and VampPrior: densities, sampling, and the Monte Carlo KL the objective uses."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

import vaekit
from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.module import VAEModule
from vaekit.train.objectives import posterior_kl

pytestmark = pytest.mark.usefixtures("float64")


def _module(prior: str, components: int) -> VAEModule:
    torch.manual_seed(0)
    return VAEModule(ModelConfig(input_shape=(6,), likelihood="gaussian", hidden=(16,), latent_dim=3,
                                 prior=prior, prior_components=components)).double()


def _reference_mixture(means, logvars, log_weights) -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(logits=log_weights),
                             Independent(Normal(means, (0.5 * logvars).exp()), 1))


def _monte_carlo_kl(module: VAEModule, x: torch.Tensor, n: int) -> torch.Tensor:
    """The objective's own one-sample KL estimate, averaged over n draws per example."""
    gen = torch.Generator().manual_seed(11)
    x_rep = x.repeat(n, 1)
    with torch.no_grad():
        kl, per_dim = posterior_kl(module, module.sample_posterior(x_rep, generator=gen))
    assert per_dim is None  # no closed form: the objective must be estimating
    return kl.view(n, x.shape[0]).mean(0)


def test_mixture_density_matches_torch_distributions():
    module = _module("mog", 4)
    prior = module.prior
    with torch.no_grad():
        prior.means.normal_(generator=torch.Generator().manual_seed(1))
        prior.logvars.uniform_(-1, 1)
        prior.logits.normal_()
    z = torch.randn(50, 3)
    reference = _reference_mixture(prior.means, prior.logvars, prior.logits).log_prob(z)
    torch.testing.assert_close(prior.log_prob(z), reference)


def test_one_component_mixture_kl_estimate_agrees_with_the_closed_form():
    module = _module("mog", 1)
    with torch.no_grad():
        module.prior.means.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        module.prior.logvars.copy_(torch.tensor([[0.3, -0.5, 0.0]]))
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mu, logvar = module.encode(x)
    closed = kl_divergence(Independent(Normal(mu, (0.5 * logvar).exp()), 1),
                           Independent(Normal(module.prior.means[0], (0.5 * module.prior.logvars[0]).exp()), 1))
    torch.testing.assert_close(_monte_carlo_kl(module, x, 100_000), closed, atol=0.02, rtol=0.01)


def test_mixture_kl_estimate_agrees_with_a_large_independent_monte_carlo():
    module = _module("mog", 5)
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        mu, logvar = module.encode(x)
        q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
        p = _reference_mixture(module.prior.means, module.prior.logvars, module.prior.logits)
        torch.manual_seed(5)
        z = q.sample((200_000,))
        reference = (q.log_prob(z) - p.log_prob(z)).mean(0)
    torch.testing.assert_close(_monte_carlo_kl(module, x, 100_000), reference, atol=0.03, rtol=0.01)


def test_vamp_prior_is_the_mixture_of_the_encoders_posteriors_at_its_pseudo_inputs():
    module = _module("vamp", 7)
    with torch.no_grad():
        means, logvars = module.encode(module.prior.pseudo_inputs)
        z = torch.randn(40, 3)
        reference = _reference_mixture(means, logvars, torch.zeros(7)).log_prob(z)
        torch.testing.assert_close(module.prior.log_prob(z), reference)
    assert not any(name.startswith("prior.") and "encoder" in name for name, _ in module.named_parameters())


def test_vamp_kl_estimate_agrees_with_the_closed_form_for_one_pseudo_input():
    module = _module("vamp", 1)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        mu, logvar = module.encode(x)
        u_mu, u_logvar = module.encode(module.prior.pseudo_inputs)
    closed = kl_divergence(Independent(Normal(mu, (0.5 * logvar).exp()), 1),
                           Independent(Normal(u_mu[0], (0.5 * u_logvar[0]).exp()), 1))
    torch.testing.assert_close(_monte_carlo_kl(module, x, 100_000), closed, atol=0.02, rtol=0.01)
    with torch.no_grad():  # a pseudo-input equal to the data point: the posterior is the prior, KL = 0
        module.prior.pseudo_inputs.copy_(x[:1])
    assert abs(float(_monte_carlo_kl(module, x[:1], 10)[0])) < 1e-9


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_prior_samples_follow_the_prior_density(prior):
    module = _module(prior, 3)
    with torch.no_grad():
        z = module.prior.sample(200_000, generator=torch.Generator().manual_seed(8))
        if prior == "mog":
            reference = _reference_mixture(module.prior.means, module.prior.logvars, module.prior.logits)
        else:
            means, logvars = module.encode(module.prior.pseudo_inputs)
            reference = _reference_mixture(means, logvars, torch.zeros(3))
    torch.testing.assert_close(z.mean(0), reference.mean, atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), reference.variance, atol=0.03, rtol=0.02)


def test_component_counts_are_validated_and_recorded():
    assert ModelConfig(input_shape=(4,), prior="mog").prior_components == 10
    assert ModelConfig(input_shape=(4,), prior="vamp").prior_components == 100
    with pytest.raises(ConfigError, match="at least 1"):
        ModelConfig(input_shape=(4,), prior="mog", prior_components=0)
    with pytest.raises(ConfigError, match="the normal prior has no components"):
        ModelConfig(input_shape=(4,), prior="normal", prior_components=5)


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_models_with_learned_priors_train_save_and_load(prior, tmp_path):
    torch.set_default_dtype(torch.float32)
    x = load_digits().images[:300, None] / 16
    vae = vaekit.VAE(hidden=(32,), latent_dim=4, prior=prior, prior_components=5, epochs=3, seed=0).fit(x)
    before = {k: v.clone() for k, v in vae.module_.prior.state_dict().items()}
    assert before and all(np.isfinite(r["val_elbo"]) for r in vae.history_)
    vae.save(tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run")
    for name, value in loaded.module_.prior.state_dict().items():
        torch.testing.assert_close(value, before[name])
    assert loaded.score(x) == pytest.approx(vae.score(x))
    np.testing.assert_allclose(loaded.sample(5, seed=1), vae.sample(5, seed=1))
