"""``vaekit impute``: fill the missing cells of a table from a trained model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_data
from vaekit.config.presets import IMPUTATION_SAMPLES
from vaekit.data import Dataset
from vaekit.errors import VaekitError
from vaekit.io import atomic

if TYPE_CHECKING:
    import pandas as pd

ORDER = 40

DESCRIPTION = """\
Fill the missing (empty or NaN) cells of the table DATA with a model trained by `vaekit train`.
Train that model on incomplete data with --allow-missing: the bound is then taken over the
observed cells only and the encoder sees which cells are missing (MIWAE), so no separate
pre-imputation is needed.

Each row's observed cells are kept exactly. Its missing cells get their importance-weighted
conditional mean given the observed ones: K (--iw-samples) codes are proposed by the encoder
and weighted by p(x_obs|z) p(z) / q(z|x_obs). With --likelihood mixed, categorical columns get
their most probable category and count columns a whole number.

With --multiple M, M completed tables are written instead (FILLED_1 ... FILLED_M), each drawn
from the conditional distribution of the missing cells by sampling importance resampling.
Analyse each and pool the results with Rubin's rules (vaekit.pool_estimates in Python) to carry
the uncertainty of the imputation. A warning says when K is too small for M honest draws (the
importance weights of over 5 % of the rows rest on fewer than M effective samples): raise K.

Column names and order, the row index and any --label-column stay as in DATA; values are in
DATA's own units and types: text, category and boolean columns get one of the values they held
in training, integer columns whole numbers (a Parquet file keeps its column dtypes). A value
training never saw is refused, naming its column. On any error nothing is written.

examples:
  vaekit train survey.csv --allow-missing --out runs/survey   # text columns: likelihood mixed
  vaekit impute runs/survey survey.csv --out survey_filled.csv
  vaekit impute runs/survey survey.csv --multiple 20 --out imputations/survey.csv
"""

OUTPUTS = (".csv", ".parquet")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "impute", "fill missing cells of a table (single or multiple imputation)", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train` on a table")
    p.add_argument("data", metavar="DATA", help=data_help() + "; missing cells are empty or NaN")
    p.add_argument("--out", required=True, metavar="FILLED", help="the completed table: .csv or .parquet")
    p.add_argument("--multiple", type=int, metavar="M",
                   help="write M completed tables drawn from the conditional distribution instead of one")
    p.add_argument("--iw-samples", type=int, default=IMPUTATION_SAMPLES.default, metavar="K",
                   help=IMPUTATION_SAMPLES.help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(p)
    p.set_defaults(run=run_impute)


def original_frame(spec: str, data: Dataset) -> pd.DataFrame:
    """DATA as the user wrote it: exact values, every column (labels included), the row index."""
    import pandas as pd

    from vaekit.data.tables import TABLE_SUFFIXES, _read_frame

    path = Path(spec)
    if path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
        frame = _read_frame(path)
        frame.columns = [str(c) for c in frame.columns]
        return frame
    values = np.load(path, allow_pickle=False) if path.is_file() and path.suffix.lower() == ".npy" else data.x
    return pd.DataFrame(values, columns=data.columns, index=data.index)


def numbered(path: Path, i: int) -> Path:
    return path.with_name(f"{path.stem}_{i}{path.suffix}")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    import pandas as pd

    with atomic.atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=not isinstance(frame.index, pd.RangeIndex))
        else:
            frame.to_parquet(tmp)


def run_impute(args: argparse.Namespace) -> int:
    from vaekit.data.coding import fill_frame
    from vaekit.estimator import load
    from vaekit.missing_data.imputation import fill_values

    if args.iw_samples < 1 or (args.multiple is not None and args.multiple < 1):
        raise VaekitError("--iw-samples and --multiple must be at least 1")
    vae = load(args.run_dir)
    if vae.preprocessor_.kind != "table":
        raise VaekitError(f"{args.run_dir} models images; fill damaged images with `vaekit inpaint`")
    out = check_output(args.out, OUTPUTS)
    data = load_data(args.data, args, allow_missing=True)
    data = vae.preprocessor_.check(data)
    frame = original_frame(args.data, data)
    show = not args.quiet and sys.stderr.isatty()
    missing, values = fill_values(vae, data, args.multiple, iw_samples=args.iw_samples, seed=args.seed,
                                  progress=show)
    columns = list(data.columns)
    paths = [out] if args.multiple is None else [numbered(out, i + 1) for i in range(args.multiple)]
    tables = [fill_frame(frame, columns, missing, v, vae.preprocessor_.vocabularies) for v in values]
    for path, table in zip(paths, tables, strict=True):
        write_table(table, path)
    if not args.quiet:
        written = str(out) if len(paths) == 1 else f"{paths[0]} ... {paths[-1]}"
        print(f"filled {int(missing.sum())} missing cell(s) in {int(missing.any(axis=1).sum())} row(s); "
              f"wrote {written}")
    return 0
