"""Encoders and decoders fit any input shape and mirror each other."""

import pytest
import torch

from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.module import VAEModule


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 17, 13), (1, 28, 28), (2, 5, 64)])
@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic", "categorical"])
def test_conv_round_trips_any_image_size(shape, likelihood):
    module = VAEModule(ModelConfig(input_shape=shape, arch="conv", channels=(8, 16) if min(shape[1:]) >= 4 else (8,),
                                   hidden=(32,), latent_dim=3, likelihood=likelihood))
    x = torch.rand(4, *shape)
    mu, logvar = module.encode(x)
    assert mu.shape == logvar.shape == (4, 3)
    params = module.decode(mu)
    assert params.shape == (4, module.likelihood.n_params, *shape)
    assert module.likelihood.log_prob(params, x).shape == (4,)


def test_mlp_handles_tables_and_images():
    for shape in [(13,), (1, 8, 8)]:
        module = VAEModule(ModelConfig(input_shape=shape, hidden=(16, 8), latent_dim=2, likelihood="gaussian"))
        assert module.decode(torch.zeros(5, 2)).shape == (5, 2, *shape)


def test_mask_input_doubles_the_encoder_input():
    module = VAEModule(ModelConfig(input_shape=(6,), hidden=(8,), latent_dim=2, likelihood="gaussian",
                                   mask_input=True))
    x = torch.randn(3, 6)
    mask = torch.ones(3, 6)
    mask[:, 0] = 0
    changed = x.clone()
    changed[:, 0] = 100.0  # a missing entry's value must not matter
    torch.testing.assert_close(module.encode(x, mask)[0], module.encode(changed, mask)[0])


def test_too_small_images_are_refused():
    with pytest.raises(ConfigError, match="too small"):
        VAEModule(ModelConfig(input_shape=(1, 3, 3), arch="conv", channels=(8, 8)))


def test_conv_needs_images():
    with pytest.raises(ConfigError, match="mlp"):
        ModelConfig(input_shape=(10,), arch="conv")
