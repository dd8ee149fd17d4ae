"""The hierarchical conv VAE: any image size and channel count, the ladder's consistent top-down posterior,
free bits per layer, a fit that learns, exact save/load across processes, exact resume, and no fast step."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config.configs import ModelConfig, RunConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.io.runfolder import RunFolder
from vaekit.model.build import build_module
from vaekit.model.hierarchical import HierarchicalVAEModule, layer_sizes
from vaekit.pictures import run_pictures
from vaekit.pictures.run_pictures import LAYERED_TEMPERATURE, draw_run_pictures, picture_temperature
from vaekit.train.distributed import SINGLE_PROCESS
from vaekit.train.fast_step import fast_elbo
from vaekit.train.objectives import elbo_loss, importance_samples
from vaekit.train.regularizers import Regularizer
from vaekit.train.trainer import Trainer


def hierarchical(input_shape, **kwargs) -> HierarchicalVAEModule:
    torch.manual_seed(0)
    config = ModelConfig(input_shape=input_shape, arch="hierarchical", latent_dim=3,
                         **{"res_width": 4, "res_blocks": 1, "res_stages": 2, "latent_channels": 2, **kwargs})
    module = build_module(config)
    assert isinstance(module, HierarchicalVAEModule)
    return module


@pytest.mark.parametrize("shape", [(1, 27, 29), (3, 27, 29), (3, 8, 8), (1, 7, 9)])
@pytest.mark.parametrize("groups", [2, 3])
def test_shapes_for_any_size_channel_count_and_depth(shape, groups):
    module = hierarchical(shape, latent_groups=groups, likelihood="logistic_mixture", mixture_components=2,
                          mask_input=True)
    assert len(module.sizes) == groups and module.sizes[-1] == 3
    x = torch.rand(2, *shape)
    mu, logvar = module.encode(x, torch.ones_like(x))
    assert mu.shape == logvar.shape == (2, module.latent_dim)
    assert module.decode(mu).shape == (2, module.likelihood.n_params, *shape)
    assert module.reconstruct(x).shape == (2, *shape)
    z = module.prior.sample(4, generator=torch.Generator().manual_seed(1), temperature=0.7)
    assert z.shape == (4, module.latent_dim)
    samples = importance_samples(module, x, 3)
    assert samples.log_w.shape == (3, 2) and torch.isfinite(samples.log_w).all()


def test_layers_sit_at_falling_resolutions():
    # 27x29 -> 14x15 -> 7x8 -> 4x4: maps at 14x15, 7x8 and 4x4 under the 3-dimensional vector
    assert layer_sizes(hierarchical((3, 27, 29), latent_groups=4, res_stages=3).config) == (
        2 * 14 * 15, 2 * 7 * 8, 2 * 4 * 4, 3)


def test_a_few_steps_on_rgb_of_an_odd_size_lower_the_loss():
    module = hierarchical((3, 27, 29), likelihood="logistic")
    gen = torch.Generator().manual_seed(2)
    ramps = torch.linspace(0, 1, 27)[:, None] * torch.linspace(0, 1, 29) * torch.rand(8, 3, 1, 1, generator=gen)
    x = ramps.mul(255).round().div(255)  # smooth 8-bit images, one brightness per channel
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for step in range(15):
        terms = elbo_loss(module, x, generator=torch.Generator().manual_seed(step))
        optimiser.zero_grad()
        terms.loss.backward()
        optimiser.step()
        losses.append(float(terms.loss.detach()))
    assert losses[-1] < 0.9 * losses[0]


def test_codes_are_scored_by_the_prior_they_were_drawn_under():
    module = hierarchical((1, 8, 8), latent_groups=3)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        post = module.sample_posterior(x, k=3, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(post.log_p, module.prior.log_prob(post.z))
        torch.testing.assert_close(post.layer_log_ratios.sum(-1), post.log_q - post.log_p)
    assert post.layer_sizes == module.sizes


def test_free_bits_floor_each_layer_at_its_size():
    module = hierarchical((1, 8, 8))
    x = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        post = module.sample_posterior(x, generator=torch.Generator().manual_seed(4))
    kl_layers = post.layer_log_ratios[0].mean(0)
    sizes = torch.tensor(module.sizes, dtype=kl_layers.dtype)
    per_dim = kl_layers / sizes
    assert not torch.allclose(per_dim[0], per_dim[1])
    floor = float(per_dim.mean())  # one layer above its floor, one below
    terms = elbo_loss(module, x, generator=torch.Generator().manual_seed(4),
                      regularizer=Regularizer(TrainConfig(free_bits=floor)))
    expected = terms.recon.mean() + torch.maximum(kl_layers, floor * sizes).sum()
    torch.testing.assert_close(terms.loss.detach(), expected)
    # under a floor above every layer the KL sends no gradient: the loss's is the reconstruction's alone
    params = list(module.parameters())
    terms = elbo_loss(module, x, generator=torch.Generator().manual_seed(4),
                      regularizer=Regularizer(TrainConfig(free_bits=100.0)))
    floored = torch.autograd.grad(terms.loss, params, allow_unused=True, retain_graph=True)
    recon_only = torch.autograd.grad(terms.recon.mean(), params, allow_unused=True)
    for a, b in zip(floored, recon_only, strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    plain = elbo_loss(module, x, generator=torch.Generator().manual_seed(4))
    assert any(not torch.equal(a, b) for a, b in zip(torch.autograd.grad(plain.loss, params), recon_only,
                                                     strict=True) if b is not None)


def test_config_checks():
    with pytest.raises(ConfigError, match="latent_groups=4 needs res_stages >= 3"):
        hierarchical((1, 8, 8), latent_groups=4)
    with pytest.raises(ConfigError, match="needs images"):
        ModelConfig(input_shape=(10,), arch="hierarchical")
    with pytest.raises(ConfigError, match="ladder grows"):
        hierarchical((1, 8, 8), ladder=(2,))
    with pytest.raises(ConfigError, match="model brings its own hierarchical p.z."):
        hierarchical((1, 8, 8), prior="vamp")
    model = ModelConfig(input_shape=(1, 8, 8), arch="hierarchical")
    with pytest.raises(ConfigError, match="tc_beta needs one stochastic layer"):
        RunConfig(model, TrainConfig(tc_beta=3.0))
    assert RunConfig(model, TrainConfig(free_bits=0.1)).train.free_bits == 0.1


def test_the_fast_mlp_step_declines_it():
    module = hierarchical((1, 8, 8))
    assert fast_elbo(module, TrainConfig(), SINGLE_PROCESS) is None
    assert Trainer(module, TrainConfig(), quiet=True).fast is None


TINY = {"model": "hierarchical", "res_width": 4, "res_blocks": 1, "res_stages": 2, "latent_dim": 3,
        "latent_channels": 2, "likelihood": "logistic", "batch_size": 64, "seed": 0, "val_fraction": 0.2,
        "kl_schedule": "linear", "kl_warmup": 3.0, "free_bits": 0.01, "patience": 100, "lr": 1e-2}


@pytest.fixture(scope="module")
def images(digits_npy):
    return np.load(digits_npy)[:320]


@pytest.fixture(scope="module")
def fitted(images, tmp_path_factory):
    run = tmp_path_factory.mktemp("hier") / "run"
    return vaekit.VAE(epochs=4, **TINY).fit(images, run_dir=run), run


def test_a_short_fit_lowers_the_loss(fitted):
    losses = [row["train_loss"] for row in fitted[0].history_]
    assert losses[-1] < 0.95 * losses[0]


def test_a_new_process_loads_the_run_and_evaluates_to_the_same_numbers(fitted, images, tmp_path):
    vae, run = fitted
    np.save(tmp_path / "test.npy", images[:40])
    here = vae.evaluate(images[:40], iw_samples=8)
    out = subprocess.run([sys.executable, "-m", "vaekit", "evaluate", str(run), str(tmp_path / "test.npy"),
                          "--iw-samples", "8", "--json"], capture_output=True, text=True, check=True).stdout
    there = json.loads(out)
    assert there["kl_per_dim"] is None and len(there["kl_per_layer"]) == 2
    for key in ("elbo", "nll", "bits_per_dim", "kl", "recon_mse"):
        assert there[key] == pytest.approx(here[key], rel=1e-6, abs=1e-6), key
    assert there["kl_per_layer"] == pytest.approx(here["kl_per_layer"], rel=1e-6, abs=1e-6)
    assert there["nll"] <= -there["elbo"] + 0.5  # the importance-weighted bound is the tighter one


def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(fitted, images, tmp_path):
    straight, _ = fitted

    def interrupt(row):
        if row["epoch"] == 2:  # inside the KL warm-up
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vaekit.VAE(epochs=4, **TINY).fit(images, run_dir=tmp_path / "cut", callbacks=[interrupt])
    config = RunFolder(tmp_path / "cut").read_config()
    resumed = vaekit.VAE.from_config(config).fit(images, run_dir=tmp_path / "cut", resume=True)
    a, b = straight.module_.state_dict(), resumed.module_.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = RunFolder(tmp_path / "cut").read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [r["val_elbo"] for r in rows] == [r["val_elbo"] for r in straight.history_]


def test_run_pictures_sample_below_temperature_one_and_say_so(fitted, images, tmp_path, monkeypatch):
    titles = []
    monkeypatch.setattr(run_pictures, "plot_images", lambda images, path, title="": titles.append(title))
    draw_run_pictures(fitted[0], vaekit.Dataset(images[:8], kind="image", value_max=255.0), tmp_path)
    assert titles == [f"64 samples from the prior at temperature {LAYERED_TEMPERATURE} (decoder means)"]
    assert LAYERED_TEMPERATURE < 1
    assert picture_temperature(ModelConfig(input_shape=(1, 8, 8), arch="resnet")) == 1.0
