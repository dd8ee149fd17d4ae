"""The discretized logistic mixture (``logistic_mixture``): a normalised probability over the 256 values of a
grey pixel and the 256**3 of an RGB one, equal to a slow textbook formula, exact under masks, stable in the
extremes, sampled as it scores, and usable end to end (bits/dim, the CLI, a clear refusal from compression)."""

import json
import math

import mpmath
import numpy as np
import pytest
import scipy.stats
import torch

import vaekit
from vaekit.cli import main
from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.likelihoods import make_likelihood
from vaekit.model.logistic_mixture import LogisticMixture

LEVELS = torch.arange(256, dtype=torch.float64)


def random_params(lik: LogisticMixture, n_pixels: int = 1, seed: int = 0, spread: float = 1.0) -> torch.Tensor:
    """Decoder output for one image of ``n_pixels`` pixels in a row: varied logits, locations around [0, 1],
    log-scales from sharp to broad, coupling coefficients of both signs."""
    gen = torch.Generator().manual_seed(seed)
    k, c = lik.components, lik.channels
    p = torch.randn(1, 3 + lik.coupling_slots, k, c, 1, n_pixels, generator=gen, dtype=torch.float64)
    p[:, 1] = 0.5 + spread * 0.4 * p[:, 1]  # locations
    p[:, 2] = -3.5 + spread * 1.5 * p[:, 2]  # log-scales, from about -7 to 0
    p[:, 3:] *= 2  # coupling pre-activations
    return p.reshape(1, lik.n_params, c, 1, n_pixels)


def pixel_rows(params: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One pixel's parameters repeated for every row of level ``values`` ``[n, C]``: a batch of 1x1 images."""
    n = values.shape[0]
    return params[..., :1].expand(n, -1, -1, -1, -1), (values / 255).view(n, -1, 1, 1)


def rg_marginal(lik: LogisticMixture, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (r, g) pair ``[65536, 2]`` and its probability p(r, g) (blue left out by the mask)."""
    grid = torch.cartesian_prod(LEVELS, LEVELS)
    rows = torch.cat([grid, torch.zeros(len(grid), 1)], 1)
    only_rg = torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1).expand(len(grid), -1, -1, -1)
    return grid, lik.log_prob(*pixel_rows(params, rows), mask=only_rg).exp()


def textbook_log_prob(params: torch.Tensor, levels: tuple[int, ...], k: int) -> float:
    """log p of one pixel from the PixelCNN++ formula written out channel by channel: plain CDF
    differences, in 60-digit arithmetic so that tiny bins lose nothing."""
    c = len(levels)
    slots = c // 2
    p = params.view(3 + slots, k, c).double()
    with mpmath.workdps(60):

        def cdf(t: float, loc: mpmath.mpf, log_scale: float) -> mpmath.mpf:
            return 1 / (1 + mpmath.exp(-(t - loc) / mpmath.exp(log_scale)))

        logits = [mpmath.mpf(float(v)) for v in p[0].sum(1)]
        norm = mpmath.fsum(mpmath.exp(v) for v in logits)
        total = mpmath.mpf(0)
        for j in range(k):
            coeffs = [mpmath.tanh(float(v)) for v in p[3:, j].reshape(-1)]
            r, g = (mpmath.mpf(v) / 255 for v in levels[:2]) if c == 3 else (0, 0)
            locs = [mpmath.mpf(float(p[1, j, 0]))]
            if c == 3:  # G on R; B on R and G
                locs += [float(p[1, j, 1]) + coeffs[0] * r, float(p[1, j, 2]) + coeffs[1] * r + coeffs[2] * g]
            prob = mpmath.exp(logits[j]) / norm
            for ch, v in enumerate(levels):
                loc, log_scale = locs[ch], max(float(p[2, j, ch]), -7.0)
                upper = 1 if v == 255 else cdf(mpmath.mpf(v) / 255 + mpmath.mpf(1) / 510, loc, log_scale)
                lower = 0 if v == 0 else cdf(mpmath.mpf(v) / 255 - mpmath.mpf(1) / 510, loc, log_scale)
                prob *= upper - lower
            total += prob
        return float(mpmath.log(total))


@pytest.mark.parametrize("seed", range(4))
def test_a_grey_pixel_has_probabilities_summing_to_one(seed):
    lik = LogisticMixture(components=5, channels=1)
    params = random_params(lik, seed=seed, spread=2.0)
    total = lik.log_prob(*pixel_rows(params, LEVELS[:, None])).exp().sum()
    assert abs(float(total) - 1) < 1e-5


def test_an_rgb_pixel_has_probabilities_summing_to_one():
    """p(r, g, b) = p(r) p(g|r) p(b|r, g): the masses of r sum to one, and for any r (and any r, g) the
    masses of the remaining channels sum to the marginal, which a mask of the trailing channels gives."""
    lik = LogisticMixture(components=4, channels=3)
    params = random_params(lik, seed=1)
    grid = torch.cartesian_prod(LEVELS, LEVELS)
    only_r = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    only_rg = torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1)
    rows = torch.stack([LEVELS, torch.zeros(256), torch.zeros(256)], 1)
    p_r = lik.log_prob(*pixel_rows(params, rows), mask=only_r.expand(256, -1, -1, -1)).exp()
    assert abs(float(p_r.sum()) - 1) < 1e-6
    for r in (0, 3, 128, 200, 255):
        rows = torch.cat([torch.full((len(grid), 1), float(r)), grid], 1)
        assert float(lik.log_prob(*pixel_rows(params, rows)).exp().sum()) == pytest.approx(float(p_r[r]), rel=1e-6)
    for r, g in ((0, 255), (17, 90), (255, 0)):
        rows = torch.stack([torch.full((256,), float(r)), torch.full((256,), float(g)), LEVELS], 1)
        joint = lik.log_prob(*pixel_rows(params, rows)).exp().sum()
        marginal = lik.log_prob(*pixel_rows(params, rows[:1]), mask=only_rg).exp()
        assert float(joint) == pytest.approx(float(marginal), rel=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_log_prob_matches_the_textbook_formula(channels):
    lik = LogisticMixture(components=3, channels=channels)
    params = random_params(lik, n_pixels=6, seed=channels)
    gen = np.random.default_rng(channels)
    levels = gen.integers(0, 256, (6, channels))
    levels[0], levels[1] = 0, 255  # the edge bins take the tails
    x = torch.from_numpy(levels.T.astype(np.float64)).view(1, channels, 1, 6) / 255
    per_pixel = lik.log_prob_pixels(params, x).reshape(6)
    for i in range(6):
        expected = textbook_log_prob(params[0, :, :, 0, i], tuple(int(v) for v in levels[i]), 3)
        assert float(per_pixel[i]) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert float(lik.log_prob(params, x)[0]) == pytest.approx(float(per_pixel.sum()))


def test_extreme_parameters_stay_finite_and_normalised():
    lik = LogisticMixture(components=3, channels=1)
    params = torch.zeros(1, 9, 1, 1, 1, dtype=torch.float32)
    params[0, 3:6, 0, 0, 0] = torch.tensor([40.0, -40.0, 0.5])  # locations far outside [0, 1]
    params[0, 6:9, 0, 0, 0] = torch.tensor([-30.0, 200.0, -7.0])  # below the floor, enormous, sharp
    batch, x = pixel_rows(params, LEVELS.float()[:, None])
    batch = batch.clone().requires_grad_(True)
    log_p = lik.log_prob(batch, x)
    assert torch.isfinite(log_p).all()
    assert abs(float(log_p.detach().double().exp().sum()) - 1) < 1e-5
    log_p.sum().backward()
    assert torch.isfinite(batch.grad).all()


def test_masked_entries_drop_out():
    lik = LogisticMixture(components=3, channels=3)
    params = random_params(lik, n_pixels=5, seed=3)
    x = torch.rand(1, 3, 1, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    full = torch.ones_like(x)
    assert torch.equal(lik.log_prob(params, x, full), lik.log_prob(params, x))
    mask = full.clone()
    mask[0, :, 0, 1] = 0  # a whole pixel missing: it scores nothing
    mask[0, 0, 0, 2] = 0  # red missing, green and blue observed
    per_pixel = lik.log_prob_pixels(params, x, mask)[0, 0]
    assert float(per_pixel[1]) == 0
    assert torch.allclose(per_pixel[[0, 3, 4]], lik.log_prob_pixels(params, x)[0, 0, [0, 3, 4]])
    scrambled = torch.where(mask > 0, x, torch.rand_like(x))
    assert torch.equal(lik.log_prob_pixels(params, scrambled, mask), per_pixel.view(1, 1, 5))
    # with red missing, the observed green and blue still get probabilities that sum to one
    grid = torch.cartesian_prod(LEVELS, LEVELS)
    rows = torch.cat([torch.zeros(len(grid), 1), grid], 1)
    pixel = params[..., 2:3]
    no_red = torch.tensor([0.0, 1.0, 1.0]).view(1, 3, 1, 1).expand(len(grid), -1, -1, -1)
    total = lik.log_prob(*pixel_rows(pixel, rows), mask=no_red).exp().sum()
    assert abs(float(total) - 1) < 1e-6


def test_sampling_at_temperature_one_follows_the_probabilities():
    lik = LogisticMixture(components=3, channels=1)
    params = random_params(lik, seed=5)
    probs = lik.log_prob(*pixel_rows(params, LEVELS[:, None])).exp().numpy()
    n = 20000
    draws = lik.sample(params[..., :1].expand(n, -1, -1, -1, -1), torch.Generator().manual_seed(0))
    counts = np.bincount(np.rint(draws.numpy().ravel() * 255).astype(int), minlength=256)
    # 20 groups of consecutive levels with about equal mass, so every expected count is large
    edges = np.searchsorted(np.cumsum(probs), np.linspace(0, 1, 21)[1:-1])
    observed = np.add.reduceat(counts, np.r_[0, edges])
    expected = np.add.reduceat(probs, np.r_[0, edges]) * n
    expected *= observed.sum() / expected.sum()
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3


def test_rgb_samples_carry_the_coupling():
    """Channel means and E[R G] of many draws match the exact values from the probabilities."""
    lik = LogisticMixture(components=2, channels=3)
    params = random_params(lik, seed=6)
    view = params.view(4, 2, 3)
    view[3] = 1.0  # coupling coefficients tanh(1) = 0.76
    view[1, :, 1:] = -0.1  # green and blue centred on the coupled part
    grid, p_rg = rg_marginal(lik, params)
    r, g = grid[:, 0], grid[:, 1]
    exact = {"r": (p_rg * r).sum(), "g": (p_rg * g).sum(), "rg": (p_rg * r * g).sum()}
    n = 20000
    draws = lik.sample(params.expand(n, -1, -1, -1, -1), torch.Generator().manual_seed(1)).view(n, 3) * 255
    drawn = {"r": draws[:, 0], "g": draws[:, 1], "rg": draws[:, 0] * draws[:, 1]}
    for key, values in drawn.items():
        assert abs(float(values.mean() - exact[key])) < 5 * float(values.std()) / math.sqrt(n), key


def test_temperature_sharpens_and_zero_gives_the_mode_component_location():
    lik = LogisticMixture(components=3, channels=1)
    params = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.5, 0.8], [-4.0, -4.0, -4.0]], dtype=torch.float64)
    params = params.view(1, 9, 1, 1, 1)
    batch = params.expand(4000, -1, -1, -1, -1)
    draws = {t: lik.sample(batch, torch.Generator().manual_seed(2), temperature=t) for t in (1.0, 0.3)}
    assert float((draws[0.3] < 0.35).double().mean()) > float((draws[1.0] < 0.35).double().mean()) + 0.2
    assert float(draws[0.3].std()) < float(draws[1.0].std())
    assert torch.equal(lik.sample(params, temperature=0), torch.full((1, 1, 1, 1), 51 / 255, dtype=torch.float64))
    with pytest.raises(ConfigError, match="temperature"):
        lik.sample(params, temperature=-1)


def test_mean_is_the_mixture_of_coupled_component_means():
    lik = LogisticMixture(components=2, channels=3)
    params = random_params(lik, seed=8, spread=0.5)
    view = params.view(4, 2, 3)
    view[2] = -6.0  # sharp components: the expected value is close to the locations
    view[1] = view[1].clamp(0.25, 0.55)
    mean = lik.mean(params).view(3)
    grid, p_rg = rg_marginal(lik, params)
    assert float(mean[0]) == pytest.approx(float((p_rg * grid[:, 0]).sum() / 255), abs=2e-3)
    assert float(mean[1]) == pytest.approx(float((p_rg * grid[:, 1]).sum() / 255), abs=2e-3)


def test_parameter_count_and_config():
    config = ModelConfig(input_shape=(3, 8, 8), likelihood="logistic_mixture", mixture_components=5)
    assert make_likelihood("logistic_mixture", config).n_params == 20  # logits, locations, scales, coupling
    grey = ModelConfig(input_shape=(1, 8, 8), likelihood="logistic_mixture", mixture_components=5)
    assert make_likelihood("logistic_mixture", grey).n_params == 15
    with pytest.raises(ConfigError, match="mixture_components"):
        ModelConfig(input_shape=(1, 8, 8), likelihood="logistic_mixture", mixture_components=0)
    with pytest.raises(ConfigError, match="needs images"):
        ModelConfig(input_shape=(10,), likelihood="logistic_mixture")


RGB = np.random.default_rng(0).integers(0, 256, (120, 3, 5, 7)).astype(np.uint8)
TINY = {"hidden": (16,), "latent_dim": 3, "epochs": 2, "batch_size": 32, "seed": 0}


@pytest.fixture(scope="module")
def rgb_vae():
    return vaekit.VAE(likelihood="logistic_mixture", mixture_components=3, **TINY).fit(RGB)


def test_bits_per_dim_through_the_estimator(rgb_vae):
    result = rgb_vae.evaluate(RGB[:20], iw_samples=4)
    assert result["bits_per_dim"] == pytest.approx(result["nll"] / (3 * 5 * 7 * math.log(2)))
    assert math.isfinite(result["bits_per_dim"]) and result["bits_per_dim"] > 0
    assert rgb_vae.reconstruct(RGB[:2]).shape == (2, 3, 5, 7)
    assert rgb_vae.sample(3).shape == (3, 3, 5, 7)


def test_cli_trains_a_resnet_with_the_mixture(tmp_path):
    np.save(tmp_path / "rgb.npy", RGB[:60])
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "rgb.npy"), "--out", str(out), "--model", "resnet", "--likelihood",
                 "logistic_mixture", "--mixture-components", "2", "--res-width", "4", "--res-blocks", "1",
                 "--res-stages", "1", "--latent-dim", "3", "--epochs", "1", "--quiet"]) == 0
    model = json.loads((out / "config.json").read_text())["model"]
    assert (model["arch"], model["likelihood"], model["mixture_components"]) == ("resnet", "logistic_mixture", 2)
    assert (model["res_width"], model["res_blocks"], model["res_stages"]) == (4, 1, 1)
