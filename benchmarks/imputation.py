"""Imputation accuracy: vaekit against the usual imputers and the strong anchors, side by side in one run.

Tables (``imputation_tables.py``): ten shipped by installed packages, numeric and mixed-type (scikit-learn's breast
cancer, wine, diabetes; statsmodels' macrodata, star98, randhie, fair, anes96, grunfeld; palmerpenguins), at most
2,000 rows each. Masks (``vaekit.data.amputation.ampute``, hyperimpute's harness): MCAR 30/50/70 %, MAR 30 % and
MNAR 30 % (logistic, 30 % of the columns as inputs), one mask per seed; a row the mask would hide entirely keeps
one random entry. Numeric columns are standardised with their observed cells' mean and standard deviation before
any method sees them (so KNN's distances weigh columns alike); categorical columns are integer codes 0..k-1.

Scores: RMSE over the hidden numeric cells in units of the column's standard deviation (the mean scores about
1) and accuracy over the hidden categorical cells; fit time per method (fit + impute, seconds; the anchors'
exclude their subprocess's start and imports).

Contenders, each filling the same masked table:

* ``mean``: column mean, most frequent code for categories;
* ``knn``: ``KNNImputer(5)``; ``iterative``: ``IterativeImputer(BayesianRidge, max_iter=10)`` (MICE-style);
  ``missforest``: ``IterativeImputer(ExtraTreesRegressor(50 trees), max_iter=5)`` as the missForest stand-in.
  These three regress codes as numbers; categorical cells are rounded to the nearest code;
* ``hyperimpute`` (its default per-column search) and ``miceforest`` (LightGBM chained equations, 5 iterations,
  point predictions) in their own pinned environment (``bash benchmarks/anchors/setup.sh``); without it they are
  reported as not run, with the reason, and everything else runs;
* ``vaekit``: ``vaekit.VAEImputer()`` with its defaults (``likelihood="mixed"`` with the categorical columns
  named when the table has some), and ``vaekit-cli``: ``vaekit train TABLE --allow-missing`` then
  ``vaekit impute``, which should score the same.

Writes OUT.md (tables of mean ± std over seeds, best in bold) and OUT.json (every score and time, the command,
the library versions and any method that could not run).

    OMP_NUM_THREADS=1 python benchmarks/imputation.py                       # everything: hours on 2 cores
    python benchmarks/imputation.py --tables wine fair --mechanisms mcar50 --seeds 2
    python benchmarks/imputation.py --quick --tables wine penguins         # smoke run: numbers not for reporting
    python benchmarks/imputation.py --merge a.json b.json --out all        # runs made apart, as one table
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from imputation_anchors import AnchorUnavailable, anchor_impute, anchor_python, mean_impute, scores
from imputation_tables import MAX_ROWS, TABLES, describe, encode, load_table
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (enables IterativeImputer)
from sklearn.impute import IterativeImputer, KNNImputer

from vaekit import VAEImputer
from vaekit.cli import main as vaekit_command
from vaekit.data.amputation import ampute
from vaekit.io import atomic

#: name -> (mechanism, rate)
MECHANISMS = {"mcar30": ("mcar", 0.3), "mcar50": ("mcar", 0.5), "mcar70": ("mcar", 0.7),
              "mar30": ("mar", 0.3), "mnar30": ("mnar", 0.3)}
METHODS = ("mean", "knn", "iterative", "missforest", "hyperimpute", "miceforest", "vaekit", "vaekit-cli")
ANCHOR_METHODS = ("hyperimpute", "miceforest")
#: missForest's stand-in: fewer trees and rounds than missForest's 100 x 10 keep the run short on 2 cores.
FOREST_TREES, FOREST_ROUNDS = 50, 5
#: --quick: one seed, 50 % MCAR, tables cut to this many rows. A smoke run of the whole pipeline.
QUICK_ROWS = 300

#: An imputer: (masked table, categorical column indices, seed, column names) -> (filled table, seconds).
Imputer = Callable[[np.ndarray, np.ndarray, int, list[str]], tuple[np.ndarray, float]]


def timed(fill: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    filled = fill()
    return filled, time.perf_counter() - start


def nearest_codes(filled: np.ndarray, holey: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Categorical columns regressed as numbers, rounded to the nearest code seen (codes are 0..k-1)."""
    out = filled.copy()
    for j in categorical:
        seen = holey[~np.isnan(holey[:, j]), j]
        out[:, j] = np.clip(np.rint(out[:, j]), seen.min(), seen.max())
    return out


def sklearn_imputer(make: Callable[[int], object]) -> Imputer:
    def fill(holey: np.ndarray, categorical: np.ndarray, seed: int, names: list[str]) -> tuple[np.ndarray, float]:
        filled, seconds = timed(lambda: make(seed).fit_transform(holey))
        return nearest_codes(filled, holey, categorical), seconds
    return fill


def vaekit_options(categorical: np.ndarray, names: list[str]) -> dict[str, object]:
    """The defaults, plus the mixed likelihood with the categorical columns named where the table has some
    (numeric columns are declared real: standardised values are never counts or categories)."""
    if categorical.size == 0:
        return {}
    return {"likelihood": "mixed",
            "column_types": {n: "categorical" if j in categorical else "real" for j, n in enumerate(names)}}


def vaekit_imputer(holey: np.ndarray, categorical: np.ndarray, seed: int, names: list[str]) -> tuple[np.ndarray, float]:
    frame = pd.DataFrame(holey, columns=names)
    imputer = VAEImputer(seed=seed, **vaekit_options(categorical, names))
    return timed(lambda: np.asarray(imputer.fit_transform(frame), dtype=np.float64))


def vaekit_cli(holey: np.ndarray, categorical: np.ndarray, seed: int, names: list[str]) -> tuple[np.ndarray, float]:
    """``vaekit train TABLE --allow-missing`` then ``vaekit impute``, in a temporary folder."""
    types = [f"--column-type={name}={kind}" for name, kind in vaekit_options(categorical, names).get(
        "column_types", {}).items()]
    options = ["--likelihood", "mixed", *types] if types else []
    with tempfile.TemporaryDirectory(prefix="vaekit-bench-") as tmp:
        table, run, filled = Path(tmp, "table.csv"), Path(tmp, "run"), Path(tmp, "filled.csv")
        pd.DataFrame(holey, columns=names).to_csv(table, index=False)
        common = ["--seed", str(seed), "--quiet"]

        def both() -> np.ndarray:
            for command in (["train", str(table), "--allow-missing", "--out", str(run), *options, *common],
                            ["impute", str(run), str(table), "--out", str(filled), *common]):
                if vaekit_command(command) != 0:
                    raise RuntimeError(f"vaekit {' '.join(command)} failed")
            return pd.read_csv(filled)[names].to_numpy(dtype=np.float64)

        return timed(both)


def anchor(method: str) -> Imputer:
    def fill(holey: np.ndarray, categorical: np.ndarray, seed: int, names: list[str]) -> tuple[np.ndarray, float]:
        return anchor_impute(method, holey, categorical, seed)
    return fill


IMPUTERS: dict[str, Imputer] = {
    "mean": lambda holey, categorical, seed, names: timed(lambda: mean_impute(holey, categorical)),
    "knn": sklearn_imputer(lambda seed: KNNImputer(n_neighbors=5)),
    "iterative": sklearn_imputer(lambda seed: IterativeImputer(max_iter=10, random_state=seed)),
    "missforest": sklearn_imputer(lambda seed: IterativeImputer(
        ExtraTreesRegressor(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1),
        max_iter=FOREST_ROUNDS, random_state=seed)),
    "hyperimpute": anchor("hyperimpute"),
    "miceforest": anchor("miceforest"),
    "vaekit": vaekit_imputer,
    "vaekit-cli": vaekit_cli,
}


def standardised(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The table as floats, numeric columns standardised (so MAR/MNAR's logistic masks weigh columns alike) and
    categorical columns as codes; and the categorical column indices."""
    x, categorical = encode(frame)
    numeric = np.setdiff1d(np.arange(x.shape[1]), categorical)
    x[:, numeric] = (x[:, numeric] - x[:, numeric].mean(0)) / x[:, numeric].std(0)
    return x, categorical


def observed_standardised(holey: np.ndarray, truth: np.ndarray, categorical: np.ndarray) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """What the methods see, the masked table with numeric columns restandardised by their observed cells (no
    method learns the hidden cells' scale), and the truth in the same units."""
    numeric = np.setdiff1d(np.arange(holey.shape[1]), categorical)
    centre, scale = np.nanmean(holey[:, numeric], 0), np.nanstd(holey[:, numeric], 0)
    scale[~(scale > 0)] = 1.0
    seen, truth = holey.copy(), truth.copy()
    seen[:, numeric] = (seen[:, numeric] - centre) / scale
    truth[:, numeric] = (truth[:, numeric] - centre) / scale
    return seen, truth


def unavailable_methods(methods: list[str]) -> dict[str, str]:
    """Methods that cannot run here, with why (the anchors need their own environment)."""
    if not set(methods) & set(ANCHOR_METHODS):
        return {}
    try:
        anchor_python()
    except AnchorUnavailable as error:
        return {m: str(error) for m in methods if m in ANCHOR_METHODS}
    return {}


def load_tables(tables: list[str], max_rows: int) -> dict[str, pd.DataFrame]:
    """Every table before any method runs: a package missing for one fails the run at once, not hours in."""
    frames = {}
    for table in tables:
        try:
            frames[table] = load_table(table, max_rows)[0]
        except ImportError as error:
            raise SystemExit(f"table {table} needs {error.name}: pip install -e '.[bench]' (or leave it out with "
                             "--tables)") from error
    return frames


def run(tables: list[str], mechanisms: list[str], seeds: range, methods: list[str], max_rows: int) -> dict:
    """Every (table, mechanism, seed, method) score and time, plus the methods that failed or could not run."""
    skipped = unavailable_methods(methods)
    if skipped:
        print(f"NOT RUN: {', '.join(skipped)}: {next(iter(skipped.values()))}", file=sys.stderr, flush=True)
    active = [m for m in methods if m not in skipped]
    frames = load_tables(tables, max_rows)
    results, failures, shapes = [], [], {}
    for table, frame in frames.items():
        truth, categorical = standardised(frame)
        names = [str(c) for c in frame.columns]
        shapes[table] = {"rows": int(truth.shape[0]), "columns": int(truth.shape[1]),
                         "categorical": [names[j] for j in categorical], "description": describe(table)}
        for name in mechanisms:
            mechanism, rate = MECHANISMS[name]
            for seed in seeds:
                mask = ampute(truth, mechanism, rate, seed, keep_one_per_row=True)
                seen, scaled_truth = observed_standardised(np.where(mask, np.nan, truth), truth, categorical)
                line = []
                for method in active:
                    try:
                        filled, seconds = IMPUTERS[method](seen, categorical, seed, names)
                    except Exception as error:  # noqa: BLE001  (one failing method must not end the run)
                        why = (str(error).strip().splitlines() or [type(error).__name__])[-1][:200]
                        failures.append({"table": table, "mask": name, "seed": seed, "method": method, "error": why})
                        line.append(f"{method} FAILED")
                        continue
                    rmse, accuracy = scores(filled, scaled_truth, mask, categorical)
                    results.append({"table": table, "mask": name, "seed": seed, "method": method,
                                    "missing_share": float(mask.mean()), "rmse": _number(rmse),
                                    "accuracy": _number(accuracy), "seconds": seconds})
                    line.append(f"{method} {rmse:.3f}" + ("" if np.isnan(accuracy) else f"/{accuracy:.2f}"))
                print(f"{table} {name} seed {seed} (missing {mask.mean():.0%}): " + ", ".join(line), flush=True)
    return {"tables": shapes, "results": results, "failures": failures, "not_run": skipped,
            "methods": active}


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _cell(values: list[float], best: bool, digits: int = 3) -> str:
    if not values:
        return "—"
    mean = f"{np.mean(values):.{digits}f}"
    return (f"**{mean}**" if best else mean) + (f" ± {np.std(values):.{digits}f}" if len(values) > 1 else "")


def merged(reports: list[dict]) -> dict:
    """Several runs' reports as one (e.g. anchors and vaekit run apart, or seeds run in turn); a later report's
    score of the same (table, mask, seed, method) replaces an earlier one's."""
    rows = {(r["table"], r["mask"], r["seed"], r["method"]): r for report in reports for r in report["results"]}
    used = {r["method"] for r in rows.values()}
    return {"tables": {k: v for report in reports for k, v in report["tables"].items()},
            "results": list(rows.values()),
            "failures": [f for report in reports for f in report["failures"]],
            "not_run": {m: why for report in reports for m, why in report["not_run"].items() if m not in used},
            "methods": [m for m in METHODS if m in used],
            "command": " + ".join(report["command"] for report in reports)}


def markdown(report: dict) -> str:
    """RMSE and accuracy tables (table x mask rows, method columns) and the fit time per method."""
    methods, rows = report["methods"], report["results"]
    groups = list(dict.fromkeys((r["table"], r["mask"]) for r in rows))
    seeds = len({r["seed"] for r in rows})
    parts = []
    for metric, title, better in (("rmse", "RMSE on the hidden numeric cells (standardised; lower is better)", min),
                                  ("accuracy", "Accuracy on the hidden categorical cells (higher is better)", max)):
        lines = []
        for table, mask in groups:
            got = {m: [r[metric] for r in rows if (r["table"], r["mask"], r["method"]) == (table, mask, m)
                       and r[metric] is not None] for m in methods}
            if not any(got.values()):
                continue
            best = better(np.mean(v) for v in got.values() if v)
            lines.append(f"| {table} | {mask} | " + " | ".join(_cell(v, bool(v) and np.mean(v) == best)
                                                                for v in got.values()) + " |")
        if lines:
            parts.append(f"{title}, mean ± std over {seeds} seed(s), best in bold\n\n| table | mask | "
                         + " | ".join(methods) + " |\n|---|---|" + "---:|" * len(methods) + "\n" + "\n".join(lines))
    times = {m: [r["seconds"] for r in rows if r["method"] == m] for m in methods}
    parts.append("Fit time per method (fit + impute, seconds per table and mask)\n\n| | " + " | ".join(methods)
                 + " |\n|---|" + "---:|" * len(methods) + "\n| mean per fit | "
                 + " | ".join(f"{np.mean(t):.1f}" if t else "—" for t in times.values()) + " |\n| total | "
                 + " | ".join(f"{np.sum(t):.0f}" if t else "—" for t in times.values()) + " |")
    for method in (m for m in methods if m in ANCHOR_METHODS and "mean" in methods):
        worse = [f"{t} {k}" for t, k in groups if _not_better_than_mean(rows, t, k, method)]
        if worse:
            parts.append(f"**{method} does not beat the column mean** (RMSE) on {', '.join(worse)}: check its "
                         "environment (`python benchmarks/anchors/run_anchor.py --self-check`) before trusting it")
    for why in dict.fromkeys(report["not_run"].values()):
        parts.append(f"**Not run: {', '.join(m for m, w in report['not_run'].items() if w == why)}**: {why}")
    for (method, error), where in _grouped(report["failures"]).items():
        parts.append(f"**{method} failed** on {len(where)} mask(s) ({', '.join(where[:3])}"
                     f"{', ...' if len(where) > 3 else ''}): {error}")
    return "\n\n".join(parts) + "\n"


def _not_better_than_mean(rows: list[dict], table: str, mask: str, method: str) -> bool:
    """Whether ``method``'s mean RMSE on (table, mask) is no lower than the column mean's: the issue's sign of an
    anchor quietly returning the means."""
    rmse = {m: [r["rmse"] for r in rows if (r["table"], r["mask"], r["method"]) == (table, mask, m)
                and r["rmse"] is not None] for m in (method, "mean")}
    return bool(rmse[method] and rmse["mean"]) and np.mean(rmse[method]) >= 0.99 * np.mean(rmse["mean"])


def _grouped(failures: list[dict]) -> dict[tuple[str, str], list[str]]:
    """Failures by method and error, each with where it happened ("table mask seed N")."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for f in failures:
        grouped.setdefault((f["method"], f["error"]), []).append(f"{f['table']} {f['mask']} seed {f['seed']}")
    return grouped


def write_text(path: Path, text: str) -> None:
    with atomic.atomic_path(path) as tmp:
        tmp.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    parser.add_argument("--mechanisms", nargs="+", choices=list(MECHANISMS), default=list(MECHANISMS),
                        help="masks to draw: mechanism and missing rate")
    parser.add_argument("--seeds", type=int, default=3, help="masks (and model seeds) per table and mechanism")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the seeds are FIRST_SEED .. FIRST_SEED + SEEDS - 1 (to add seeds to an earlier run)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="run nothing: combine earlier runs' STEM.json files into one STEM.md and STEM.json")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 1 seed, mcar50 only, at most {QUICK_ROWS} rows per table")
    parser.add_argument("--out", default="imputation_benchmark", metavar="STEM",
                        help="writes STEM.md and STEM.json (default: imputation_benchmark)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.quick:
        args.seeds, args.mechanisms = 1, ["mcar50"]
    command = "python benchmarks/imputation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.merge:
        report = merged([json.loads(path.read_text()) for path in args.merge])
        report["command"] = f"{command}  (of: {report['command']})"
    else:
        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # IterativeImputer's max_iter notice
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        report = run(args.tables, args.mechanisms, seeds, args.methods, QUICK_ROWS if args.quick else MAX_ROWS)
        report["command"] = command
        report["quick"] = args.quick
    report["versions"] = {p: version(p) for p in ("vaekit", "torch", "scikit-learn", "numpy", "pandas")}
    text = markdown(report)
    out = Path(args.out)
    write_text(out.with_name(out.name + ".md"), text)
    write_text(out.with_name(out.name + ".json"), json.dumps(report, indent=1) + "\n")
    print("\n" + text + f"\nwrote {out}.md and {out}.json")


if __name__ == "__main__":
    main()
