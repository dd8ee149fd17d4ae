"""The hand-derived MLP training step: same loss and gradients as autograd, used only where it applies."""

import pytest
import torch

from vaekit.config.configs import ModelConfig, TrainConfig
from vaekit.model.likelihoods import MIN_LOG_SCALE
from vaekit.model.module import VAEModule
from vaekit.train.distributed import SINGLE_PROCESS, World
from vaekit.train.fast_step import mlp_elbo_step
from vaekit.train.objectives import training_loss
from vaekit.train.trainer import Trainer

SHAPE = (1, 6, 5)


def module(likelihood: str = "bernoulli", **kw) -> VAEModule:
    torch.manual_seed(0)
    return VAEModule(ModelConfig(input_shape=SHAPE, hidden=(24, 16), latent_dim=3, likelihood=likelihood, **kw))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_terms_and_gradients_equal_autograd(likelihood):
    vae = module(likelihood).double()
    if likelihood == "gaussian":  # some log-scales below the floor, where the gradient must be 0
        with torch.no_grad():
            vae.decoder[0][-1].bias[30:] = MIN_LOG_SCALE + torch.linspace(-2, 2, 30, dtype=torch.float64)
    x = torch.rand(9, *SHAPE, dtype=torch.float64)
    beta, weight = 2.5, 0.75
    expected = training_loss(vae, x, beta=beta, generator=torch.Generator().manual_seed(4))
    (expected.loss * weight).backward()
    autograd = [p.grad.clone() for p in vae.parameters()]

    step = mlp_elbo_step(vae, TrainConfig(beta=beta), SINGLE_PROCESS)
    assert step is not None
    got = step(x, beta, torch.Generator().manual_seed(4), weight)
    for name in ("loss", "recon", "kl", "bound"):
        torch.testing.assert_close(getattr(got, name), getattr(expected, name).detach(), rtol=1e-12, atol=1e-12)
    for (name, param), grad in zip(vae.named_parameters(), autograd, strict=True):
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(param.grad, grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("model, train, world", [
    ({"arch": "conv", "channels": (4,)}, {}, SINGLE_PROCESS),
    ({"likelihood": "logistic"}, {}, SINGLE_PROCESS),
    ({"prior": "vamp"}, {}, SINGLE_PROCESS),
    ({"ladder": (2,)}, {}, SINGLE_PROCESS),
    ({"mask_input": True}, {}, SINGLE_PROCESS),
    ({}, {"iw_samples": 5}, SINGLE_PROCESS),
    ({}, {"grad_estimator": "stl"}, SINGLE_PROCESS),
    ({}, {"free_bits": 0.5}, SINGLE_PROCESS),
    ({}, {"tc_beta": 4.0}, SINGLE_PROCESS),
    ({}, {"capacity": 5.0, "capacity_epochs": 2.0}, SINGLE_PROCESS),
    ({}, {"precision": "bf16"}, SINGLE_PROCESS),
    ({}, {"compile": True}, SINGLE_PROCESS),
    ({}, {}, World(rank=0, size=2)),
])
def test_everything_else_takes_the_autograd_path(model, train, world):
    assert mlp_elbo_step(module(**model), TrainConfig(**train), world) is None


def test_frozen_layers_take_the_autograd_path():
    vae = module()
    assert mlp_elbo_step(vae, TrainConfig(), SINGLE_PROCESS) is not None
    vae.encoder.requires_grad_(False)
    assert mlp_elbo_step(vae, TrainConfig(), SINGLE_PROCESS) is None


def test_trainer_with_the_hand_step_follows_the_autograd_trainer():
    """A few epochs with a KL warm-up: both paths end at the same weights (float32 rounding apart)."""
    x = torch.rand(200, *SHAPE)
    config = TrainConfig(epochs=3, batch_size=32, kl_schedule="linear", kl_warmup=2.0, beta=1.5, val_fraction=0.0)
    results = []
    for hand in (True, False):
        vae = module()
        trainer = Trainer(vae, config, quiet=True)
        assert trainer.hand_step is not None
        if not hand:
            trainer.hand_step = None
        history = trainer.fit(x).history
        results.append((vae.state_dict(), [row["train_loss"] for row in history]))
    (hand_weights, hand_losses), (auto_weights, auto_losses) = results
    assert hand_losses == pytest.approx(auto_losses, rel=1e-4)
    for name, value in hand_weights.items():
        torch.testing.assert_close(value, auto_weights[name], rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize("train", [
    {}, {"beta": 4.0}, {"beta": 2.0, "tc_beta": 2.0}, {"kl_schedule": "cyclical", "kl_warmup": 1.0},
    {"lr_schedule": "cosine"}, {"binarize": "dynamic"},
])
def test_plain_objectives_take_the_hand_step(train):
    """beta, its schedules and a neutral tc_beta only rescale the analytic KL: the hand step covers them."""
    assert mlp_elbo_step(module(), TrainConfig(**train), SINGLE_PROCESS) is not None
