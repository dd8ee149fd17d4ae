"""Lossy compression of the models beyond the flat VAE: ladders and the hierarchical conv VAE
(quantised top-down, each layer relative to its prior given the quantised layer above) and
logistic-mixture images (grey and coupled RGB): files decode to the encoder's reconstruction,
follow the float model, grow and sharpen with quality, and come out byte-identical on any
thread count."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

import vaekit
from vaekit.compression import compress, decompress, reconstruction
from vaekit.compression.codec import _exact_vae, _fixed_input, _lossy_codec
from vaekit.compression.entropy_models import decoder_mean
from vaekit.compression.fixedpoint import ONE
from vaekit.compression.lossy import step_for_quality
from vaekit.errors import ConfigError
from vaekit.model.logistic_mixture import LogisticMixture

TINY = {"latent_dim": 4, "epochs": 3, "batch_size": 64, "seed": 0}
DIGITS = load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16
LEVELS = DIGITS * 15
# colour images whose channels differ: a digit, its mirror image and their mean
COLOUR = np.stack([LEVELS, LEVELS[:, :, ::-1], (LEVELS // 2 + LEVELS[:, :, ::-1] // 2)], 1)[:400]
CONV = {"model": "conv", "channels": (4, 8), "hidden": (32,)}


@pytest.fixture(scope="module")
def models():
    return {
        "ladder": (vaekit.VAE(likelihood="logistic", hidden=(32,), ladder=(3, 2), **TINY).fit(LEVELS), LEVELS),
        "conv ladder": (vaekit.VAE(likelihood="logistic", ladder=(2,), **CONV, **TINY).fit(LEVELS[:, None]),
                        LEVELS[:, None]),
        "mixture": (vaekit.VAE(likelihood="logistic_mixture", mixture_components=3, **CONV, **{**TINY, "epochs": 15})
                    .fit(LEVELS[:, None]), LEVELS[:, None]),
        "rgb mixture": (vaekit.VAE(likelihood="logistic_mixture", mixture_components=3, **CONV, **TINY)
                        .fit(COLOUR), COLOUR),
        "hierarchical": (vaekit.VAE(model="hierarchical", latent_groups=2, latent_channels=2, res_width=8,
                                    res_stages=2, likelihood="logistic_mixture", mixture_components=3,
                                    **{**TINY, "epochs": 1}).fit(LEVELS[:300, None]), LEVELS[:, None]),
    }


@pytest.mark.parametrize("channels", [1, 3])
def test_exact_mixture_mean_is_the_float_mixture_mean(channels):
    mixture = LogisticMixture(components=4, channels=channels)
    params = torch.randn(5, mixture.n_params, channels, 3, 2, generator=torch.Generator().manual_seed(0)).double()
    fixed = torch.round(params * ONE)
    expected = mixture.mean(fixed / ONE).numpy()
    assert np.abs(decoder_mean("logistic_mixture", fixed) - expected).max() < 1e-4


@pytest.mark.parametrize("name", ["ladder", "conv ladder", "mixture", "rgb mixture", "hierarchical"])
@pytest.mark.parametrize("quality", [1, 60, 100])
def test_lossy_round_trip_is_the_encoders_reconstruction(models, name, quality):
    vae, x = models[name]
    x = x[:50]
    out = decompress(vae, compress(vae, x, mode="lossy", quality=quality, chunk_size=32)).array
    assert out.dtype == x.dtype and out.shape == x.shape
    assert np.array_equal(out, reconstruction(vae, x, quality=quality))


@pytest.mark.parametrize("name", ["ladder", "conv ladder", "hierarchical"])
def test_ladder_codes_follow_the_float_posterior_mean_path(models, name):
    """At the finest step the quantised top-down walk lands on the float model's mean path."""
    vae, x = models[name]
    codec = _lossy_codec(vae, _exact_vae(vae), step_for_quality(100))
    fixed = _fixed_input(vae, x[:40])
    quantised = codec.latents(codec.quantize(fixed)).numpy() / ONE
    with torch.no_grad():
        means = vae.module_.encode(fixed.float() / ONE)[0].double().numpy()
    assert np.abs(quantised - means).max() < 0.05


@pytest.mark.parametrize("name", ["ladder", "mixture"])
def test_higher_quality_costs_more_and_distorts_less(models, name):
    vae, x = models[name]
    x = x[:200]
    sizes, errors = [], []
    for quality in (1, 40, 100):
        blob = compress(vae, x, mode="lossy", quality=quality)
        sizes.append(len(blob))
        errors.append(np.mean((decompress(vae, blob).array.astype(np.float64) - x) ** 2))
    assert sizes[0] < sizes[1] < sizes[2]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("name", ["ladder", "rgb mixture"])
def test_lossy_files_are_identical_whatever_the_thread_count(models, name):
    vae, x = models[name]
    threads = torch.get_num_threads()
    files, decoded = {}, {}
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            files[count] = compress(vae, x[:300], mode="lossy", quality=70)
            decoded[count] = decompress(vae, files[1]).array
    finally:
        torch.set_num_threads(threads)
    assert files[1] == files[2]
    assert decoded[1].tobytes() == decoded[2].tobytes()


def test_a_likelihood_without_an_exact_mean_is_refused(models):
    table = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    columns = {"a": table[:, 0], "b": table[:, 1], "c": (table[:, 2] > 0).astype(np.int64)}
    vae = vaekit.VAE(likelihood="mixed", hidden=(8,), **TINY).fit(pd.DataFrame(columns))
    with pytest.raises(ConfigError, match="this model's is mixed"):
        compress(vae, pd.DataFrame(columns), mode="lossy")
