"""The ladder VAE: its hierarchical prior and top-down posterior are normalised and consistent."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.config.configs import ModelConfig
from vaekit.missing_data.imputation import importance_weighted
from vaekit.model.build import build_module
from vaekit.model.ladder import LOGVAR_BOUND, LadderPrior, LadderVAEModule, gaussian_params, precision_weighted
from vaekit.train.objectives import importance_samples

pytestmark = pytest.mark.usefixtures("float64")


def _ladder(sizes=(2, 1)) -> LadderVAEModule:
    torch.manual_seed(0)
    config = ModelConfig(input_shape=(5,), likelihood="gaussian", hidden=(16,), latent_dim=sizes[0],
                         ladder=sizes[1:])
    return build_module(config).double()


def test_hierarchical_prior_is_normalised_and_its_samples_follow_it():
    torch.manual_seed(1)
    prior = LadderPrior((1, 1), width=8).double()
    grid = torch.linspace(-12, 12, 1201)
    z = torch.cartesian_prod(grid, grid)  # columns: z_1, z_2
    with torch.no_grad():
        density = prior.log_prob(z).exp()
        samples = prior.sample(200_000, generator=torch.Generator().manual_seed(2))

    def integral(values):
        table = (values * density).view(len(grid), len(grid))
        return float(torch.trapezoid(torch.trapezoid(table, grid, dim=1), grid))

    assert abs(integral(torch.ones(len(z))) - 1) < 1e-4
    assert samples[:, 0].mean() == pytest.approx(integral(z[:, 0]), abs=0.02)
    assert (samples[:, 0] ** 2).mean() == pytest.approx(integral(z[:, 0] ** 2), rel=0.02)
    assert (samples[:, 0] * samples[:, 1]).mean() == pytest.approx(integral(z[:, 0] * z[:, 1]), abs=0.02)


def test_posterior_and_prior_densities_match_what_is_sampled():
    module = _ladder((2, 1))
    x = torch.randn(1, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        post = module.sample_posterior(x, k=200_000, generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(post.log_p, module.prior.log_prob(post.z))  # the value reused on the way
        # Importance sampling the prior with the posterior: E_q[p(z) / q(z|x)] = 1 when both are normalised
        # and log_q is the density of the codes actually drawn.
        ratio = (post.log_p - post.log_q).exp().mean()
    assert float(ratio) == pytest.approx(1.0, abs=0.05)


def test_importance_weighted_bound_tightens_with_k():
    module = _ladder((3, 2))
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(6)
    bounds = []
    with torch.no_grad():
        for k in (1, 10, 200):
            log_w = importance_samples(module, x, k, generator=gen).log_w
            bounds.append(float((torch.logsumexp(log_w, 0) - np.log(k)).mean()))
    assert bounds[0] < bounds[1] < bounds[2]


def test_imputation_proposes_from_the_ladders_own_posterior():
    """Imputation draws codes from the top-down posterior the model trains and is evaluated with, and
    weighs them as the IWAE bound does: same seed, same codes, same normalised weights."""
    module = _ladder((3, 2))
    mask = (torch.rand(8, 5, generator=torch.Generator().manual_seed(7)) > 0.4).double()
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(8)) * mask  # zero-filled, as imputation gets it
    params, weights = importance_weighted(module, x, mask, 40, torch.Generator().manual_seed(9))
    with torch.no_grad():
        samples = importance_samples(module, x, 40, mask, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(weights, samples.log_w.softmax(0))
    torch.testing.assert_close(params, samples.params)


def test_ladder_model_trains_saves_and_loads(tmp_path):
    torch.set_default_dtype(torch.float32)
    x = load_digits().images[:400, None] / 16
    vae = vaekit.VAE(hidden=(64,), latent_dim=6, ladder=(4, 2), epochs=5, seed=0).fit(x)
    assert isinstance(vae.module_, LadderVAEModule)
    elbos = [r["val_elbo"] for r in vae.history_]
    assert max(elbos[1:]) > elbos[0]
    assert vae.transform(x[:7]).shape == (7, 12)  # the code is [z_1, z_2, z_3]
    assert vae.sample(4).shape == (4, 1, 8, 8)
    vae.save(tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run")
    assert isinstance(loaded.module_, LadderVAEModule)
    assert loaded.score(x) == pytest.approx(vae.score(x))
    np.testing.assert_allclose(loaded.transform(x[:5]), vae.transform(x[:5]), rtol=1e-6)


def test_ladder_on_a_conv_trunk():
    torch.set_default_dtype(torch.float32)
    x = load_digits().images[:200, None] / 16
    vae = vaekit.VAE(model="conv", channels=(8,), hidden=(32,), latent_dim=4, ladder=(2,), iw_samples=2,
                     epochs=2, seed=0).fit(x)
    assert np.isfinite([r["val_elbo"] for r in vae.history_]).all()
    assert vae.reconstruct(x[:3]).shape == (3, 1, 8, 8)


def test_extreme_head_outputs_give_finite_bounded_gaussians():
    mu, logvar = gaussian_params(torch.tensor([[0.0, 1.0, -1e4, 1e4]]))
    assert logvar.abs().max() <= LOGVAR_BOUND
    merged_mu, merged_logvar = precision_weighted(mu, logvar, mu + 1, logvar.flip(-1))
    assert torch.isfinite(merged_mu).all() and torch.isfinite(merged_logvar).all()
