"""The choices of a hyperparameter search, as plain data.

``vaekit tune --help`` lists them without importing Optuna or torch; ``vaekit.tuning.study`` turns
them into Optuna objects when a study runs.
"""

from __future__ import annotations

from typing import Any

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
