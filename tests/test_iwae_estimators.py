"""STL and DReG: the same expected gradients as the plain estimators, with less noise where promised."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.config.configs import ModelConfig
from vaekit.model.module import VAEModule
from vaekit.train.objectives import elbo_loss, iwae_loss

pytestmark = pytest.mark.usefixtures("float64")


def _module() -> VAEModule:
    torch.manual_seed(0)
    return VAEModule(ModelConfig(input_shape=(4,), likelihood="gaussian", hidden=(8,), latent_dim=2)).double()


X = torch.tensor([[0.3, -1.2, 0.8, 0.1]], dtype=torch.float64)


def _grads(module: VAEModule, loss: torch.Tensor, part: str) -> torch.Tensor:
    module.zero_grad()
    loss.backward()
    return torch.cat([p.grad.flatten() for name, p in module.named_parameters() if name.startswith(part)])


def _iwae_grad(module, estimator, k, n, seed, part="encoder"):
    loss = iwae_loss(module, X.repeat(n, 1), k, generator=torch.Generator().manual_seed(seed), estimator=estimator)
    return _grads(module, loss.loss, part)


def test_dreg_gives_the_decoder_exactly_the_iwae_gradient():
    module = _module()
    torch.testing.assert_close(_iwae_grad(module, "dreg", 5, 64, 1, "decoder"),
                               _iwae_grad(module, "standard", 5, 64, 1, "decoder"))


@pytest.mark.parametrize("estimator", ["dreg", "standard"])
def test_dreg_encoder_gradient_is_unbiased(estimator):
    module = _module()
    reference = _iwae_grad(module, "standard", 4, 50_000, 2)
    estimate = _iwae_grad(module, estimator, 4, 50_000, 3)
    assert torch.linalg.norm(estimate - reference) < 0.03 * torch.linalg.norm(reference)


def test_dreg_encoder_gradient_is_less_noisy_than_the_standard_one_at_large_k():
    module = _module()
    spread = {}
    for estimator in ("standard", "dreg"):
        draws = torch.stack([_iwae_grad(module, estimator, 64, 1, seed) for seed in range(40)])
        spread[estimator] = float(draws.var(0).sum())
    assert spread["dreg"] < 0.5 * spread["standard"]


def test_stl_is_unbiased_for_the_elbo_and_dreg_equals_it_at_one_sample():
    module = _module()
    plain = elbo_loss(module, X.repeat(50_000, 1), generator=torch.Generator().manual_seed(4)).loss
    reference = _grads(module, plain, "encoder")
    stl = _iwae_grad(module, "stl", 1, 50_000, 5)
    assert torch.linalg.norm(stl - reference) < 0.03 * torch.linalg.norm(reference)
    torch.testing.assert_close(_iwae_grad(module, "dreg", 1, 50, 6), _iwae_grad(module, "stl", 1, 50, 6))


@pytest.mark.parametrize("estimator", ["stl", "dreg"])
def test_training_with_an_estimator_improves_the_bound(estimator):
    torch.set_default_dtype(torch.float32)
    x = load_digits().images[:400, None] / 16
    vae = vaekit.VAE(hidden=(32,), latent_dim=4, iw_samples=4, grad_estimator=estimator, epochs=6, seed=0).fit(x)
    elbos = [r["val_elbo"] for r in vae.history_]
    assert np.isfinite(elbos).all() and max(elbos[1:]) > elbos[0] + 1.0
