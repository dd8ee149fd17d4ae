"""HyperImpute and miceforest as imputation anchors, run in their own environment from vaekit's.

Both work only with older libraries than vaekit's (hyperimpute 0.1.17 returns the column means under pandas 3), so
they live in benchmarks/.anchors-venv (made by ``bash benchmarks/anchors/setup.sh``, which refuses an environment
where they do not beat the mean). ``anchor_impute`` hands the table over as a temporary .npz to
benchmarks/anchors/run_anchor.py under that venv's python and reads the imputed table back.

    python benchmarks/imputation_anchors.py                         # smoke: every table, 50 % MCAR, seed 0
    python benchmarks/imputation_anchors.py --tables wine fair --methods miceforest
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "anchors" / "run_anchor.py"
DEFAULT_VENV = HERE / ".anchors-venv"
#: "miceforest" predicts (mean_match_candidates=0); "miceforest-pmm", the library default, draws by mean matching.
ANCHORS = ("hyperimpute", "miceforest", "miceforest-pmm")


class AnchorUnavailable(RuntimeError):
    """The anchors' environment is missing: run benchmarks/anchors/setup.sh."""


def anchor_python() -> Path:
    """The anchors' interpreter: $ANCHORS_VENV or benchmarks/.anchors-venv."""
    venv = Path(os.environ.get("ANCHORS_VENV", DEFAULT_VENV))
    python = venv / "bin" / "python"
    if not python.exists():
        raise AnchorUnavailable(f"no anchors environment at {venv}: run `bash benchmarks/anchors/setup.sh` "
                                "(HyperImpute and miceforest need their own pinned pandas / scikit-learn / lightgbm)")
    return python


def anchor_impute(method: str, X_with_nan: np.ndarray, categorical_columns: np.ndarray | list[int] = (),
                  seed: int = 0) -> tuple[np.ndarray, float]:
    """``X_with_nan`` imputed by ``method`` (one of ANCHORS), and the seconds its fit and imputation took.

    Categorical columns hold integer codes 0..k-1 and come back as valid codes. The seconds exclude the
    subprocess's start and imports, so they compare with in-process methods' fit times.
    """
    if method not in ANCHORS:
        raise ValueError(f"unknown anchor {method!r}; choose one of {', '.join(ANCHORS)}")
    python = anchor_python()
    with tempfile.TemporaryDirectory(prefix="vaekit-anchor-") as folder:
        inputs, output = Path(folder) / "in.npz", Path(folder) / "out.npz"
        np.savez(inputs, X=np.asarray(X_with_nan, dtype=np.float64),
                 categorical=np.asarray(categorical_columns, dtype=np.int64), method=np.str_(method),
                 seed=np.int64(seed))
        done = subprocess.run([str(python), str(RUNNER), str(inputs), str(output)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{method} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        with np.load(output, allow_pickle=False) as result:
            return result["X"], float(result["seconds"])


def mean_impute(X: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Column mean for numbers, most frequent code for categories: the floor every anchor must clear."""
    filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    for j in categorical:
        codes, counts = np.unique(X[~np.isnan(X[:, j]), j], return_counts=True)
        filled[np.isnan(X[:, j]), j] = codes[counts.argmax()]
    return filled


def scores(filled: np.ndarray, truth: np.ndarray, mask: np.ndarray, categorical: np.ndarray) -> tuple[float, float]:
    """Standardised RMSE over hidden numeric cells (the mean scores about 1) and accuracy over hidden categorical
    cells (NaN where the table has none)."""
    numeric = np.setdiff1d(np.arange(truth.shape[1]), categorical)
    hidden = mask[:, numeric]
    error = (filled[:, numeric] - truth[:, numeric]) / truth[:, numeric].std(axis=0)
    rmse = float(np.sqrt(np.mean(error[hidden] ** 2))) if hidden.any() else float("nan")
    hidden = mask[:, categorical]
    right = filled[:, categorical] == truth[:, categorical]
    return rmse, float(right[hidden].mean()) if hidden.any() else float("nan")


def smoke(tables: list[str], methods: list[str], rate: float, seed: int) -> None:
    """One MCAR mask per table; the mean against each anchor, printed as a markdown table as it goes."""
    from imputation_tables import encode, load_table

    from vaekit.data.amputation import ampute

    print("| table | rows x cols (cat) | method | RMSE numeric | accuracy categorical | fit s |")
    print("|---|---|---|---:|---:|---:|", flush=True)
    for table in tables:
        frame, _ = load_table(table)
        truth, categorical = encode(frame)
        mask = ampute(truth, "mcar", rate, seed, keep_one_per_row=True)
        holey = np.where(mask, np.nan, truth)
        shape = f"{truth.shape[0]} x {truth.shape[1]} ({categorical.size})"
        for method in ["mean", *methods]:
            if method == "mean":
                start = time.perf_counter()
                filled = mean_impute(holey, categorical)
                seconds = time.perf_counter() - start
            else:
                try:
                    filled, seconds = anchor_impute(method, holey, categorical, seed)
                except RuntimeError as error:
                    print(f"| {table} | {shape} | {method} | failed: {str(error).splitlines()[-1][:80]} | | |")
                    continue
            rmse, accuracy = scores(filled, truth, mask, categorical)
            print(f"| {table} | {shape} | {method} | {rmse:.3f} | "
                  f"{'' if np.isnan(accuracy) else f'{accuracy:.3f}'} | {seconds:.1f} |", flush=True)


def main() -> None:
    sys.path.insert(0, str(HERE))
    from imputation_tables import TABLES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--methods", nargs="+", default=["hyperimpute", "miceforest"], choices=ANCHORS)
    parser.add_argument("--rate", type=float, default=0.5, help="MCAR missing rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        anchor_python()  # fail before any work when the environment is missing
    except AnchorUnavailable as error:
        raise SystemExit(str(error)) from None
    smoke(args.tables, args.methods, args.rate, args.seed)


if __name__ == "__main__":
    main()
