"""The hand-derived MLP ELBO: autograd's loss and gradients, behind loss.backward(), only where it declares support."""

import dataclasses

import pytest
import torch

from vaekit.config.configs import ModelConfig, TrainConfig
from vaekit.model.likelihoods import MIN_LOG_SCALE
from vaekit.model.module import VAEModule
from vaekit.train.distributed import SINGLE_PROCESS, World
from vaekit.train.fast_step import (
    MODEL_NEUTRAL,
    MODEL_SETTINGS,
    TRAIN_NEUTRAL,
    TRAIN_SETTINGS,
    fast_elbo,
    supports,
)
from vaekit.train.objectives import training_loss
from vaekit.train.regularizers import Regularizer
from vaekit.train.trainer import Trainer

SHAPE = (1, 6, 5)


def module(likelihood: str = "bernoulli", **kw) -> VAEModule:
    torch.manual_seed(0)
    return VAEModule(ModelConfig(input_shape=SHAPE, hidden=(24, 16), latent_dim=3, likelihood=likelihood, **kw))


def _loss_and_grads(vae, x, config, epoch, weight, fast):
    """One training loss (KL schedule included) and the parameters' gradients after backward."""
    vae.zero_grad(set_to_none=True)
    terms = training_loss(vae, x, beta=config.beta, generator=torch.Generator().manual_seed(4),
                          regularizer=Regularizer(config), epoch=epoch, fast=fast)
    (terms.loss * weight).backward()
    return terms, [p.grad for p in vae.parameters()]


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_terms_and_gradients_equal_autograd(likelihood):
    vae = module(likelihood).double()
    if likelihood == "gaussian":  # some log-scales below the floor, where the gradient must be 0
        with torch.no_grad():
            vae.decoder.layers[-1].bias[30:] = MIN_LOG_SCALE + torch.linspace(-2, 2, 30, dtype=torch.float64)
    x = torch.rand(9, *SHAPE, dtype=torch.float64)
    config = TrainConfig(beta=2.5, kl_schedule="linear", kl_warmup=2.0)  # the loss's KL weight: 2.5 * 0.3
    fast = fast_elbo(vae, config, SINGLE_PROCESS)
    assert fast is not None
    expected, autograd = _loss_and_grads(vae, x, config, 0.6, 0.75, None)
    got, grads = _loss_and_grads(vae, x, config, 0.6, 0.75, fast)
    assert got.loss.requires_grad and not got.recon.requires_grad
    for name in ("loss", "recon", "kl", "bound"):
        torch.testing.assert_close(getattr(got, name), getattr(expected, name), rtol=1e-12, atol=1e-12)
    for (name, _), grad, auto in zip(vae.named_parameters(), grads, autograd, strict=True):
        assert auto.abs().max() > 0, name
        torch.testing.assert_close(grad, auto, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("frozen", ["encoder", "decoder"])
def test_frozen_layers_get_no_gradient_and_the_rest_autograds(frozen):
    vae = module().double()
    getattr(vae, frozen).requires_grad_(False)
    x = torch.rand(9, *SHAPE, dtype=torch.float64)
    config = TrainConfig()
    fast = fast_elbo(vae, config, SINGLE_PROCESS)
    assert fast is not None
    _, autograd = _loss_and_grads(vae, x, config, 0.0, 1.0, None)
    _, grads = _loss_and_grads(vae, x, config, 0.0, 1.0, fast)
    for (name, param), grad, auto in zip(vae.named_parameters(), grads, autograd, strict=True):
        assert (grad is None) == (auto is None) == (not param.requires_grad), name
        if grad is not None:
            torch.testing.assert_close(grad, auto, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("model, train, world", [
    ({"arch": "conv", "channels": (4,)}, {}, SINGLE_PROCESS),
    ({"likelihood": "logistic"}, {}, SINGLE_PROCESS),
    ({"prior": "vamp"}, {}, SINGLE_PROCESS),
    ({"ladder": (2,)}, {}, SINGLE_PROCESS),
    ({"arch": "hierarchical", "res_width": 4}, {}, SINGLE_PROCESS),
    ({"mask_input": True}, {}, SINGLE_PROCESS),
    ({}, {"iw_samples": 5}, SINGLE_PROCESS),
    ({}, {"grad_estimator": "stl"}, SINGLE_PROCESS),
    ({}, {"free_bits": 0.5}, SINGLE_PROCESS),
    ({}, {"tc_beta": 4.0}, SINGLE_PROCESS),
    ({}, {"capacity": 5.0, "capacity_epochs": 2.0}, SINGLE_PROCESS),
    ({}, {"compile": True}, SINGLE_PROCESS),
    ({}, {}, World(rank=0, size=2)),
])
def test_everything_else_takes_the_autograd_path(model, train, world):
    assert fast_elbo(module(**model), TrainConfig(**train), world) is None


def test_bf16_runs_the_products_in_bfloat16_like_autocast():
    """precision="bf16": the same loss and gradients as autograd under autocast, to bfloat16's precision."""
    vae = module()
    x = torch.rand(64, *SHAPE)
    config = TrainConfig(precision="bf16")
    fast = fast_elbo(vae, config, SINGLE_PROCESS)
    assert fast is not None and fast.dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, autograd = _loss_and_grads(vae, x, config, 0.0, 1.0, None)
    got, grads = _loss_and_grads(vae, x, config, 0.0, 1.0, fast)
    _, full = _loss_and_grads(vae, x, TrainConfig(), 0.0, 1.0, None)
    torch.testing.assert_close(got.loss, expected.loss, rtol=2e-2, atol=0)
    for (name, param), grad, auto, exact in zip(vae.named_parameters(), grads, autograd, full, strict=True):
        assert grad.dtype == param.dtype == torch.float32, name
        scale = exact.abs().max()
        assert (grad - auto).abs().max() < 0.05 * scale, name  # both are bf16 roundings of ...
        assert (grad - exact).abs().max() < 0.05 * scale, name  # ... the full-precision gradient
        assert not torch.equal(grad, exact), name  # and the products really ran in bfloat16


@dataclasses.dataclass
class TrainConfigWithANewSetting(TrainConfig):
    """A setting added after the fast step was written: nobody derived its gradient."""

    new_setting: float = 0.0


@dataclasses.dataclass
class ModelConfigWithANewSetting(ModelConfig):
    new_setting: float = 0.0


def test_a_setting_the_fast_step_does_not_declare_takes_autograd():
    vae = module()
    assert supports(vae.config, TrainConfig())
    assert not supports(vae.config, TrainConfigWithANewSetting())
    assert fast_elbo(vae, TrainConfigWithANewSetting(), SINGLE_PROCESS) is None
    assert Trainer(vae, TrainConfigWithANewSetting(), quiet=True).fast is None
    assert not supports(ModelConfigWithANewSetting(input_shape=SHAPE), TrainConfig())


def test_declarations_name_real_settings():
    """A renamed setting must not leave a stale declaration behind (the new name would fall to autograd)."""
    assert set(MODEL_SETTINGS) | MODEL_NEUTRAL <= {f.name for f in dataclasses.fields(ModelConfig)}
    assert set(TRAIN_SETTINGS) | TRAIN_NEUTRAL <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert not set(MODEL_SETTINGS) & MODEL_NEUTRAL and not set(TRAIN_SETTINGS) & TRAIN_NEUTRAL


def test_trainer_on_the_fast_path_follows_the_autograd_trainer():
    """A few epochs with a KL warm-up: both paths end at the same weights (float32 rounding apart)."""
    x = torch.rand(200, *SHAPE)
    config = TrainConfig(epochs=3, batch_size=32, kl_schedule="linear", kl_warmup=2.0, beta=1.5, val_fraction=0.0)
    results = []
    for fast in (True, False):
        vae = module()
        trainer = Trainer(vae, config, quiet=True)
        assert trainer.fast is not None
        if not fast:
            trainer.fast = None
        history = trainer.fit(x).history
        results.append((vae.state_dict(), [row["train_loss"] for row in history]))
    (fast_weights, fast_losses), (auto_weights, auto_losses) = results
    assert fast_losses == pytest.approx(auto_losses, rel=1e-4)
    for name, value in fast_weights.items():
        torch.testing.assert_close(value, auto_weights[name], rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize("train", [
    {}, {"beta": 4.0}, {"beta": 2.0, "tc_beta": 2.0}, {"kl_schedule": "cyclical", "kl_warmup": 1.0},
    {"lr_schedule": "cosine"}, {"binarize": "dynamic"},
])
def test_plain_objectives_take_the_fast_step(train):
    """beta, its schedules and a neutral tc_beta only rescale the analytic KL: the fast step covers them."""
    assert fast_elbo(module(), TrainConfig(**train), SINGLE_PROCESS) is not None
