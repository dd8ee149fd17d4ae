"""Real tables for the imputation benchmark, all shipped inside installed packages (nothing is downloaded).

scikit-learn's breast cancer, wine and diabetes; statsmodels' macrodata, star98, randhie, fair, anes96 and grunfeld;
palmerpenguins' penguins. Five are mixed-type. statsmodels and palmerpenguins are benchmark-only dependencies
(``pip install -e .[bench]``). Each loader returns a DataFrame with float columns for numbers and ``category``
columns for categories, without ID, date or derived columns; its docstring's first line describes it.
``load_table`` drops rows that already have a NaN and caps the rows (seeded subsample) so runs stay affordable.

    python benchmarks/imputation_tables.py      # one line per table: shape, column kinds, dropped rows
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

MAX_ROWS = 2000
SUBSAMPLE_SEED = 0  # fixed: the table must not change with the mask's seed


def _floats(frame: pd.DataFrame, categorical: tuple[str, ...] = ()) -> pd.DataFrame:
    """Numbers as float64, the named columns as pandas categories."""
    return frame.astype({c: "category" if c in categorical else np.float64 for c in frame.columns})


def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    return _floats(getattr(datasets, f"load_{name}")(as_frame=True).data)


def _statsmodels(name: str) -> pd.DataFrame:
    from statsmodels import datasets

    return getattr(datasets, name).load_pandas().data


def breast_cancer() -> pd.DataFrame:
    """scikit-learn breast cancer: 569 tumours x 30 nucleus measurements (numeric, strongly correlated)."""
    return _sklearn("breast_cancer")


def wine() -> pd.DataFrame:
    """scikit-learn wine: 178 wines x 13 chemical measurements (numeric)."""
    return _sklearn("wine")


def diabetes() -> pd.DataFrame:
    """scikit-learn diabetes: 442 patients x 10 baseline variables, scaled as shipped (numeric; sex as a number)."""
    return _sklearn("diabetes")


def macrodata() -> pd.DataFrame:
    """statsmodels macrodata: 203 US quarters x 12 macroeconomic series (numeric; year and quarter dropped)."""
    return _floats(_statsmodels("macrodata").drop(columns=["year", "quarter"]))


def star98() -> pd.DataFrame:
    """statsmodels star98: 303 California school districts x 14 test/demographic rates (numeric; products dropped)."""
    frame = _statsmodels("star98")
    return _floats(frame[[c for c in frame.columns if "_" not in c]])  # "A_B" columns are products of A and B


def randhie() -> pd.DataFrame:
    """statsmodels randhie: RAND health insurance, 20,190 people x 8 (numeric + deductible flag + 4-level health)."""
    frame = _statsmodels("randhie")
    health = np.select([frame.hlthg == 1, frame.hlthf == 1, frame.hlthp == 1], ["good", "fair", "poor"], "excellent")
    frame = frame.drop(columns=["hlthg", "hlthf", "hlthp"]).assign(health=health)
    return _floats(frame, categorical=("idp", "health"))


def fair() -> pd.DataFrame:
    """statsmodels fair: 6,366 women's affairs survey x 9 (ordinal scores + own and husband's occupation, 6 levels)."""
    return _floats(_statsmodels("fair"), categorical=("occupation", "occupation_husb"))


def anes96() -> pd.DataFrame:
    """statsmodels anes96: 944 US voters x 10 (scales + 7-level party identification + vote; log population dropped)."""
    return _floats(_statsmodels("anes96").drop(columns=["logpopul"]), categorical=("PID", "vote"))


def grunfeld() -> pd.DataFrame:
    """statsmodels grunfeld: 220 firm-years x 4 (investment, value, capital + firm, 11 levels; year dropped)."""
    return _floats(_statsmodels("grunfeld").drop(columns=["year"]), categorical=("firm",))


def penguins() -> pd.DataFrame:
    """palmerpenguins: 344 penguins x 7 (4 body measurements + species, island, sex; year dropped)."""
    from palmerpenguins import load_penguins

    return _floats(load_penguins().drop(columns=["year"]), categorical=("species", "island", "sex"))


TABLES: dict[str, Callable[[], pd.DataFrame]] = {
    loader.__name__: loader
    for loader in (breast_cancer, wine, diabetes, macrodata, star98, randhie, fair, anes96, grunfeld, penguins)
}


def describe(name: str) -> str:
    return (TABLES[name].__doc__ or "").strip().splitlines()[0]


def load_table(name: str, max_rows: int = MAX_ROWS) -> tuple[pd.DataFrame, int]:
    """The table without rows that already miss a value, at most ``max_rows`` of them; and how many were dropped."""
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; choose one of {', '.join(TABLES)}")
    frame = TABLES[name]()
    complete = frame.dropna()
    if len(complete) > max_rows:
        complete = complete.sample(n=max_rows, random_state=SUBSAMPLE_SEED)
    return complete.reset_index(drop=True), len(frame) - len(frame.dropna())


def encode(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A float array (categories as their codes 0..k-1, NaN where missing) and the categorical column indices."""
    columns = [frame[c].cat.codes.replace(-1, np.nan) if isinstance(frame[c].dtype, pd.CategoricalDtype)
               else frame[c] for c in frame.columns]
    categorical = [j for j, c in enumerate(frame.columns) if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns]), np.array(categorical, dtype=np.int64)


def main() -> None:
    for name in TABLES:
        frame, dropped = load_table(name)
        kinds = frame.dtypes.map(lambda d: isinstance(d, pd.CategoricalDtype))
        levels = ", ".join(f"{c} {frame[c].cat.categories.size}" for c in frame.columns[kinds])
        print(f"{name:14s} {frame.shape[0]:5d} x {frame.shape[1]:2d}  numeric {int((~kinds).sum()):2d}  "
              f"categorical {int(kinds.sum())}{f' ({levels})' if levels else ''}  NaN rows dropped {dropped}")
        print(f"{'':14s} {describe(name)}")


if __name__ == "__main__":
    main()
