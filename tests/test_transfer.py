"""Transfer learning: partial loading with an exact report, freezing, from_pretrained, --init-from."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import vaekit
from vaekit.cli import main
from vaekit.config.configs import ModelConfig
from vaekit.errors import ConfigError, ModelFileError
from vaekit.io.serialization import load_tensors
from vaekit.model.module import VAEModule
from vaekit.train.transfer import freeze_parameters, load_pretrained, match_parameters

SMALL = {"hidden": (32,), "latent_dim": 4, "epochs": 3}


@pytest.fixture(scope="module")
def source(digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "source"
    vaekit.VAE(**SMALL).fit(digits, run_dir=path)
    return path


def _source_weights(path):
    return load_tensors(path / "model.safetensors")[0]


def test_frozen_parameters_are_bit_identical_after_fine_tuning(source, digits):
    few = digits.subset(np.arange(300))
    vae = vaekit.VAE.from_pretrained(source, freeze=("decoder",), epochs=4, lr=1e-2).fit(few)
    before, after = _source_weights(source), vae.module_.state_dict()
    decoder = [k for k in before if k.startswith("decoder.")]
    assert decoder and vae.transfer_report_.frozen == [k for k in after if k.startswith("decoder.")]
    for name in decoder:
        assert torch.equal(after[name], before[name]), name
        assert not vae.module_.get_parameter(name).requires_grad
    assert any(not torch.equal(after[k], before[k]) for k in before if k.startswith("encoder."))
    # mapping new data into the old latent space: the frozen decoder still reads the codes it learned
    assert vae.config_.model.latent_dim == 4 and vae.config_.train.init_from == str(source)


def test_partial_loading_reports_exactly_what_it_reused(source):
    config = ModelConfig(input_shape=(1, 10, 10), hidden=(32,), latent_dim=4)
    torch.manual_seed(0)
    module = VAEModule(config)
    fresh = {k: v.clone() for k, v in module.state_dict().items()}
    report = load_pretrained(module, source)
    # input and output layers change shape with the data; the middle layers fit
    assert report.reused == ["encoder.layers.1.weight", "encoder.layers.1.bias",
                             "decoder.layers.0.weight", "decoder.layers.0.bias"]
    assert sorted(report.reinitialised) == ["decoder.layers.1.bias", "decoder.layers.1.weight",
                                            "encoder.layers.0.bias", "encoder.layers.0.weight"]
    assert report.reinitialised["encoder.layers.0.weight"] == "shape (32, 64) in the source, (32, 100) here"
    assert "rest of layer encoder.layers.0" in report.reinitialised["encoder.layers.0.bias"]  # a new layer's bias
    source_weights, state = _source_weights(source), module.state_dict()
    for name in report.reused:
        assert torch.equal(state[name], source_weights[name]), name
    for name in report.reinitialised:
        assert torch.equal(state[name], fresh[name]), name


def test_fine_tuning_on_data_of_another_size_writes_the_report(source, tmp_path):
    images = np.random.default_rng(0).random((200, 1, 10, 10))
    vae = vaekit.VAE.from_pretrained(source, epochs=1).fit(images, run_dir=tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "transfer.json").read_text())
    assert saved == vae.transfer_report_.to_dict()
    assert len(saved["reused"]) == 4 and len(saved["reinitialised"]) == 4 and saved["frozen"] == []


def test_freeze_patterns_select_by_name_glob_or_regex():
    module = VAEModule(ModelConfig(input_shape=(6,), hidden=(8,), latent_dim=2, likelihood="gaussian"))
    assert match_parameters(module, "encoder") == ["encoder.layers.0.weight", "encoder.layers.0.bias",
                                                   "encoder.layers.1.weight", "encoder.layers.1.bias"]
    assert match_parameters(module, "*.bias") == ["encoder.layers.0.bias", "encoder.layers.1.bias",
                                                  "decoder.layers.0.bias", "decoder.layers.1.bias"]
    assert match_parameters(module, r"decoder\.layers\.[01]\.weight") == ["decoder.layers.0.weight",
                                                                         "decoder.layers.1.weight"]
    assert match_parameters(module, "decoder.layers.1") == ["decoder.layers.1.weight", "decoder.layers.1.bias"]
    with pytest.raises(ConfigError, match="matches no parameter"):
        freeze_parameters(module, ["encoder.layers.7"])
    with pytest.raises(ConfigError, match="nothing to train"):
        freeze_parameters(module, ["encoder", "decoder"])


def test_frozen_blocks_keep_batchnorm_statistics_and_dropout_fixed():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(5, 5), nn.BatchNorm1d(5), nn.Dropout(0.5))
    model = nn.Sequential(body, nn.Linear(5, 1))
    stats = body[1].running_mean.clone()
    assert freeze_parameters(model, ["0"]) == ["0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias"]
    model.train()
    x = torch.randn(16, 5) * 3 + 1
    out1, out2 = model(x), model(x)
    assert torch.equal(body[1].running_mean, stats)  # eval mode: statistics not updated
    assert torch.equal(out1, out2)  # eval mode: no dropout noise
    assert model[1].training  # the trainable head stays in training mode


def test_bad_transfer_settings_fail_clearly(source, digits):
    with pytest.raises(ConfigError, match="latent size is 4 but this model's is 6"):
        vaekit.VAE.from_pretrained(source, latent_dim=6, epochs=1).fit(digits)
    with pytest.raises(ConfigError, match="'nowhere' matches no parameter"):
        vaekit.VAE.from_pretrained(source, freeze=("nowhere",), epochs=1).fit(digits)
    with pytest.raises(ConfigError, match="freeze needs init_from"):
        vaekit.VAE(freeze=("decoder",), epochs=1).fit(digits)
    with pytest.raises(ConfigError, match="re-initialised weights random"):
        vaekit.VAE.from_pretrained(source, freeze=("decoder",), epochs=1).fit(np.zeros((50, 1, 10, 10)))
    with pytest.raises(ModelFileError, match="not a directory"):
        vaekit.VAE.from_pretrained(source / "missing")


def test_cli_init_from_follows_the_source_architecture_and_resumes_frozen(source, tmp_path, capsys):
    out = tmp_path / "ft"
    argv = ["train", "digits", "--init-from", str(source), "--freeze", "decoder", "--epochs", "2", "--out", str(out)]
    assert main(argv) == 0
    assert "reused 8 tensors, re-initialised 0, froze 4 parameters" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["latent_dim"] == 4 and config["model"]["hidden"] == [32]  # left at defaults: from RUN
    assert config["train"]["freeze"] == ["decoder"]
    assert main(["train", "digits", "--out", str(out), "--resume", "--epochs", "3", "--quiet"]) == 0
    final = load_tensors(out / "model.safetensors")[0]
    source_weights = _source_weights(source)
    assert all(torch.equal(final[k], source_weights[k]) for k in source_weights if k.startswith("decoder."))
    assert main(["train", "digits", "--init-from", str(source), "--latent-dim", "8", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 1
    assert "latent size is 4" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
