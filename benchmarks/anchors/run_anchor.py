"""Fit one imputation anchor (HyperImpute or miceforest) inside the anchors' own environment.

Run with benchmarks/.anchors-venv/bin/python (made by setup.sh), never with vaekit's interpreter: the anchors work
only with the older pandas / scikit-learn / lightgbm pinned in requirements.txt.

    python run_anchor.py IN.npz OUT.npz     # IN: X (NaN = missing), categorical (column indices), method, seed
                                            # OUT: X (imputed), seconds (fit + impute, imports excluded), versions
    python run_anchor.py --self-check       # each point-estimate anchor must beat the column mean (diabetes,
                                            # 50 % MCAR), or the environment is refused

Categorical columns arrive as integer codes 0..k-1 (float, NaN for missing). miceforest gets them as pandas
`category` columns (LightGBM multiclass); HyperImpute has no categorical argument, it classifies every column with
fewer than `class_threshold` distinct values, so the threshold is raised to cover the widest categorical column
(a side effect: numeric columns with as few distinct values are classified too, e.g. the ordinal scores of
statsmodels' fair).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

METHODS = ("hyperimpute", "miceforest", "miceforest-pmm")
POINT_ESTIMATES = ("hyperimpute", "miceforest")  # miceforest-pmm draws a value: its RMSE can be above the mean's
MICE_ITERATIONS = 5
HYPERIMPUTE_DEFAULT_CLASS_THRESHOLD = 5


def _frame(X: np.ndarray, categorical: np.ndarray, as_category: bool) -> pd.DataFrame:
    """Columns named c0.. (both libraries want string names); categorical codes as `category` if asked."""
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    if as_category:
        for j in categorical:
            df[f"c{j}"] = pd.Categorical(df[f"c{j}"])
    return df


def _hyperimpute(X: np.ndarray, categorical: np.ndarray, seed: int) -> np.ndarray:
    from hyperimpute.plugins.imputers import Imputers

    widest = max((len(np.unique(X[~np.isnan(X[:, j]), j])) for j in categorical), default=0)
    # unique() counts NaN too, and the test is "fewer than": +2 keeps every categorical column a classifier target.
    threshold = max(HYPERIMPUTE_DEFAULT_CLASS_THRESHOLD, widest + 2)
    imputer = Imputers().get("hyperimpute", random_state=seed, class_threshold=threshold)
    return np.array(imputer.fit_transform(_frame(X, categorical, as_category=False)), dtype=np.float64)


def _miceforest(X: np.ndarray, categorical: np.ndarray, seed: int, mean_match: bool) -> np.ndarray:
    """mean_match=False: point predictions (mean_match_candidates=0), the fair setting for RMSE / accuracy;
    True: the library's default predictive mean matching, which draws a plausible value (multiple imputation).

    With mean matching, categorical columns draw from the class probabilities ("fast"): the default ("normal")
    takes float16 log-odds of the forest's probabilities, which are often exactly 0 or 1, and scipy's KDTree
    then fails on the infinities (miceforest 6.0.5; seen on statsmodels' fair and randhie)."""
    import miceforest as mf

    df = _frame(X, categorical, as_category=True)
    if mean_match:
        options = {"mean_match_strategy": {f"c{j}": "fast" for j in categorical}}
    else:
        options = {"mean_match_candidates": 0}
    kernel = mf.ImputationKernel(df, num_datasets=1, random_state=seed, **options)
    kernel.mice(MICE_ITERATIONS)
    done = kernel.complete_data(0)
    for j in categorical:
        done[f"c{j}"] = done[f"c{j}"].astype(np.float64)
    return np.array(done, dtype=np.float64)  # a writable copy (pandas 3 hands out read-only views)


def impute(method: str, X: np.ndarray, categorical: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """Imputed copy of X (categorical columns as valid codes) and the seconds spent fitting and imputing."""
    if method not in METHODS:
        raise SystemExit(f"unknown anchor method {method!r}; choose one of {', '.join(METHODS)}")
    X = np.asarray(X, dtype=np.float64)
    categorical = np.asarray(categorical, dtype=np.int64)
    start = time.perf_counter()
    if method == "hyperimpute":
        out = _hyperimpute(X, categorical, seed)
    else:
        out = _miceforest(X, categorical, seed, mean_match=method == "miceforest-pmm")
    seconds = time.perf_counter() - start
    observed = ~np.isnan(X)
    out[observed] = X[observed]  # neither library should touch observed cells; make sure
    for j in categorical:
        codes = X[observed[:, j], j]
        out[:, j] = np.clip(np.rint(out[:, j]), codes.min(), codes.max())
    if np.isnan(out).any():
        raise SystemExit(f"{method} left {int(np.isnan(out).sum())} cells missing")
    return out, seconds


def versions() -> str:
    """The libraries that decide whether an anchor works, as installed here."""
    found = []
    for name in ("hyperimpute", "miceforest", "pandas", "scikit-learn", "lightgbm", "numpy", "torch"):
        try:
            found.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} missing")
    return " ".join(found)


def self_check(seed: int = 0) -> None:
    """The issue's warning: with the wrong pandas, HyperImpute silently returns the column means. Refuse that."""
    from sklearn.datasets import load_diabetes

    X = load_diabetes().data
    rng = np.random.default_rng(seed)
    hidden = rng.random(X.shape) < 0.5
    X_nan = np.where(hidden, np.nan, X)
    scale = X.std(axis=0)
    mean_fill = np.where(hidden, np.nanmean(X_nan, axis=0), X)

    def rmse(filled: np.ndarray) -> float:
        return float(np.sqrt(np.mean(((filled - X) / scale)[hidden] ** 2)))

    print(versions())
    print(f"diabetes 50 % MCAR, standardised RMSE on hidden cells: mean {rmse(mean_fill):.4f}")
    failed = []
    for method in METHODS:
        out, seconds = impute(method, X_nan, np.array([], dtype=np.int64), seed)
        score = rmse(out)
        if method in POINT_ESTIMATES:
            good = score < 0.97 * rmse(mean_fill)
            verdict = "beats the mean" if good else "DOES NOT beat the mean"
            failed += [] if good else [method]
        else:
            verdict = "a draw, not a point estimate: not held to the mean"
        print(f"  {method:15s} {score:.4f}  ({seconds:.1f} s)  {verdict}")
    if failed:
        raise SystemExit(f"anchors not trustworthy in this environment: {', '.join(failed)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="?", help=".npz with X, categorical, method, seed")
    parser.add_argument("output", nargs="?", help=".npz to write X, seconds, versions to")
    parser.add_argument("--self-check", action="store_true", help="check each anchor beats the mean on diabetes")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.self_check:
        self_check()
        return
    if not (args.inputs and args.output):
        parser.error("give IN.npz and OUT.npz, or --self-check")
    with np.load(args.inputs, allow_pickle=False) as data:
        X, categorical = data["X"], data["categorical"]
        method, seed = str(data["method"]), int(data["seed"])
    out, seconds = impute(method, X, categorical, seed)
    np.savez(args.output, X=out, seconds=np.float64(seconds), versions=np.str_(versions()))


if __name__ == "__main__":
    sys.exit(main())
