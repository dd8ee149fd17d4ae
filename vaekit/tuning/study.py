"""Hyperparameter tuning: an Optuna study over a :class:`~vaekit.tuning.search_space.SearchSpace`.

Every trial trains a ``VAE`` on the same training split and is scored on the same
validation split (validation ELBO by default). The validation ELBO of each epoch is
reported to Optuna, so a pruner stops trials that fall behind. The study lives in an
RDB storage: by default ``OUT/study.db`` (SQLite, nothing to set up); any URL Optuna
supports lets workers on many machines share one study (PostgreSQL through psycopg 3, which
``pip install 'vaekit[postgres]'`` installs). A study is never restarted:
running the same command again continues it, and workers send heartbeats, so a trial
whose worker died is marked failed after twice ``heartbeat`` seconds and tried again.

``trials`` counts the whole study, not one worker: workers start trials until trials
finished plus trials running elsewhere reach it, then wait for the others and write the
results. A trial numbered after ``trials`` live ones (two workers starting at the same
moment) fails at once instead of running, so the count is exact.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy.exc
from filelock import FileLock
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from vaekit.config.configs import OPTIONS, check_params
from vaekit.config.options import OptionError
from vaekit.config.presets import IMPUTATION_DEFAULTS
from vaekit.data import Dataset
from vaekit.errors import DataError, TrainingError
from vaekit.estimator import VAE
from vaekit.io import atomic
from vaekit.io.runfolder import RunFolder
from vaekit.missing_data.selftune import Holdout
from vaekit.pictures.plots import save_figure
from vaekit.pictures.run_pictures import draw_run_pictures
from vaekit.tuning.choices import OBJECTIVES, PRUNERS, TRIAL_DEFAULTS
from vaekit.tuning.search_space import SearchSpace, default_space

#: Importance samples of the ``nll`` objective's estimate.
NLL_SAMPLES = 100
#: Seconds between looks at the study while other workers finish the last trials.
POLL_S = 0.5
LIVE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
#: vaekit's extras that install a database driver, and the package each holds, by the module SQLAlchemy imports.
DRIVER_EXTRAS = {"psycopg": ("vaekit[postgres]", "psycopg[binary]")}


class _Surplus(Exception):
    """A trial beyond the requested count (two workers asked at once); it ends as failed, unrun."""


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The Optuna pruner that ``PRUNERS[name]`` describes."""
    cls, kwargs = PRUNERS[name]
    return getattr(optuna.pruners, cls)(**kwargs)


def open_study(url: str, name: str, objective: str, pruner: str = "median", heartbeat: int = 30) -> optuna.Study:
    """Create or continue study ``name`` in the RDB at ``url``; fail clearly if it cannot be reached."""
    shown = _redacted(url)
    try:
        storage = _storage(url, heartbeat)
        study = optuna.create_study(storage=storage, study_name=name, direction=OBJECTIVES[objective],
                                    pruner=make_pruner(pruner), load_if_exists=True)
    except ImportError as err:
        raise OptionError(f"storage {shown}: {_missing_driver(err)}", "storage") from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OptionError(f"storage {shown} cannot be opened: {reason}", "storage") from None
    existing = study.user_attrs.get("objective")
    if existing is None:
        study.set_user_attr("objective", objective)
    elif existing != objective:
        raise OptionError(f"study {name!r} optimises {existing}, not {objective}; give objective={existing} "
                          "to continue it, or another study_name to start another study", "objective", "study_name")
    return study


def _storage(url: str, heartbeat: int, attempts: int = 5) -> optuna.storages.RDBStorage:
    """The RDB storage, with heartbeats and one retry of a trial whose worker died.

    Workers that start together on a new database race to create its tables; the losers
    see an integrity error or "table already exists" and simply connect again to the tables the winner made.
    """
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    attempt = 1
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as err:
            lost_race = isinstance(err, sqlalchemy.exc.IntegrityError) or "already exists" in str(err)
            if not lost_race or attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
            attempt += 1


def _missing_driver(err: ImportError) -> str:
    """What to install for a database driver SQLAlchemy could not import (Optuna re-raises it without the name)."""
    cause = err
    while cause.name is None and isinstance(cause.__cause__, ImportError):
        cause = cause.__cause__
    module = cause.name or str(err)
    if module in DRIVER_EXTRAS:
        extra, package = DRIVER_EXTRAS[module]
        fix = f"install vaekit's extra {extra} (or just the driver: pip install '{package}')"
    else:
        fix = f"install the package that provides {module!r}"
    return f"its database driver, the Python module {module!r}, is not installed; {fix}"


def _redacted(url: str) -> str:
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def split(data: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """The training and validation sets every trial uses (the same in every worker)."""
    n_val = round(val_fraction * data.n)
    if not 0 < n_val < data.n:
        raise OptionError(f"val_fraction={val_fraction} of {data.n} examples leaves no validation or no "
                          "training data", "val_fraction")
    order = np.random.default_rng(seed).permutation(data.n)
    return data.subset(order[n_val:]), data.subset(order[:n_val])


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


class TrialObjective:
    """Trains and scores one trial; keeps the best model this worker trained."""

    def __init__(self, train: Dataset, val: Dataset, space: SearchSpace, base: Mapping[str, Any],
                 objective: str = "elbo", trials: int = 20) -> None:
        if objective not in OBJECTIVES:
            raise OptionError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}", "objective")
        self.train, self.val, self.space, self.base = train, val, space, dict(base)
        self.objective, self.trials = objective, trials
        self.maximize = OBJECTIVES[objective] == "maximize"
        self.kept: tuple[int, float, VAE] | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        study = trial.study
        earlier = [t for t in study.get_trials(deepcopy=False, states=LIVE_STATES) if t.number < trial.number]
        if len(earlier) >= self.trials:
            trial.set_user_attr("surplus", True)
            raise _Surplus(f"trial {trial.number} is beyond the requested {self.trials}")
        params = self.space.suggest(trial, self.base)
        trial.set_user_attr("params", _jsonable(params))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        vae = self.fit(params, callbacks=[self._pruning(trial)])
        value = self.score(vae)
        if not math.isfinite(value):
            raise TrainingError(f"trial {trial.number} scored {value}")
        if self.kept is None or (value > self.kept[1] if self.maximize else value < self.kept[1]):
            self.kept = (trial.number, value, vae)
        return value

    def fit(self, params: Mapping[str, Any], callbacks: list | None = None) -> VAE:
        return VAE(**params).fit(self.train, X_val=self.val, callbacks=callbacks)

    def score(self, vae: VAE) -> float:
        if self.objective == "elbo":
            return vae.score(self.val)
        return float(vae.evaluate(self.val, iw_samples=NLL_SAMPLES)[self.objective])

    def _pruning(self, trial: optuna.Trial) -> Callable[[dict[str, Any]], None]:
        """Report each epoch's validation ELBO (negated for minimised objectives); prune when told to."""
        def report(row: dict[str, Any]) -> None:
            trial.report(row["val_elbo"] if self.maximize else -row["val_elbo"], row["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation ELBO {row['val_elbo']:.2f} at epoch {row['epoch']}")
        return report

    def best_model(self, trial: FrozenTrial) -> tuple[VAE, str]:
        """The best trial's model: kept if this worker trained it, else retrained (same seed, same weights)."""
        if self.kept is not None and self.kept[0] == trial.number:
            return self.kept[2], "kept"
        return self.fit(trial.user_attrs["params"]), "retrained"


class ImputationObjective(TrialObjective):
    """Scores a trial as self-tuning scores a candidate: the error of imputing the observed cells hidden from it.

    Trials train on the whole table less those cells, with no validation ELBO, so nothing is pruned.
    """

    def __init__(self, holdout: Holdout, space: SearchSpace, base: Mapping[str, Any], trials: int = 20) -> None:
        if not holdout.hidden.any():
            raise DataError("objective='imputation' hides observed cells, but every row and column of this table "
                            "needs its only observed cell")
        super().__init__(holdout.data, holdout.data, space, base, "imputation", trials)
        self.holdout = holdout

    def fit(self, params: Mapping[str, Any], callbacks: list | None = None) -> VAE:
        return VAE(**params).fit(self.train)

    def score(self, vae: VAE) -> float:
        return self.holdout.error(vae, seed=vae.seed)


def _counts(study: optuna.Study) -> tuple[int, int]:
    trials = study.get_trials(deepcopy=False, states=(*FINISHED_STATES, TrialState.RUNNING))
    finished = sum(t.state in FINISHED_STATES for t in trials)
    return finished, len(trials) - finished


def run_trials(study: optuna.Study, objective: TrialObjective, trials: int, timeout: float | None = None,
               quiet: bool = False) -> None:
    """Start trials until the study has ``trials`` finished ones (or ``timeout`` seconds pass)."""
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    bar = tqdm(total=trials, unit="trial", desc="tuning", disable=quiet or not sys.stderr.isatty(),
               dynamic_ncols=True)
    with warnings.catch_warnings(), bar:
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # fail_stale_trials
        while time.monotonic() < deadline:
            optuna.storages.fail_stale_trials(study)
            finished, running = _counts(study)
            bar.update(min(finished, trials) - bar.n)
            if finished >= trials:
                break
            if finished + running >= trials:
                time.sleep(POLL_S)  # other workers run the last trials; wait to write the final results
                continue
            study.optimize(objective, n_trials=1, catch=(TrainingError, _Surplus))
            if not bar.disable:
                with contextlib.suppress(ValueError):  # no completed trial yet
                    bar.set_postfix(best=f"{study.best_value:.3f}")


@dataclass
class TuneResult:
    best_number: int
    best_value: float
    best_params: dict[str, Any]
    model: str
    files: list[Path]


def write_results(study: optuna.Study, objective: TrialObjective, out: Path) -> TuneResult:
    """config.json, the best model's run folder, trials.csv and Optuna's plots, under one lock per folder."""
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(out / ".results.lock"):
        try:
            best = study.best_trial
        except ValueError:
            raise TrainingError("no trial completed, so there is no best model; see trials.csv") from None
        files = [_write_trials(study, out / "trials.csv"), *_write_plots(study, out)]
        marker = out / "best_trial.json"
        done = marker.is_file() and json.loads(marker.read_text())["number"] == best.number
        model = "already written"
        if not done:
            vae, model = objective.best_model(best)
            run = vae.save(out / "best")
            run.write_metrics(vae.history_)
            draw_run_pictures(vae, objective.val, run.path)
            atomic.write_text(out / RunFolder.CONFIG, vae.config_.to_json() + "\n")
            atomic.write_text(marker, json.dumps({"number": best.number, "value": best.value,
                                                  "objective": objective.objective,
                                                  "params": best.user_attrs["params"]}, indent=2) + "\n")
        files += [out / RunFolder.CONFIG, out / "best", marker]
    return TuneResult(best.number, best.value, best.user_attrs["params"], model, files)


def _write_trials(study: optuna.Study, path: Path) -> Path:
    table = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params", "user_attrs"))
    table.insert(3, "epochs", [len(t.intermediate_values) for t in study.trials])
    atomic.write_text(path, table.drop(columns=["user_attrs_params"], errors="ignore").to_csv(index=False))
    return path


def _write_plots(study: optuna.Study, out: Path) -> list[Path]:
    """Optimisation history and (with two or more completed trials) hyperparameter importances."""
    import matplotlib.pyplot as plt  # Optuna's matplotlib plots are pyplot figures
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    plots = {"history.png": plot_optimization_history}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) >= 2 and any(t.params for t in complete):
        plots["importance.png"] = plot_param_importances
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, plot in plots.items():
            fig = plot(study).figure
            save_figure(fig, out / name)
            plt.close(fig)
            paths.append(out / name)
    return paths


@contextlib.contextmanager
def _new_folders_removed_on_failure(out: Path) -> Iterator[None]:
    """Create ``out`` (and missing parents); if the block fails, remove those it created that are still empty."""
    created = [folder for folder in (out, *out.parents) if not folder.exists()]  # deepest first
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):  # not empty: something else wrote there, keep it
                folder.rmdir()
        raise


def tune(data: Dataset, out: str | Path, *, trials: int = 20, timeout: float | None = None,
         storage: str | None = None, study_name: str = "vaekit", space: SearchSpace | None = None,
         base: Mapping[str, Any] | None = None, objective: str = "elbo", pruner: str = "median",
         heartbeat: int = 30, quiet: bool = True) -> TuneResult:
    """Run (or continue) a study on ``data`` and write its results to ``out``.

    ``base`` holds ``VAE`` parameters for every trial (``epochs``, ``model``, ``seed``...), over
    :data:`~vaekit.tuning.choices.TRIAL_DEFAULTS`; the space's fixed values and sampled ones override
    them. Its ``val_fraction`` and ``seed`` also choose the split every trial is scored on. ``objective="imputation"``
    hides ``val_fraction`` of the observed cells instead of holding out rows, and starts from the
    imputation defaults.
    """
    if trials < 1:
        raise OptionError(f"trials must be at least 1, got {trials}", "trials")
    if timeout is not None and not timeout > 0:
        raise OptionError(f"timeout must be positive, got {timeout}", "timeout")
    if heartbeat < 1:
        raise OptionError(f"heartbeat must be at least 1 (second), got {heartbeat}", "heartbeat")
    if pruner not in PRUNERS:
        raise OptionError(f"unknown pruner {pruner!r}; choose one of {', '.join(PRUNERS)}", "pruner")
    out = Path(out)
    space = space or SearchSpace(default_space(data))
    base = {**TRIAL_DEFAULTS, **check_params(base or {})}
    val_fraction = base.get("val_fraction", OPTIONS["val_fraction"].default)
    seed = base.get("seed", OPTIONS["seed"].default)
    trial_objective: TrialObjective
    if objective == "imputation":
        holdout = Holdout.of(data, val_fraction, seed)
        trial_objective = ImputationObjective(holdout, space, {**IMPUTATION_DEFAULTS, **base}, trials)
    else:
        train, val = split(data, val_fraction, seed)
        trial_objective = TrialObjective(train, val, space, base, objective, trials)
    with _new_folders_removed_on_failure(out):  # the default storage lives in OUT, so OUT comes first
        study = open_study(storage or default_storage(out), study_name, objective, pruner, heartbeat)
    atomic.write_text(out / "space.json", json.dumps(space.entries, indent=2) + "\n")
    run_trials(study, trial_objective, trials, timeout, quiet)
    return write_results(study, trial_objective, out)
