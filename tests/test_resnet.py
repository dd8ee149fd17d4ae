"""The resnet model: any image size (odd ones restored exactly) and channel count, the same function in
training and evaluation, a fit that learns, exact save/load, and a clear refusal from compression."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.build import build_module
from vaekit.model.resnet import stage_sizes

DIGITS = (load_digits().images[:, None] * 15).astype(np.uint8)  # (1797, 1, 8, 8) 8-bit levels


def resnet(input_shape, **kwargs) -> ModelConfig:
    return ModelConfig(input_shape=input_shape, arch="resnet", latent_dim=5,
                       **{"res_width": 8, "res_blocks": 1, "res_stages": 2, **kwargs})


@pytest.mark.parametrize("shape", [(1, 7, 9), (1, 28, 28), (3, 32, 32), (3, 17, 13)])
@pytest.mark.parametrize("likelihood", ["logistic", "logistic_mixture"])
def test_shapes_for_any_size_and_channel_count(shape, likelihood):
    module = build_module(resnet(shape, likelihood=likelihood, mixture_components=3, mask_input=True))
    x = torch.rand(2, *shape)
    mu, logvar = module.encode(x, torch.ones_like(x))
    assert mu.shape == logvar.shape == (2, 5)
    params = module.decode(mu)
    assert params.shape == (2, module.likelihood.n_params, *shape)
    assert module.reconstruct(x).shape == (2, *shape)
    assert torch.isfinite(module.likelihood.log_prob(params, x)).all()


def test_odd_sizes_round_up_and_never_vanish():
    assert stage_sizes(7, 9, 3) == [(7, 9), (4, 5), (2, 3), (1, 2)]
    assert stage_sizes(1, 2, 2) == [(1, 2), (1, 1), (1, 1)]
    module = build_module(resnet((1, 1, 2), res_stages=3))
    assert module.decode(torch.zeros(1, 5)).shape == (1, 1, 1, 1, 2)


def test_training_and_evaluation_compute_the_same_function():
    """GroupNorm, not BatchNorm: no running statistics, and an example's output ignores the rest of its batch."""
    torch.manual_seed(0)
    module = build_module(resnet((3, 17, 13), likelihood="logistic"))
    x, z = torch.rand(6, 3, 17, 13), torch.randn(6, 5)
    with torch.no_grad():
        module.train()
        trained = module.encoder(x), module.decoder(z)
        module.eval()
        evaluated = module.encoder(x), module.decoder(z)
        alone = module.encoder(x[:1]), module.decoder(z[:1])
    for a, b, one in zip(trained, evaluated, alone, strict=True):
        assert torch.equal(a, b)
        assert torch.allclose(a[:1], one, atol=1e-6)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


def test_config_checks():
    with pytest.raises(ConfigError, match="res_blocks must be at least 1"):
        resnet((1, 8, 8), res_blocks=0)
    with pytest.raises(ConfigError, match="model=.resnet. needs images"):
        ModelConfig(input_shape=(10,), arch="resnet")
    with pytest.raises(ConfigError, match="ladder"):
        resnet((1, 8, 8), ladder=(2,))


TINY = {"model": "resnet", "res_width": 8, "res_blocks": 1, "res_stages": 2, "latent_dim": 4,
        "likelihood": "logistic", "batch_size": 64, "seed": 0, "val_fraction": 0.0}


@pytest.fixture(scope="module")
def fitted():
    return vaekit.VAE(epochs=4, **TINY).fit(DIGITS[:600])


def test_a_short_fit_lowers_the_loss(fitted):
    losses = [row["train_loss"] for row in fitted.history_]
    assert losses[-1] < 0.95 * losses[0]


def test_save_and_load_give_identical_outputs(fitted, tmp_path):
    fitted.save(tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run", device="cpu")
    assert loaded.config_.model.arch == "resnet"
    np.testing.assert_array_equal(loaded.transform(DIGITS[:20]), fitted.transform(DIGITS[:20]))
    codes = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.inverse_transform(codes), fitted.inverse_transform(codes))
