"""Every option is declared once (``vaekit.config.configs.OPTIONS``): the command line, ``VAE``,
``VAEImputer`` and the presets agree with it, the library names parameters and the command line flags."""

import inspect
import json

import numpy as np
import pandas as pd
import pytest

from vaekit import VAE, VAEImputer
from vaekit.cli import build_parser, main
from vaekit.cli.common import given_options
from vaekit.config import configs
from vaekit.config.configs import OPTIONS, RunConfig, check_params, resolve_auto
from vaekit.config.options import OptionError, as_word
from vaekit.config.presets import IMPUTATION_DEFAULTS, IMPUTATION_SAMPLES, PRESETS, SELF_TUNE
from vaekit.errors import ConfigError

FLAGLESS = {"verbose", "encoder", "decoder"}  # --quiet instead; networks are Python objects


def _train_args(*words):
    return build_parser().parse_args(["train", "DATA", "--out", "RUN", *words])


def test_every_option_is_a_train_flag_that_reads_its_own_default():
    assert {name for name, spec in OPTIONS.items() if not spec.cli_flag} == FLAGLESS
    assert given_options(_train_args()) == {}  # nothing given: the defaults stay the declared ones
    written = [spec for spec in OPTIONS.values()  # those whose default can be typed: not None, (), or a switch
               if spec.default is not None and spec.default is not False and spec.default != ()]
    assert len(written) > 20
    for spec in written:
        assert given_options(_train_args(spec.cli_flag, *as_word(spec.default).split())) == {spec.name: spec.default}


def test_the_command_line_trains_with_the_api_defaults(tmp_path):
    """One default everywhere: a plain ``vaekit train`` writes the config ``VAE()`` writes (epochs 100)."""
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.save(tmp_path / "t.npy", x)
    assert main(["train", str(tmp_path / "t.npy"), "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
    cli = RunConfig.from_dict(json.loads((tmp_path / "run" / "config.json").read_text()))
    api = VAE(epochs=1).fit(x).config_
    assert cli.model == api.model and cli.train == api.train
    assert inspect.signature(VAE).parameters["epochs"].default == 100 == OPTIONS["epochs"].default


def test_every_option_is_a_vae_parameter_with_its_default_and_documented():
    parameters = inspect.signature(VAE).parameters
    assert list(parameters) == list(OPTIONS)
    for name, spec in OPTIONS.items():
        assert parameters[name].default == spec.default, name
        assert f"\n{name} : " in VAE.__doc__, name


def test_vae_imputer_parameters_are_the_options_with_the_imputation_defaults():
    parameters = inspect.signature(VAEImputer).parameters
    expected = {**{n: s.default for n, s in OPTIONS.items()}, **IMPUTATION_DEFAULTS,
                "imputation_samples": IMPUTATION_SAMPLES.default, "self_tune": SELF_TUNE.default}
    assert {n: p.default for n, p in parameters.items()} == expected
    assert VAEImputer().get_params() == expected
    assert "\nepochs : int or 'auto', default='auto'" in VAEImputer.__doc__


@pytest.mark.parametrize("params", [IMPUTATION_DEFAULTS, *(p.params for p in PRESETS.values())])
def test_presets_and_the_imputation_defaults_are_valid_options(params):
    assert check_params(params).keys() == params.keys()


def test_the_library_names_the_parameter():
    vae = VAE(epochs=0)  # scikit-learn's convention: __init__ stores, fit checks (clone, set_params)
    with pytest.raises(ConfigError) as err:
        vae.fit(np.zeros((20, 3)))
    assert str(err.value).startswith("epochs must be at least 1")
    with pytest.raises(ConfigError, match=r"^unknown lr_schedule 'x'; choose one of constant, cosine$"):
        VAE(lr_schedule="x").fit(np.zeros((20, 3)))
    with pytest.raises(ConfigError, match=r"^kl_schedule='linear' needs kl_warmup > 0"):
        VAE(kl_schedule="linear").fit(np.zeros((20, 3)))


def test_flags_replace_parameter_names_but_not_file_names():
    err = OptionError("space /tmp/space/space.json: no such file; space_size=3 space.", "space")
    assert err.worded(lambda name: "--" + name) == "--space /tmp/space/space.json: no such file; space_size=3 --space."
    err = OptionError("use grad_estimator='standard' with ladder", "grad_estimator", "ladder")
    assert err.worded(lambda name: "--" + name.replace("_", "-")) == "use --grad-estimator standard with --ladder"


def test_the_command_line_names_the_flag_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "X"
    assert main(["train", "digits", "--epochs", "0", "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("vaekit: error: --epochs must be at least 1")
    assert not out.exists()
    assert main(["train", "digits", "--kl-schedule", "linear", "--quiet", "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("vaekit: error: --kl-schedule linear needs --kl-warmup > 0")
    assert main(["train", "wine", "--model", "conv", "--quiet", "--out", str(out)]) == 1
    assert "use --model mlp for tables" in capsys.readouterr().err
    assert not out.exists()


def test_resume_refuses_options_that_would_change_the_run(tmp_path, capsys):
    assert main(["train", "digits", "--resume", "--lr", "0.1", "--out", str(tmp_path / "run")]) == 1
    assert "it takes only --epochs, --device, --workers, not --lr" in capsys.readouterr().err


def test_auto_epochs_give_about_4000_updates():
    params = {n: s.default for n, s in OPTIONS.items()} | {"epochs": "auto"}
    resolved = resolve_auto(params, kind="table", rows=300, has_missing=False)
    assert resolved["epochs"] == round(4000 / 3)  # 270 training rows: 3 batches of 128 per epoch


@pytest.fixture()
def holey_table(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=80)
    frame = pd.DataFrame({"a": a, "b": a + 0.1 * rng.normal(size=80), "c": rng.normal(size=80)})
    frame = frame.mask(rng.random(frame.shape) < 0.2)
    frame.to_csv(tmp_path / "t.csv", index=False)
    return frame, tmp_path / "t.csv"


def test_the_command_line_imputation_path_trains_as_vae_imputer(holey_table, tmp_path, monkeypatch):
    """``vaekit train --allow-missing`` on a table with gaps takes VAEImputer's defaults; explicit flags win."""
    monkeypatch.setattr(configs, "AUTO_UPDATES", 20)  # epochs="auto" on both sides, but short
    frame, csv = holey_table
    assert main(["train", str(csv), "--allow-missing", "--quiet", "--out", str(tmp_path / "run")]) == 0
    cli = RunConfig.from_dict(json.loads((tmp_path / "run" / "config.json").read_text()))
    imputer = VAEImputer().fit(frame)
    assert cli.model == imputer.vae_.config_.model and cli.train == imputer.vae_.config_.train
    assert cli.train.epochs == 10  # 80 rows: 2 batches of 64
    tuning = json.loads((tmp_path / "run" / "self_tuning.json").read_text())  # both self-tuned, alike
    assert tuning["selected"]["hidden"] == list(cli.model.hidden) == list(imputer.selected_candidate_["hidden"])
    assert [c["error"] for c in tuning["candidates"]] == pytest.approx([c["error"] for c in imputer.candidate_scores_])
    assert main(["train", str(csv), "--allow-missing", "--quiet", "--latent-dim", "3", "--lr-schedule", "constant",
                 "--self-tune", "no", "--out", str(tmp_path / "explicit")]) == 0
    explicit = json.loads((tmp_path / "explicit" / "config.json").read_text())
    assert explicit["model"]["latent_dim"] == 3 and explicit["train"]["lr_schedule"] == "constant"
    assert explicit["model"]["hidden"] == list(IMPUTATION_DEFAULTS["hidden"])
    assert not (tmp_path / "explicit" / "self_tuning.json").exists()
    assert explicit["train"]["iw_samples"] == IMPUTATION_DEFAULTS["iw_samples"]


def test_a_complete_table_keeps_the_plain_defaults(tmp_path):
    np.save(tmp_path / "t.npy", np.random.default_rng(1).normal(size=(40, 3)))
    assert main(["train", str(tmp_path / "t.npy"), "--allow-missing", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["hidden"] == [400] and config["train"]["iw_samples"] == 1
