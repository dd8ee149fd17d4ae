"""Columns as users have them: text, pandas categories and booleans become codes, and come back.

The model sees numbers only. A column of strings, a pandas ``category`` column or a column of
booleans gets a vocabulary (its observed values, sorted; a category column's in category order;
booleans always False, True) and each value becomes its index in it. The training table's
vocabularies are saved in ``preprocessing.json`` (plain JSON), new tables are mapped onto
them (a value training never saw is refused, naming the column and the value), and filled
cells go back in the column's own type: strings for strings, booleans for booleans, the same
categories for a category column, whole numbers for an integer column.

Columns that cannot be modelled as they are get one clear error naming them, unless their
type is declared (``column_types`` / ``--column-type COL=categorical``):

* free text: an object column in which more than half the values (and more than
  ``FREE_TEXT_MIN`` of them) are distinct;
* dates and times (a datetime column, or text that reads as dates);
* columns that mix types (strings and numbers side by side in one object column, or text that is
  mostly numbers with a stray word).

A column of text declared ``categorical`` or ``binary`` is taken as categories whatever it holds
(dates and mixed values as their text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vaekit.errors import DataError

#: Text columns with more distinct values than this, and than half their values, are free text.
FREE_TEXT_MIN = 10
DISCRETE = ("binary", "categorical")
_DATE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")


@dataclass(frozen=True)
class Vocabulary:
    """One coded column: what it held (``text``, ``bool``, ``category``, ``date``, ``mixed``), and
    ``values``, where code i stands for ``values[i]``."""

    kind: str
    values: tuple
    #: The pandas dtype it came in, so model output goes back in it.
    dtype: str = "object"
    #: A category column's categories, the unused ones included.
    categories: tuple = ()
    #: A ``mixed`` column's Python types, for its error (its values are kept as text).
    types: tuple = ()

    def to_dict(self) -> dict:
        """Plain JSON (``preprocessing.json``)."""
        return {"kind": self.kind, "values": list(self.values), "dtype": self.dtype,
                "categories": list(self.categories)}

    @classmethod
    def from_dict(cls, raw: Mapping) -> Vocabulary:
        return cls(raw["kind"], tuple(raw["values"]), raw["dtype"], tuple(raw["categories"]))

    def series(self, codes: np.ndarray, index: Sequence | None = None) -> pd.Series:
        """Codes (whole numbers) as this column's values, in its own dtype."""
        values = [self.values[int(c)] for c in np.round(codes)]
        if self.kind == "category":
            return pd.Series(pd.Categorical(values, categories=list(self.categories)), index=index)
        return pd.Series(values, index=index, dtype=self.dtype if self.kind != "mixed" else object)

    def describe(self, limit: int = 5) -> str:
        shown = ", ".join(repr(v) for v in self.values[:limit])
        return shown + (", ..." if len(self.values) > limit else "")


def _python(value: object) -> object:
    """A plain Python value (for JSON): numpy and pandas scalars unwrapped, timestamps as ISO text."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def _vocabulary(column: pd.Series) -> Vocabulary | None:
    """The vocabulary of a non-numeric column (None for numbers, which the model takes as they are)."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Vocabulary("bool", (False, True), str(dtype))
    if isinstance(dtype, pd.CategoricalDtype):
        seen = set(column.dropna())
        categories = tuple(_python(c) for c in dtype.categories)
        return Vocabulary("category", tuple(c for c in categories if c in seen), "category", categories)
    if pd.api.types.is_numeric_dtype(dtype):
        return None
    present = column.dropna()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return Vocabulary("date", tuple(sorted({_python(v) for v in present})), str(dtype))
    if present.empty:
        return None  # all missing: reported by the check of missing values
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return Vocabulary("bool", (False, True), "boolean")
    if all(isinstance(v, str) for v in present):
        values = tuple(sorted(set(present)))
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").notna().to_numpy()
        if numbers.any() and not numbers.all():  # e.g. a stray word in a column of numbers: words first
            words = tuple(v for v, n in zip(values, numbers, strict=True) if not n)
            return Vocabulary("mixed", words + tuple(v for v in values if v not in words), types=("number", "text"))
        return Vocabulary("date" if all(_DATE.match(v) for v in values) else "text", values, str(dtype))
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in present):
        return None
    types = tuple(sorted({type(v).__name__ for v in present}))
    return Vocabulary("mixed", tuple(sorted({str(v) for v in present})), types=types)


def encode_frame(frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, Vocabulary]]:
    """The table as float64 codes (NaN where a cell is missing), and the vocabulary of each coded column."""
    x = np.empty(frame.shape, dtype=np.float64)
    vocabularies = {}
    for j, name in enumerate(frame.columns):
        column = frame.iloc[:, j]
        vocab = _vocabulary(column)
        if vocab is None:
            x[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        x[:, j] = _codes(column, vocab)
        vocabularies[str(name)] = vocab
    return x, vocabularies


def _as_keys(column: pd.Series, vocab: Vocabulary) -> pd.Series:
    """The column's values in the form its vocabulary lists them (text for dates and mixed columns)."""
    if vocab.kind == "date":
        return column.map(lambda v: v if pd.isna(v) or isinstance(v, str) else _python(pd.Timestamp(v)))
    if vocab.kind == "mixed":
        return column.map(lambda v: v if pd.isna(v) else str(v))
    return column.astype(object)


def _codes(column: pd.Series, vocab: Vocabulary) -> np.ndarray:
    keys = _as_keys(column, vocab)
    codes = pd.Index(vocab.values, dtype=object).get_indexer(keys.to_numpy(dtype=object)).astype(np.float64)
    codes[keys.isna().to_numpy()] = np.nan
    return codes


def column_problem(name: str, vocab: Vocabulary, declared: str | None) -> str | None:
    """Why a coded column cannot be modelled as it is (None if it can); ``declared`` is its declared type."""
    hint = (f"drop the column, or declare it categorical (column_types={{'{name}': 'categorical'}}, "
            f"--column-type {name}=categorical)")
    if declared is not None:
        if declared not in DISCRETE:
            return (f"column '{name}' holds {vocab.kind} values ({vocab.describe()}), which cannot be typed "
                    f"{declared}; type it categorical or binary, or drop it")
        return None
    if vocab.kind == "date":
        return (f"column '{name}' holds dates or times ({vocab.describe(2)}), which vaekit does not model; "
                f"turn them into numbers (e.g. days since a start) or {hint}")
    if vocab.kind == "mixed":
        return (f"column '{name}' mixes values of types {', '.join(vocab.types)} ({vocab.describe(3)}); "
                f"convert it to one type "
                f"or {hint}")
    return None


def free_text_problem(name: str, vocab: Vocabulary, observed: int, declared: str | None) -> str | None:
    """A text column whose values are mostly distinct is free text, not categories."""
    distinct = len(vocab.values)
    if declared is None and vocab.kind == "text" and distinct > FREE_TEXT_MIN and distinct > observed / 2:
        return (f"column '{name}' looks like free text ({distinct} distinct values in {observed} rows, e.g. "
                f"{vocab.describe(2)}); drop it, or declare it categorical (column_types={{'{name}': "
                f"'categorical'}}, --column-type {name}=categorical)")
    if distinct < 2:
        return f"column '{name}' holds a single value ({vocab.describe()}); drop it, it tells the model nothing"
    return None


def coded_types(vocabularies: Mapping[str, Vocabulary], x: np.ndarray, columns: Sequence[str],
                declared: Mapping[str, str]) -> dict[str, str]:
    """The column type of each coded column (``binary`` for two values, else ``categorical``), after
    refusing those that cannot be modelled (see the module); ``declared`` are the types the user gave."""
    types = {}
    for name, vocab in vocabularies.items():
        observed = int(np.count_nonzero(~np.isnan(x[:, list(columns).index(name)])))
        problem = column_problem(name, vocab, declared.get(name)) or free_text_problem(
            name, vocab, observed, declared.get(name))
        if problem:
            raise DataError(problem)
        types[name] = declared.get(name) or ("binary" if len(vocab.values) == 2 else "categorical")
    return types


def align(x: np.ndarray, columns: Sequence[str], own: Mapping[str, Vocabulary],
          trained: Mapping[str, Sequence]) -> np.ndarray:
    """``x`` (coded with its own vocabularies) recoded with the training table's; unseen values are refused."""
    out = np.array(x, dtype=np.float64)
    for j, name in enumerate(columns):
        vocab, known = own.get(name), trained.get(name)
        seen = ~np.isnan(out[:, j])
        if known is None:
            if vocab is not None:
                raise DataError(f"column '{name}' holds {vocab.kind} values ({vocab.describe(3)}), but it held "
                                "numbers in training")
            continue
        if vocab is None:
            if seen.any():
                raise DataError(f"column '{name}' holds numbers, but it held categories in training "
                                f"({', '.join(repr(v) for v in known[:5])})")
            continue
        values = vocab.values
        mapping = pd.Index(list(known), dtype=object).get_indexer(pd.Index(list(values), dtype=object))
        used = np.unique(out[seen, j]).astype(int)
        unseen = [values[c] for c in used if mapping[c] < 0]
        if unseen:
            raise DataError(f"column '{name}' holds {unseen[0]!r}, a value it did not hold in training (known: "
                            f"{', '.join(repr(v) for v in known)}); replace it by a known value, or leave the "
                            "cell empty to have it imputed")
        out[seen, j] = mapping[out[seen, j].astype(int)]
    return out


def fill_frame(frame: pd.DataFrame, columns: Sequence[str], missing: np.ndarray, values: np.ndarray,
               vocabularies: Mapping[str, Mapping] | None) -> pd.DataFrame:
    """``frame`` with the missing cells of its model ``columns`` set from ``values`` (model output in
    original units: codes for coded columns), each column keeping its dtype."""
    out = frame.copy()
    for j in np.flatnonzero(missing.any(axis=0)):
        name = columns[j]
        rows = np.flatnonzero(missing[:, j])
        known = (vocabularies or {}).get(name)
        column = out[name]
        if known is not None:
            new = [known["values"][int(c)] for c in np.round(values[rows, j])]
            column = _with_values(column, rows, new)
        elif pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_float_dtype(column.dtype):
            new = values[rows, j]
            if pd.api.types.is_integer_dtype(column.dtype):
                new = np.round(new).astype(np.int64)
            elif isinstance(column.dtype, np.dtype):
                new = new.astype(column.dtype)
            column = column.copy()
            column.iloc[rows] = new
        else:
            column = column.astype(object)
            column.iloc[rows] = values[rows, j]
        out[name] = column
    return out


def _with_values(column: pd.Series, rows: np.ndarray, new: list) -> pd.Series:
    """``column`` with ``new`` values (from its vocabulary) at positions ``rows``, in the column's own dtype."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        extra = [v for v in dict.fromkeys(new) if v not in set(dtype.categories)]
        column = column.cat.add_categories(extra) if extra else column.copy()
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        new = list(pd.to_datetime(new).astype(dtype))
        column = column.copy()
    else:
        column = column.copy()
    column.iloc[rows] = new
    return column


def to_frame(values: np.ndarray, columns: Sequence[str], vocabularies: Mapping[str, Mapping] | None,
             index: Sequence | None = None) -> pd.DataFrame:
    """Model output in original units (codes for coded columns) as a table, each column in its own type."""
    coded = {name: Vocabulary.from_dict(raw) for name, raw in (vocabularies or {}).items()}
    return pd.DataFrame({name: coded[name].series(values[:, j], index) if name in coded
                         else pd.Series(values[:, j], index=index) for j, name in enumerate(columns)})
