"""Lossless compression of the resnet and hierarchical conv VAEs: exact GroupNorm and SiLU follow the float
layers, the exact networks follow the float models, the logistic-mixture code gives the model's probabilities,
files round-trip bit for bit (odd image sizes too) with the same bytes on any thread count, and colour mixtures
are refused clearly."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import vaekit
from vaekit.compression import compress, decompress, reconstruction
from vaekit.compression.entropy_models import discrete_code
from vaekit.compression.exact_network import ExactLadder, ExactNetwork, ExactVAE
from vaekit.compression.fixedpoint import ONE
from vaekit.errors import ConfigError

LEVELS = load_digits().images.astype(np.uint8)[:, None] * 15  # (1797, 1, 8, 8), 8-bit
ODD = np.pad(LEVELS[:, :, 1:, :], ((0, 0), (0, 0), (0, 0), (0, 1)))  # 7x9 images
RESNET = {"res_width": 8, "res_blocks": 1, "res_stages": 2, "latent_dim": 4, "epochs": 1, "batch_size": 64}
HIERARCHICAL = {"model": "hierarchical", "latent_groups": 2, "latent_channels": 2, "likelihood": "logistic_mixture",
                "mixture_components": 3, **RESNET}


@pytest.fixture(scope="module")
def models():
    return {
        "resnet": vaekit.VAE(model="resnet", likelihood="logistic", seed=0, **RESNET).fit(LEVELS[:300]),
        "hierarchical": vaekit.VAE(seed=0, **HIERARCHICAL).fit(LEVELS[:300]),
        "odd": vaekit.VAE(seed=0, **HIERARCHICAL).fit(ODD[:300]),
    }


def _fixed(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.double() * ONE)


def test_exact_group_norm_and_silu_follow_the_float_layers_for_any_batch():
    torch.manual_seed(0)
    norm = nn.GroupNorm(4, 8)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(5, 8, 7, 9) * 3 + 1
    x[1] *= 0.05  # a small spread: the variance keeps its precision
    x[2, :, 0, 0] = 3000  # an outlier: the deviations are shifted so their sum of squares stays in int64
    layers = nn.Sequential(norm, nn.SiLU())
    net = ExactNetwork(layers)
    out = net(_fixed(x))
    with torch.no_grad():
        expected = layers(x).double()
    assert torch.allclose(out / ONE, expected, atol=5e-4)
    assert torch.equal(net(_fixed(x[1:2])), out[1:2])  # each example alone: the same integers
    t = torch.linspace(-40, 40, 1001)
    silu = ExactNetwork(nn.SiLU())(_fixed(t)) / ONE  # the table, and its exact tails beyond +-16
    assert torch.allclose(silu, nn.functional.silu(t).double(), atol=2e-5)


def test_exact_resnet_and_hierarchical_networks_follow_the_float_models(models):
    x = torch.from_numpy(LEVELS[:20] / np.float32(255))
    resnet = models["resnet"].module_
    net = ExactVAE(resnet)
    with torch.no_grad():
        mu, logvar = resnet.encode(x)
        exact_mu, exact_logvar = net.encode(_fixed(x))
        assert torch.allclose(exact_mu / ONE, mu.double(), atol=1e-3)
        assert torch.allclose(exact_logvar / ONE, logvar.double(), atol=1e-3)
        assert torch.allclose(net.decode(_fixed(mu)) / ONE, resnet.decoder(mu).double(), atol=2e-3)
        hierarchical = models["hierarchical"].module_
        ladder = ExactLadder(hierarchical)
        for (m, v), (mf, vf) in zip(ladder.evidence(_fixed(x)), hierarchical._evidence(x, None), strict=True):
            assert torch.allclose(m / ONE, mf.double(), atol=2e-3)
            assert torch.allclose(v / ONE, vf.double(), atol=2e-3)
        codes, _, _ = hierarchical._top_down(x, None, None)
        prior, prior_float = ladder.conditional(0, _fixed(codes[1])), hierarchical.prior.conditional(0, codes[1])
        assert torch.allclose(prior[0] / ONE, prior_float[0].double(), atol=2e-3)
        params = ladder.decode(_fixed(codes[0]))
        assert torch.allclose(params / ONE, hierarchical.decoder(codes[0]).double(), atol=2e-3)
    assert torch.equal(ladder.decode(_fixed(codes[0])[3:5]), params[3:5])


def test_the_mixture_code_gives_the_models_probabilities(models):
    vae = models["hierarchical"]
    x = torch.from_numpy(LEVELS[:10] / np.float32(255))
    with torch.no_grad():
        codes, _, _ = vae.module_._top_down(x, None, None)
        params = vae.module_.decoder(codes[0])
        expected = vae.module_.likelihood.log_prob(params, x).double()
    code = discrete_code("logistic_mixture", 1, 3)
    cdf = code.cdf(_fixed(params))
    symbols = code.symbols(x.numpy()).ravel()
    edges = np.broadcast_to(np.arange(1, 256)[:, None], (255, cdf.n))
    below = np.vstack([np.zeros(cdf.n, np.int64), cdf.at(edges, *cdf.params), cdf.total])
    assert np.all(np.diff(below, axis=0) >= 0)
    mass = (below[symbols + 1, np.arange(cdf.n)] - below[symbols, np.arange(cdf.n)]) / cdf.total
    log_p = np.log(mass).reshape(10, -1).sum(1)
    assert np.allclose(log_p, expected.numpy(), rtol=1e-3)


@pytest.mark.parametrize(("model", "n"), [("resnet", 1), ("resnet", 30), ("hierarchical", 1), ("hierarchical", 30),
                                          ("odd", 17)])
def test_round_trip_is_bit_exact(models, model, n):
    x = (ODD if model == "odd" else LEVELS)[-n:]
    blob = compress(models[model], x, batch_size=8)
    assert decompress(models[model], blob).array.tobytes() == x.tobytes()


def test_files_are_identical_whatever_the_thread_count_and_batch_size_and_near_the_elbo(models):
    vae, x = models["hierarchical"], LEVELS[-40:]
    threads = torch.get_num_threads()
    files = {}
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            files[count] = {size: compress(vae, x, batch_size=size) for size in (4, 32)}
    finally:
        torch.set_num_threads(threads)
    assert files[1] == files[2]
    for blob in files[1].values():
        assert decompress(vae, blob).array.tobytes() == x.tobytes()
    elbo_bits = -np.mean([vae.score(x) for _ in range(3)]) * len(x) / np.log(2)
    # + the header and the seed, which borrows the first example's bits for all its layers
    assert 8 * len(files[1][32]) < 1.1 * elbo_bits + 8 * 400


def test_colour_mixtures_are_refused_clearly():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
    vae = vaekit.VAE(model="resnet", likelihood="logistic_mixture", mixture_components=2, seed=0,
                     **RESNET).fit(rgb)
    with pytest.raises(ConfigError, match="logistic_mixture likelihood on one-channel .grey. images only; this "
                                          "model's images have 3 channels"):
        compress(vae, rgb[:2])


@pytest.mark.parametrize("name", ["resnet", "hierarchical"])
def test_lossy_mode_codes_the_resnet_and_the_hierarchy(models, name):
    x = LEVELS[-12:]
    decoded = decompress(models[name], compress(models[name], x, mode="lossy", quality=80)).array
    assert decoded.shape == x.shape and decoded.dtype == x.dtype
    assert np.array_equal(decoded, reconstruction(models[name], x, quality=80))
    assert np.abs(decoded.astype(float) - x).mean() < np.abs(x - x.mean()).mean()  # a reconstruction, not noise
