"""Hyperparameter tuning with a real Optuna study in SQLite: shared workers, resume after a kill, pruning."""

import argparse
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy.exc

import vaekit
from vaekit.cli import build_parser, main
from vaekit.cli.common import given_options
from vaekit.config.configs import OPTIONS, RunConfig
from vaekit.errors import ConfigError
from vaekit.tuning.choices import STUDY_OPTIONS, TRIAL_DEFAULTS, TRIAL_OPTIONS
from vaekit.tuning.search_space import SearchSpace, default_space
from vaekit.tuning.study import open_study, tune

#: Small fixed networks; only the learning rate is searched.
SPACE = {"latent_dim": 4, "width": 32, "batch_size": 64, "lr": {"low": 1e-3, "high": 1e-2, "log": True}}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACE))
    return path


def _tune_command(out, space_file, *extra):
    return [sys.executable, "-m", "vaekit", "tune", "digits", "--out", str(out), "--space", str(space_file),
            "--pruner", "none", "--quiet", *extra]


def _study(out):
    return optuna.load_study(study_name="vaekit", storage=f"sqlite:///{out / 'study.db'}")


def test_space_turns_a_trial_into_estimator_parameters(digits):
    space = SearchSpace({**default_space(digits), "epochs": 7})
    params = space.suggest(optuna.create_study().ask(), {"seed": 3, "epochs": 2})
    assert params["epochs"] == 7 and params["seed"] == 3  # fixed entries override the base
    assert 1 <= len(params["hidden"]) <= 3 and len(set(params["hidden"])) == 1
    assert 32 <= params["hidden"][0] <= 512 and isinstance(params["latent_dim"], int)
    assert 1e-4 <= params["lr"] <= 1e-2 and params["binarize"] in ("static", "dynamic")
    vaekit.VAE(**params)  # every key is an estimator parameter


@pytest.mark.parametrize("entries, message", [
    ({"hiden": 3}, "unknown parameter"),
    ({"lr": {"low": 1e-2, "high": 1e-4}}, "'lr'"),
    ({"lr": {"low": 0, "high": 1, "log": True}}, "'lr'"),
    ({"likelihood": {"choices": ["bernoulli", "logistic"]}}, "cannot be compared"),
    ({"hidden": [64], "width": {"low": 8, "high": 16}}, "not both"),
])
def test_bad_spaces_fail_clearly(entries, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace(entries)


def test_two_workers_share_one_sqlite_study(tmp_path, space_file):
    out = tmp_path / "tune"
    workers = [subprocess.Popen(_tune_command(out, space_file, "--trials", "6", "--epochs", "5"), env=ENV,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0, worker.stderr.read()
    trials = _study(out).trials
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 6
    assert len({t.number for t in trials}) == len(trials)
    assert len({t.params["lr"] for t in finished}) == 6  # no configuration ran twice
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # both workers took trials
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + len(trials)
    best = json.loads((out / "best_trial.json").read_text())
    assert best["value"] == max(t.value for t in finished)
    config = RunConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert config.train.lr == best["params"]["lr"] and config.model.hidden == (32,)
    model = vaekit.load(out / "best")
    assert model.score(vaekit.load_dataset("digits")) > -40
    for name in ("history.png", "importance.png", "space.json"):
        assert (out / name).is_file(), name


def test_a_killed_tuning_run_resumes(tmp_path, space_file):
    out = tmp_path / "tune"
    command = _tune_command(out, space_file, "--trials", "3", "--epochs", "80", "--heartbeat", "1")
    worker = subprocess.Popen(command, env=ENV)
    deadline = time.monotonic() + 120
    # Kill it in the middle of a trial (its parameters sampled), after one has completed; a trial of 80
    # epochs on the digits takes seconds, so it cannot end between the last look at the study and the kill.
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            trials = _study(out).trials if (out / "study.db").is_file() else []
        except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # the worker is still creating the study
            continue
        states = [t.state for t in trials]
        if FINISHED[0] in states and states[-1] == optuna.trial.TrialState.RUNNING and trials[-1].params:
            break
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = {t.number: t.value for t in _study(out).trials if t.state in FINISHED}
    interrupted = _study(out).trials[-1]
    assert before and interrupted.state == optuna.trial.TrialState.RUNNING
    assert not (out / "best_trial.json").exists()

    proc = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    trials = _study(out).trials
    assert sum(t.state in FINISHED for t in trials) == 3
    assert {t.number: t.value for t in trials if t.number in before} == before  # earlier work kept
    assert trials[interrupted.number].state == optuna.trial.TrialState.FAIL
    retried = [t for t in trials
               if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == interrupted.number]
    assert len(retried) == 1 and retried[0].params == interrupted.params and retried[0].state in FINISHED
    assert (out / "best" / "model.safetensors").is_file()


def test_a_pruned_trial_stops_early(tmp_path, digits):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study(storage, "prune", "elbo", pruner="median")
    for lr in (1e-2, 8e-3, 6e-3, 1e-6):  # three good trials set the median; a hopeless one follows
        study.enqueue_trial({"lr": lr})
    space = SearchSpace({**SPACE, "lr": {"low": 1e-6, "high": 1e-2, "log": True}})
    result = tune(digits, tmp_path / "out", trials=4, storage=storage, study_name="prune", space=space,
                  base={"epochs": 5})
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    assert [len(t.intermediate_values) for t in trials] == [5, 5, 5, 2]  # pruned as soon as pruning may start
    assert result.best_number in (0, 1, 2) and result.model == "kept"


@pytest.mark.parametrize("storage, message", [
    ("sqlite:////no/such/folder/study.db", "cannot be opened: (sqlite3.OperationalError) unable to open"),
    ("not a url", "cannot be opened"),
])
def test_unreachable_storage_fails_clearly(tmp_path, capsys, storage, message):
    out = tmp_path / "t" / "study"
    assert main(["tune", "digits", "--out", str(out), "--storage", storage, "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaekit: error: --storage") and message in err and "\n" not in err
    assert not (tmp_path / "t").exists()  # nothing left behind by a run that never started


def test_a_missing_postgres_driver_is_named_with_its_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg 3 were not installed
    out = tmp_path / "t" / "study"
    storage = "postgresql://me:secret@127.0.0.1:1/studies"
    assert main(["tune", "digits", "--out", str(out), "--storage", storage, "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaekit: error: --storage postgresql://me:***@127.0.0.1:1/studies: its database driver")
    assert "'psycopg'" in err and "vaekit[postgres]" in err and "\n" not in err and "secret" not in err
    assert not (tmp_path / "t").exists()


def test_a_failed_start_keeps_an_existing_out_folder(tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    with pytest.raises(ConfigError):
        tune(vaekit.load_dataset("wine"), out, storage="not a url", trials=1)
    assert out.is_dir()


def test_a_study_keeps_its_objective(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    open_study(storage, "s", "elbo")
    with pytest.raises(ConfigError, match="optimises elbo, not nll"):
        open_study(storage, "s", "nll")


def test_tune_helps(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--storage" in out and "best/" in out


def test_space_file_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "space.json"
    bad.write_text("{not json")
    assert main(["tune", "digits", "--out", str(tmp_path / "t"), "--space", str(bad), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vaekit: error: --space {bad} is not valid JSON") and err.count("\n") == 1


def _tune_actions():
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {flag: action for action in commands["tune"]._actions for flag in action.option_strings}


def test_tune_sets_every_trial_by_the_declared_options():
    """No flag of ``vaekit tune`` restates a ``VAE`` option: those it has are the options' own flags."""
    declared = {spec.cli_flag: spec for spec in OPTIONS.values() if spec.cli_flag}
    actions = _tune_actions()
    restated = {flag: declared[flag] for flag in actions if flag in declared}
    assert [spec.name for spec in restated.values()] == list(TRIAL_OPTIONS)
    for flag, spec in restated.items():
        action = actions[flag]
        assert action.dest == spec.name and action.default is argparse.SUPPRESS and action.help.startswith(spec.help)
        assert action.choices is None or set(spec.choices) <= set(action.choices)
    assert actions["--epochs"].help.endswith(f"(default: {TRIAL_DEFAULTS['epochs']})")
    args = build_parser().parse_args(["tune", "digits", "--out", "o", "--epochs", "3", "--model", "conv"])
    assert given_options(args) == {"epochs": 3, "model": "conv"}  # tune() adds TRIAL_DEFAULTS to what was given


def test_the_study_settings_are_declared_once():
    """``tune()``'s keyword defaults and ``vaekit tune``'s search flags both come from STUDY_OPTIONS."""
    parameters = inspect.signature(tune).parameters
    actions = _tune_actions()
    for name, spec in STUDY_OPTIONS.items():
        assert parameters[name].default == spec.default, name
        action = actions[spec.cli_flag]
        assert action.dest == name and action.default is argparse.SUPPRESS and action.help.startswith(spec.help)
    args = build_parser().parse_args(["tune", "digits", "--out", "o", "--study", "s", "--trials", "3"])
    assert given_options(args) == {"study_name": "s", "trials": 3}


@pytest.mark.parametrize("kwargs, message", [
    ({"trials": 0}, "trials must be at least 1, got 0"),
    ({"timeout": 0}, "timeout must be positive, got 0"),
    ({"heartbeat": 0}, "heartbeat must be at least 1"),
    ({"pruner": "x"}, "unknown pruner 'x'"),
    ({"objective": "x"}, "unknown objective 'x'"),
    ({"base": {"epochs": 0}}, "epochs must be at least 1"),
    ({"base": {"val_fraction": 0.0}}, "val_fraction=0.0 of 178 examples leaves no validation"),
])
def test_tune_errors_name_parameters_and_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        tune(vaekit.load_dataset("wine"), tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("words, message", [
    (["--trials", "0"], "--trials must be at least 1, got 0"),
    (["--heartbeat", "0"], "--heartbeat must be at least 1"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--val-fraction", "0"], "--val-fraction 0.0 of 178 examples leaves no validation"),
])
def test_tune_errors_name_flags_and_write_nothing(tmp_path, capsys, words, message):
    out = tmp_path / "out"
    assert main(["tune", "wine", "--out", str(out), "--quiet", *words]) == 1
    assert capsys.readouterr().err.startswith(f"vaekit: error: {message}")
    assert not out.exists()


def test_continuing_a_study_with_another_objective_names_the_flags(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    open_study(storage, "vaekit", "elbo")
    assert main(["tune", "wine", "--out", str(tmp_path / "out"), "--storage", storage, "--objective", "nll"]) == 1
    assert ("optimises elbo, not nll; give --objective elbo to continue it, or another --study to start another"
            in capsys.readouterr().err)
