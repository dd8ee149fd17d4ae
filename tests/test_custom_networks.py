"""Your own encoder and decoder: trained, saved, loaded in a new process, used by every tool; clear refusals."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import vaekit
from vaekit.cli import main
from vaekit.compression.codec import compress
from vaekit.config.configs import TrainConfig
from vaekit.errors import ConfigError, ModelFileError
from vaekit.explorer import LatentExplorer
from vaekit.io.runfolder import RunFolder
from vaekit.train.fast_step import supports

NETS = '''
import math

from torch import nn

import vaekit


class Encoder(vaekit.Network):
    """x -> (mu, logvar): a tanh MLP with two heads."""

    def __init__(self, in_features, latent_dim, width=24):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.Tanh())
        self.mu, self.logvar = nn.Linear(width, latent_dim), nn.Linear(width, latent_dim)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class Decoder(vaekit.Network):
    """z -> likelihood parameters (n_params, *shape)."""

    def __init__(self, latent_dim, shape, n_params=1, width=24):
        super().__init__()
        self.out_shape = (n_params, *shape)
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.Tanh(),
                                 nn.Linear(width, n_params * math.prod(shape)))

    def forward(self, z):
        return self.net(z).view(z.shape[0], *self.out_shape)
'''


@pytest.fixture(scope="module")
def nets_dir(tmp_path_factory):
    """A module of networks, ``mynets``, importable from its folder (as a user's own package would be)."""
    folder = tmp_path_factory.mktemp("nets")
    (folder / "mynets.py").write_text(NETS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("mynets", None)


@pytest.fixture(scope="module")
def mynets(nets_dir):
    import mynets

    return mynets


def custom_vae(mynets, shape=(1, 8, 8), latent_dim=4, n_params=1, in_mult=1, **params):
    features = in_mult * int(np.prod(shape))
    return vaekit.VAE(encoder=mynets.Encoder(in_features=features, latent_dim=latent_dim),
                      decoder=mynets.Decoder(latent_dim=latent_dim, shape=list(shape), n_params=n_params),
                      latent_dim=latent_dim, **{"epochs": 2, **params})


@pytest.fixture(scope="module")
def images(digits, tmp_path_factory):
    """600 digits in [0, 1], in memory and as a .npy file for the command line."""
    x = (digits.x[:600] / 16).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "digits.npy"
    np.save(path, x)
    return x, path


@pytest.fixture(scope="module")
def trained(mynets, images, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "custom"
    return custom_vae(mynets).fit(images[0], run_dir=run), run


def test_a_custom_pair_trains_saves_and_loads_in_a_new_process_to_the_same_numbers(trained, images, nets_dir):
    vae, run = trained
    config = json.loads((run / "config.json").read_text())["model"]
    assert config["encoder"] == {"class": "mynets:Encoder", "kwargs": {"in_features": 64, "latent_dim": 4}}
    assert config["decoder"]["class"] == "mynets:Decoder"
    assert (run / "model.safetensors").is_file()
    here = vae.evaluate(images[0][:200], iw_samples=10)
    script = textwrap.dedent(f"""
        import json, numpy, vaekit
        vae = vaekit.load({str(run)!r})
        print(json.dumps(vae.evaluate(numpy.load({str(images[1])!r})[:200], iw_samples=10)))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(nets_dir), os.getcwd()]), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    there = json.loads(out.stdout.splitlines()[-1])
    assert there["elbo"] == pytest.approx(here["elbo"], abs=1e-6)
    assert there["nll"] == pytest.approx(here["nll"], abs=1e-6)


def test_a_run_whose_classes_cannot_be_imported_is_one_clear_error(trained, tmp_path):
    _, run = trained
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("model.safetensors", "preprocessing.json"):
        (moved / name).write_bytes((run / name).read_bytes())
    raw = json.loads((run / "config.json").read_text())
    raw["model"]["encoder"]["class"] = "gone_package.nets:Encoder"
    (moved / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFileError, match=r"the encoder class gone_package\.nets:Encoder cannot be imported"):
        vaekit.load(moved)


def test_compression_refuses_custom_networks(trained, images):
    vae, _ = trained
    with pytest.raises(ConfigError, match="compression cannot use a custom encoder or decoder"):
        compress(vae, images[0][:4])


def test_the_fast_step_declines_custom_networks(trained):
    vae, _ = trained
    assert not supports(vae.config_.model, TrainConfig())
    plain = vae.config_.model.__class__(input_shape=(1, 8, 8), hidden=(24,), latent_dim=4)
    assert supports(plain, TrainConfig())  # the same model with vaekit's networks takes it


def test_resume_continues_exactly(mynets, images, tmp_path):
    x = images[0]
    straight = custom_vae(mynets, epochs=3, patience=100).fit(x, run_dir=tmp_path / "straight")
    custom_vae(mynets, epochs=1, patience=100).fit(x, run_dir=tmp_path / "split")
    config = RunFolder(tmp_path / "split").read_config()
    resumed = vaekit.VAE.from_config(config, epochs=3).fit(x, run_dir=tmp_path / "split", resume=True)
    a, b = straight.module_.state_dict(), resumed.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("settings", [
    {"likelihood": "gaussian", "n_params": 2, "prior": "mog"},
    {"likelihood": "logistic", "n_params": 2, "prior": "vamp", "prior_components": 5},
    {"likelihood": "categorical", "n_params": 256},
    {"likelihood": "logistic_mixture", "n_params": 6, "mixture_components": 2},
])
def test_every_likelihood_and_prior_trains(mynets, digits, settings):
    pixels = digits.x[:300].astype(np.uint8) * 15  # 8-bit images, which every likelihood takes
    vae = custom_vae(mynets, epochs=1, **settings).fit(pixels)
    assert np.isfinite(vae.score(pixels[:50]))
    assert vae.sample(4).shape == (4, 1, 8, 8)


def test_a_decoder_of_the_wrong_shape_names_the_shape_wanted(mynets, images):
    with pytest.raises(ConfigError, match=r"shape \(N, n_params, \*input_shape\) = \(2, 2, 1, 8, 8\) for likelihood "
                                          r"'gaussian'.*returned \(2, 1, 1, 8, 8\)"):
        custom_vae(mynets, likelihood="gaussian").fit(images[0][:100])


def test_latent_tools_imputation_and_the_explorer_use_the_custom_networks(trained, images, tmp_path, capsys):
    vae, run = trained
    data = str(images[1])
    assert main(["info", str(run)]) == 0
    assert "encoder      mynets:Encoder (your own), kwargs {'in_features': 64" in capsys.readouterr().out
    assert main(["evaluate", str(run), data, "--iw-samples", "5", "--json"]) == 0
    assert main(["traverse", str(run), data, "--steps", "3", "--out", str(tmp_path / "t.png")]) == 0
    assert main(["latent", str(run), data, "--out", str(tmp_path / "map.png")]) == 0
    holes = images[0][:20].copy()
    holes[:, :, :4] = np.nan
    filled = vaekit.impute(vae, holes, iw_samples=5)
    assert not np.isnan(filled).any()
    explorer = LatentExplorer(vae, images[0][:100])
    assert len(explorer.decode(np.zeros((1, 4)))["items"]) == 1


def test_a_class_defined_in_a_function_is_refused(images):
    class Local(vaekit.Network):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="defined inside a function"):
        vaekit.VAE(encoder=Local(), epochs=1).fit(images[0][:50])


def test_training_with_gaps_stacks_the_mask_onto_the_encoders_input(mynets, images):
    holes = images[0][:300].copy()
    holes[::3, :, :2] = np.nan  # mask_input "auto": on, since the training data has gaps
    with pytest.raises(ConfigError, match=r"mynets:Encoder fails on input of shape \(2, 2, 8, 8\)"):
        custom_vae(mynets, epochs=1).fit(holes)
    vae = custom_vae(mynets, in_mult=2, epochs=1).fit(holes)
    assert vae.config_.model.mask_input and not np.isnan(vaekit.impute(vae, holes[:10], iw_samples=5)).any()


def test_arguments_are_recorded_by_name_and_must_be_json_able(mynets, images):
    assert mynets.Encoder(64, 4, width=8).network_kwargs == {"in_features": 64, "latent_dim": 4, "width": 8}
    odd = mynets.Decoder(latent_dim=4, shape=(1, 8, 8), width=torch.tensor(8))
    with pytest.raises(ConfigError, match=r"the kwargs of mynets:Decoder must be JSON-able"):
        vaekit.VAE(decoder=odd, latent_dim=4, epochs=1).fit(images[0][:50])
