"""Presets: valid configurations, explicit options win over them, unknown names are clear errors."""

import json

import numpy as np
import pytest

from vaekit import VAE
from vaekit.cli import main
from vaekit.config.presets import PRESETS, preset_params
from vaekit.errors import ConfigError


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_configuration(name):
    vae = VAE.from_preset(name)
    params = vae.get_params()
    for key, value in preset_params(name).items():
        assert params[key] == value
    images = np.random.default_rng(0).random((64, 1, 28, 28)).astype(np.float32)
    fitted = VAE.from_preset(name, epochs=1).fit(images)  # the configuration validates and the model builds and trains
    assert np.isfinite(fitted.history_[0]["val_elbo"])


def test_unknown_preset_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'best'; choose one of fast, strong"):
        VAE.from_preset("best")
    assert main(["train", "digits", "--preset", "best", "--out", str(tmp_path / "run")]) == 1
    assert "vaekit: error: unknown preset 'best'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cli_preset_fills_what_the_command_line_leaves_open(tmp_path):
    x = (np.random.default_rng(0).random((120, 1, 8, 8)) > 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    # --lr 1e-3 is vaekit's default, given explicitly: it must still beat the preset's value.
    args = ["train", str(tmp_path / "x.npy"), "--preset", "strong", "--epochs", "1", "--hidden", "24", "24",
            "--lr", "1e-3", "--quiet", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    strong = preset_params("strong")
    assert config["model"]["ladder"] == list(strong["ladder"])  # from the preset
    assert config["train"]["iw_samples"] == strong["iw_samples"]
    assert config["model"]["hidden"] == [24, 24] and config["train"]["epochs"] == 1  # explicit flags win
    assert config["train"]["lr"] == 1e-3
    assert config["train"]["batch_size"] == 128 and config["model"]["channels"] == [32, 64]  # vaekit defaults


def test_cli_without_preset_keeps_the_defaults(tmp_path):
    np.save(tmp_path / "t.npy", np.random.default_rng(1).normal(size=(80, 5)))
    assert main(["train", str(tmp_path / "t.npy"), "--epochs", "1", "--quiet", "--free-bits", "0.1",
                 "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["hidden"] == [400] and config["model"]["ladder"] == []
    assert config["train"]["free_bits"] == 0.1 and config["train"]["kl_schedule"] == "constant"


def test_cli_misconfiguration_is_one_line(tmp_path, capsys):
    assert main(["train", "digits", "--capacity", "20", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaekit: error: --capacity needs a schedule") and err.count("\n") == 1
