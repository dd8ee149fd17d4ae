"""KL levers: each reduces to the plain ELBO at its neutral setting, and does what it claims elsewhere."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

import vaekit
from vaekit.config.configs import ModelConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.model.module import VAEModule
from vaekit.train.objectives import elbo_loss, training_loss
from vaekit.train.regularizers import Regularizer, free_bits_kl, kl_weight, total_correlation

pytestmark = pytest.mark.usefixtures("float64")


def _model_and_batch(prior: str = "normal") -> tuple[VAEModule, torch.Tensor]:
    torch.manual_seed(0)
    module = VAEModule(ModelConfig(input_shape=(12,), hidden=(16,), latent_dim=5, prior=prior)).double()
    x = (torch.rand(32, 12, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    return module, x


def _loss(module, x, regularizer=None, beta=1.0, epoch=0.0):
    return training_loss(module, x, beta=beta, generator=torch.Generator().manual_seed(7),
                         regularizer=regularizer, epoch=epoch).loss


NEUTRAL = [  # (regularizer, beta, epoch) at which the loss must equal the plain beta-ELBO's
    (Regularizer(TrainConfig()), 1.0, 0.0),
    (Regularizer(TrainConfig(kl_schedule="linear", kl_warmup=2.0)), 1.0, 2.5),
    (Regularizer(TrainConfig(kl_schedule="cyclical", kl_warmup=2.0)), 3.0, 7.0),  # phase 3 of 4: the hold half
    (Regularizer(TrainConfig(free_bits=0.0)), 2.0, 0.0),
    (Regularizer(TrainConfig(capacity=0.0, capacity_epochs=1.0, capacity_gamma=1.0)), 1.0, 5.0),
    (Regularizer(TrainConfig(tc_beta=1.0)), 1.0, 0.0),
    (Regularizer(TrainConfig(tc_beta=4.0)), 4.0, 0.0),
]


@pytest.mark.parametrize(("regularizer", "beta", "epoch"), NEUTRAL)
@pytest.mark.parametrize("prior", ["normal", "mog"])
def test_every_lever_reduces_to_the_plain_elbo_at_its_neutral_setting(regularizer, beta, epoch, prior):
    module, x = _model_and_batch(prior)
    plain = elbo_loss(module, x, beta=beta, generator=torch.Generator().manual_seed(7)).loss
    torch.testing.assert_close(_loss(module, x, regularizer, beta, epoch), plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("regularizer", "epoch"), [
    (Regularizer(TrainConfig(kl_schedule="linear", kl_warmup=2.0)), 1.0),
    (Regularizer(TrainConfig(kl_schedule="cyclical", kl_warmup=2.0)), 5.0),
    (Regularizer(TrainConfig(free_bits=2.0)), 0.0),
    (Regularizer(TrainConfig(capacity=20.0, capacity_epochs=1.0, capacity_gamma=1.0)), 1.0),
    (Regularizer(TrainConfig(tc_beta=6.0)), 0.0),
])
def test_every_lever_changes_the_loss_away_from_its_neutral_setting(regularizer, epoch):
    module, x = _model_and_batch()
    assert abs((_loss(module, x, regularizer, 1.0, epoch) - _loss(module, x)).item()) > 1e-3


def test_schedules_ramp_and_cycle():
    assert [kl_weight("linear", 4.0, e) for e in (0, 1, 4, 9)] == [0.0, 0.25, 1.0, 1.0]
    assert [kl_weight("cyclical", 2.0, e) for e in (0, 1, 2, 3, 4, 5)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    assert kl_weight("constant", 0.0, 3.0) == 1.0
    assert Regularizer(TrainConfig(capacity=25.0, capacity_epochs=10.0)).capacity_at(4.0) == pytest.approx(10.0)
    assert Regularizer(TrainConfig(capacity=25.0, capacity_epochs=10.0)).capacity_at(40.0) == 25.0


@settings(max_examples=30, deadline=None)
@given(floor=st.floats(0.0, 3.0), seed=st.integers(0, 10_000))
def test_free_bits_never_lets_a_dimension_below_its_floor(floor, seed):
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(16, 6, generator=gen) * torch.linspace(0.01, 3.0, 6)  # tiny to large KL per dimension
    logvar = (torch.randn(16, 6, generator=gen) * 0.3).requires_grad_()
    mu.requires_grad_()
    per_dim = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)
    terms = free_bits_kl(per_dim, floor)
    assert (terms >= floor).all()
    terms.sum().backward()
    below = per_dim.mean(0) < floor
    assert (mu.grad[:, below] == 0).all() and (logvar.grad[:, below] == 0).all()  # no pull below the floor
    assert (mu.grad[:, ~below].abs().sum(0) > 0).all()


def test_total_correlation_of_an_independent_code_is_about_zero_and_of_a_dependent_one_is_not():
    gen = torch.Generator().manual_seed(3)
    mu = torch.randn(2000, 4, generator=gen)
    logvar = torch.full_like(mu, math.log(0.25))
    z = mu + 0.5 * torch.randn(mu.shape, generator=gen)
    independent = float(total_correlation(z, mu, logvar).mean())
    assert abs(independent) < 0.05
    mu_dep = mu.clone()
    mu_dep[:, 1] = mu[:, 0]  # two dimensions that say the same thing
    z_dep = mu_dep + 0.5 * torch.randn(mu.shape, generator=gen)
    dependent = float(total_correlation(z_dep, mu_dep, logvar).mean())
    # Two unit-variance Gaussians with correlation 1/1.25 share -0.5 log(1 - 0.64) = 0.51 nats.
    assert dependent == pytest.approx(-0.5 * math.log(1 - 0.8**2), abs=0.08)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"beta": -1.0}, "beta must be non-negative"),
    ({"capacity": 25.0}, "capacity needs a schedule"),
    ({"capacity": 25.0, "capacity_epochs": 10.0, "beta": 4.0}, "capacity replaces beta"),
    ({"capacity_epochs": 10.0}, "capacity_epochs needs capacity"),
    ({"kl_schedule": "linear"}, "needs kl_warmup"),
    ({"kl_warmup": 5.0}, "kl_warmup needs a kl_schedule"),
    ({"kl_schedule": "sigmoid", "kl_warmup": 1.0}, "unknown kl_schedule 'sigmoid'; choose one of"),
    ({"free_bits": -0.5}, "free_bits must be non-negative"),
    ({"tc_beta": -1.0}, "tc_beta must be non-negative"),
    ({"free_bits": 0.5, "iw_samples": 5}, "does not combine with iw_samples"),
    ({"grad_estimator": "reinforce"}, "unknown grad_estimator 'reinforce'; choose one of"),
])
def test_misconfiguration_is_a_clear_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)
    with pytest.raises(ConfigError, match=message):  # the estimator refuses it before any training
        vaekit.VAE(epochs=1, **kwargs).fit(np.zeros((20, 3)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prior": "vamp", "free_bits": 0.5}, "free_bits needs a per-dimension KL"),
    ({"ladder": (3,), "tc_beta": 5.0}, "tc_beta needs one stochastic layer"),
    ({"ladder": (3,), "iw_samples": 3, "grad_estimator": "dreg"}, "needs one stochastic layer"),
])
def test_levers_that_need_a_flat_gaussian_model_refuse_others(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        vaekit.VAE(epochs=1, hidden=(8,), latent_dim=2, **kwargs).fit(np.random.rand(20, 4))


def test_training_with_each_lever_runs_and_the_schedule_shows_in_the_loss():
    torch.set_default_dtype(torch.float32)
    x = load_digits().images[:300, None] / 16
    common = {"hidden": (32,), "latent_dim": 4, "epochs": 2, "val_fraction": 0.2, "seed": 0}
    warm = vaekit.VAE(kl_schedule="linear", kl_warmup=4.0, **common).fit(x)
    plain = vaekit.VAE(**common).fit(x)
    # While the KL weight is below 1 the loss is below the negative ELBO; with a constant weight it equals it.
    assert warm.history_[0]["train_loss"] < -warm.history_[0]["train_elbo"] - 0.05
    assert plain.history_[0]["train_loss"] == pytest.approx(-plain.history_[0]["train_elbo"], rel=1e-5)
    for lever in ({"free_bits": 0.25}, {"capacity": 5.0, "capacity_epochs": 2.0}, {"tc_beta": 6.0},
                  {"kl_schedule": "cyclical", "kl_warmup": 0.5}):
        vae = vaekit.VAE(**lever, **common).fit(x)
        assert all(math.isfinite(r["val_elbo"]) for r in vae.history_)
