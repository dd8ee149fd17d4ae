"""The choices of a hyperparameter search, as plain data.

``vaekit tune --help`` lists them without importing Optuna or torch; ``vaekit.tuning.study`` turns
them into Optuna objects when a study runs.
"""

from __future__ import annotations

from typing import Any

from vaekit.config.options import Option

#: The ``VAE`` options that ``vaekit tune`` sets for every trial (a ``--space`` entry of the same name wins).
TRIAL_OPTIONS = ("model", "epochs", "val_fraction", "seed", "device")
#: Every trial's defaults where they differ from ``VAE``'s: shorter trials, so that a study tries more settings.
TRIAL_DEFAULTS: dict[str, Any] = {"epochs": 20}

#: Objectives a study can optimise, and in which direction.
#: ``imputation``: the error of imputing observed cells hidden from training (``vaekit.missing_data.selftune``).
OBJECTIVES = {"elbo": "maximize", "nll": "minimize", "recon_mse": "minimize", "imputation": "minimize"}
#: How trials that fall behind are stopped: the name of an ``optuna.pruners`` class and its arguments.
PRUNERS: dict[str, tuple[str, dict[str, Any]]] = {
    # below the median of earlier trials at the same epoch, from epoch 2, once 3 trials have finished
    "median": ("MedianPruner", {"n_startup_trials": 3, "n_warmup_steps": 2}),
    "hyperband": ("HyperbandPruner", {"min_resource": 1, "max_resource": "auto"}),
    "none": ("NopPruner", {}),
}

#: The study's own settings, declared once: ``tune()``'s keyword parameters, their checks and ``vaekit tune``'s flags.
STUDY_OPTIONS = {spec.name: spec for spec in (
    Option("trials", 20, "finished trials the study should reach, over all workers", type=int, at_least=1),
    Option("timeout", None, "start no new trial after S seconds", type=float, positive=True, metavar="S"),
    Option("objective", "elbo", "validation ELBO (maximised), IWAE NLL or reconstruction MSE (minimised); "
           "imputation: the error of imputing a --val-fraction (if not given, self-tuning's share) of a table's "
           "observed cells hidden from trials that train on every row, as self-tuning scores (minimised; starts "
           "from the imputation defaults)",
           type=str, choices=tuple(OBJECTIVES)),
    Option("pruner", "median", "how trials that fall behind are stopped early", type=str, choices=tuple(PRUNERS)),
    Option("storage", None, "Optuna RDB storage URL (postgresql://... needs pip install 'vaekit[postgres]'); "
           "without it, OUT/study.db (SQLite)", type=str, metavar="URL"),
    Option("study_name", "vaekit", "study name in the storage", type=str, flag="--study", metavar="NAME"),
    Option("heartbeat", 30, "seconds between a worker's signs of life", type=int, at_least=1, metavar="S"),
)}
