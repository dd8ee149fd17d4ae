"""Imputation accuracy: vaekit's VAEImputer against scikit-learn's imputers, in one run.

Tables: scikit-learn's breast cancer (569 x 30), wine (178 x 13) and diabetes (442 x 10),
each standardised. Masks (``vaekit.data.amputation``, as in hyperimpute's harness): 50 % MCAR,
30 % MAR and 30 % MNAR (logistic, 30 % of the columns as inputs), one mask per seed; a row
the mask would hide entirely keeps one random entry. Each method fills the same masked table
and is scored by the RMSE over the hidden entries (standardised units; mean imputation
scores about 1). Contenders: column mean, KNNImputer (5 neighbours), IterativeImputer with
BayesianRidge (MICE-style) and with ExtraTrees (the missForest stand-in), ``vaekit.VAEImputer``
with its defaults — one configuration for every table and mask — and the command-line path,
``vaekit train TABLE --allow-missing`` then ``vaekit impute``, which trains with the same defaults
and so should score the same.

    python benchmarks/imputation.py                 # 3 seeds, every table and mechanism
    python benchmarks/imputation.py --seeds 5 --tables wine
    python benchmarks/imputation.py --seeds 1 --tables wine --settings mcar   # a smoke run
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (enables IterativeImputer)
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from vaekit import VAEImputer
from vaekit.cli import main as vaekit_command
from vaekit.data.amputation import ampute

TABLES = {"breast_cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes}
SETTINGS = (("mcar", 0.5), ("mar", 0.3), ("mnar", 0.3))
#: missForest's stand-in: fewer trees and rounds than missForest's 100 x 10 keep the run short on 2 cores.
FOREST_TREES, FOREST_ROUNDS = 50, 5


class CommandLine:
    """``vaekit train TABLE --allow-missing`` then ``vaekit impute``, in a temporary folder."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            table, run, filled = Path(tmp, "table.csv"), Path(tmp, "run"), Path(tmp, "filled.csv")
            pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]).to_csv(table, index=False)
            seed = ["--seed", str(self.seed), "--quiet"]
            for command in (["train", str(table), "--allow-missing", "--out", str(run), *seed],
                            ["impute", str(run), str(table), "--out", str(filled), *seed]):
                if vaekit_command(command) != 0:
                    raise RuntimeError(f"vaekit {' '.join(command)} failed")
            return pd.read_csv(filled).to_numpy()


def contenders(seed: int) -> dict[str, Callable[[], object]]:
    return {
        "mean": lambda: SimpleImputer(),
        "knn": lambda: KNNImputer(n_neighbors=5),
        "iterative (BayesianRidge)": lambda: IterativeImputer(max_iter=10, random_state=seed),
        "iterative (ExtraTrees)": lambda: IterativeImputer(
            ExtraTreesRegressor(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1),
            max_iter=FOREST_ROUNDS, random_state=seed),
        "vaekit": lambda: VAEImputer(seed=seed),
        "vaekit command line": lambda: CommandLine(seed),
    }


def rmse(filled: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    return float(np.sqrt(np.mean((filled[mask] - truth[mask]) ** 2)))


def run(tables: list[str], seeds: int, settings: tuple = SETTINGS) -> tuple[dict, dict]:
    """RMSE per (table, setting, method) over seeds, and total seconds per method."""
    scores: dict[tuple[str, str, str], list[float]] = {}
    seconds: dict[str, float] = {}
    for table in tables:
        truth = StandardScaler().fit_transform(TABLES[table]().data)
        for mechanism, rate in settings:
            for seed in range(seeds):
                mask = ampute(truth, mechanism, rate, seed, keep_one_per_row=True)
                holey = np.where(mask, np.nan, truth)
                for method, make in contenders(seed).items():
                    start = time.perf_counter()
                    filled = make().fit_transform(holey)
                    seconds[method] = seconds.get(method, 0.0) + time.perf_counter() - start
                    scores.setdefault((table, f"{mechanism} {rate:.0%}", method), []).append(
                        rmse(filled, truth, mask))
                print(f"{table} {mechanism} seed {seed}: missing {mask.mean():.1%}, " + ", ".join(
                    f"{m} {scores[(table, f'{mechanism} {rate:.0%}', m)][-1]:.3f}" for m in contenders(seed)),
                    flush=True)
    return scores, seconds


def markdown(scores: dict, seconds: dict, seeds: int) -> str:
    methods = list(seconds)
    lines = ["| table | mask | " + " | ".join(methods) + " |", "|---|---|" + "---:|" * len(methods)]
    for table, setting in dict.fromkeys((t, s) for t, s, _ in scores):
        means = {m: np.mean(scores[(table, setting, m)]) for m in methods}
        best = min(means.values())
        cells = [(f"**{means[m]:.3f}**" if means[m] == best else f"{means[m]:.3f}")
                 + f" ± {np.std(scores[(table, setting, m)]):.3f}" for m in methods]
        lines.append(f"| {table} | {setting} | " + " | ".join(cells) + " |")
    lines.append("| total time (s) | | " + " | ".join(f"{seconds[m]:.0f}" for m in methods) + " |")
    return f"RMSE on the hidden entries, mean ± std over {seeds} seeds (lower is better; best in bold)\n\n" + \
        "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="masks (and model seeds) per table and mechanism")
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    parser.add_argument("--settings", nargs="+", choices=[m for m, _ in SETTINGS], default=[m for m, _ in SETTINGS],
                        help="missingness mechanisms to run")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # IterativeImputer's max_iter notice
    scores, seconds = run(args.tables, args.seeds, tuple(s for s in SETTINGS if s[0] in args.settings))
    print()
    print(markdown(scores, seconds, args.seeds))


if __name__ == "__main__":
    main()
