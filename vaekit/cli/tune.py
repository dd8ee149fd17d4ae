"""``vaekit tune``: search hyperparameters with Optuna and keep the best model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.cli.common import (
    add_data_options,
    add_option_flags,
    add_parser,
    data_help,
    given_options,
    load_data,
    name_flags,
)
from vaekit.config.configs import OPTIONS, check_params
from vaekit.tuning.choices import OBJECTIVES, PRUNERS, TRIAL_DEFAULTS, TRIAL_OPTIONS

if TYPE_CHECKING:
    from vaekit.tuning.study import TuneResult

ORDER = 15

DESCRIPTION = """\
Search VAE settings on DATA with Optuna: latent size, hidden width and depth, beta, learning
rate, batch size and, for images, the binarisation. Every trial trains on the same split of
DATA and is scored on the same held-out part (validation ELBO, or --objective); trials that fall
behind are pruned after an epoch's validation ELBO. OUT receives:

  config.json        the best configuration (the best run's config.json)
  best/              the best model as a run folder (use it with evaluate, sample, --init-from)
  trials.csv         every trial: number, value, state, epochs run, parameters, worker
  history.png, importance.png    Optuna's optimisation history and parameter importances
  space.json         the search space used (copy it, edit it, pass it back with --space)
  study.db           the study (SQLite), unless --storage names another database

The study is continued, never restarted: run the same command again after an interruption, or
start more workers with the same --storage and --study, locally or on other machines (any RDB
URL Optuna supports, e.g. postgresql://user@host/db, whose driver pip install 'vaekit[postgres]'
installs). --trials counts the whole study. A worker that dies is noticed after twice --heartbeat
seconds; its trial is marked failed and run again. A run that cannot open its storage leaves no
OUT folder behind.

A --space file is a JSON object of VAE parameters (and width/depth, which make the hidden
layers): {"low": 1e-4, "high": 1e-2, "log": true} for a range, {"choices": [...]} for a choice,
anything else is fixed, e.g. {"lr": {"low": 1e-4, "high": 1e-2, "log": true}, "epochs": 50}.

examples:
  vaekit tune digits --trials 30 --out tuning/digits
  vaekit tune digits --trials 30 --out tuning/digits --timeout 600        # stop after 10 minutes
  vaekit tune wine --space space.json --objective nll --out tuning/wine
  vaekit tune survey.csv --allow-missing --objective imputation --out tuning/survey
  vaekit tune digits --trials 100 --storage postgresql://me@db/studies --study digits --out tuning/a
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "tune", "search hyperparameters with Optuna", DESCRIPTION)
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the study, best model and plots")
    search = p.add_argument_group("search")
    name_flags(p, [  # the parameters of vaekit.tuning.study.tune, which its errors name
        search.add_argument("--trials", type=int, default=20, help="finished trials the study should reach, "
                                                                   "over all workers"),
        search.add_argument("--timeout", type=float, metavar="S", help="start no new trial after S seconds"),
        search.add_argument("--space", metavar="FILE",
                            help="JSON search space; without it, a default one (written to OUT/space.json)"),
        search.add_argument("--objective", choices=list(OBJECTIVES), default="elbo",
                            help="validation ELBO (maximised), IWAE NLL or reconstruction MSE (minimised); "
                                 "imputation: the error of imputing a --val-fraction of a table's observed cells "
                                 "hidden from training, as self-tuning scores (minimised; starts from the "
                                 "imputation defaults)"),
        search.add_argument("--pruner", choices=list(PRUNERS), default="median",
                            help="how trials that fall behind are stopped early"),
        search.add_argument("--storage", metavar="URL",
                            help="Optuna RDB storage URL (postgresql://... needs pip install 'vaekit[postgres]'); "
                                 "without it, OUT/study.db (SQLite)"),
        search.add_argument("--study", dest="study_name", default="vaekit", metavar="NAME",
                            help="study name in the storage"),
        search.add_argument("--heartbeat", type=int, default=30, metavar="S",
                            help="seconds between a worker's signs of life"),
    ])
    add_option_flags(p, [OPTIONS[name] for name in TRIAL_OPTIONS], defaults=TRIAL_DEFAULTS,
                     title="every trial (a --space entry of the same name wins)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(p)
    p.set_defaults(run=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    import optuna

    from vaekit.tuning.search_space import SearchSpace
    from vaekit.tuning.study import tune

    optuna.logging.set_verbosity(optuna.logging.ERROR if args.quiet else optuna.logging.WARNING)
    base = check_params(given_options(args))  # a bad value fails before any data is read
    data = load_data(args.data, args)
    space = SearchSpace.from_file(args.space) if args.space else None
    result = tune(data, args.out, trials=args.trials, timeout=args.timeout, storage=args.storage,
                  study_name=args.study_name, space=space, base=base, objective=args.objective, pruner=args.pruner,
                  heartbeat=args.heartbeat, quiet=args.quiet)
    if not args.quiet:
        print(_summary_text(Path(args.out), args.objective, result))
    return 0


def _summary_text(out: Path, objective: str, result: TuneResult) -> str:
    params = json.dumps({k: v for k, v in result.best_params.items() if k not in ("device", "verbose")})
    return "\n".join([
        f"best trial {result.best_number}: {objective} {result.best_value:.3f} (model {result.model})",
        f"parameters: {params}",
        "wrote: " + ", ".join(str(p.relative_to(out)) for p in result.files),
    ])
