"""Column types of a mixed table, and how each type is put into model units and back.

Following HI-VAE (Nazábal et al., 2020), each column of a heterogeneous table gets a
likelihood that fits what it holds:

=============  ==========================  ==============================================
type           model units                 likelihood (see ``vaekit.model.mixed_likelihood``)
=============  ==========================  ==============================================
real           standardised value          Gaussian
positive       standardised log value      Gaussian on the log (log-normal)
count          log(1 + k)                  Poisson on k
binary         category index / (K - 1)    categorical with K = 2
categorical    category index / (K - 1)    categorical over the K known values
=============  ==========================  ==============================================

Types are detected from the observed values (two distinct values, or only 0s and 1s: binary; integers with
at most ``MAX_DETECTED_CATEGORIES`` values: categorical; other non-negative integers: count;
all values above zero: positive; anything else: real) and each can be overridden by name.
Categories are the numeric codes seen in training (a 0/1 column has both, even if training
saw only one); back in original units, categorical columns take one of those codes and counts
are whole numbers.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import numpy as np

from vaekit.config.options import OptionError
from vaekit.errors import ConfigError, DataError

COLUMN_TYPES = ("real", "positive", "count", "binary", "categorical")
DISCRETE_TYPES = ("binary", "categorical")
#: Integer-valued columns with at most this many distinct values are detected as categorical.
MAX_DETECTED_CATEGORIES = 10

ColumnTypesSpec = Mapping[str, str] | Sequence[str] | None
ONLY_MIXED = "column_types: only with likelihood='mixed'"


def detect_column_type(values: np.ndarray) -> str:
    """The type of one column, from its observed (non-NaN) values."""
    v = values[~np.isnan(values)]
    distinct = np.unique(v)
    if distinct.size == 2 or _zero_one(distinct):
        return "binary"
    integer = bool(np.all(distinct == np.round(distinct)))
    if integer and distinct.size <= MAX_DETECTED_CATEGORIES:
        return "categorical"
    if integer and distinct[0] >= 0:
        return "count"
    return "positive" if distinct[0] > 0 else "real"


def _zero_one(distinct: np.ndarray) -> bool:
    """Whether a column's distinct values are 0s and 1s only (one of them may be absent)."""
    return bool(distinct.size) and bool(np.isin(distinct, (0, 1)).all())


def category_codes(values: np.ndarray, kind: str) -> list[float]:
    """A discrete column's codes: the values observed, and both 0 and 1 for a binary column of 0/1 values."""
    distinct = np.unique(values[~np.isnan(values)])
    return [0.0, 1.0] if kind == "binary" and _zero_one(distinct) else distinct.tolist()


def resolve_column_types(x: np.ndarray, columns: Sequence[str], spec: ColumnTypesSpec) -> tuple[str, ...]:
    """Every column's type: detected, with ``spec`` overriding by name (a mapping) or giving all (a sequence)."""
    if spec is not None and not isinstance(spec, Mapping):
        types = tuple(spec)
        if len(types) != len(columns):
            raise OptionError(f"column_types lists {len(types)} types for a table of {len(columns)} columns",
                              "column_types")
    else:
        overrides = dict(spec or {})
        unknown = sorted(set(overrides) - set(columns))
        if unknown:
            raise OptionError(f"column_types names unknown columns {unknown}; the columns are {list(columns)}",
                              "column_types")
        types = tuple(overrides.get(c) or detect_column_type(x[:, j]) for j, c in enumerate(columns))
    bad = [t for t in types if t not in COLUMN_TYPES]
    if bad:
        raise ConfigError(f"unknown column type {bad[0]!r}; choose one of {', '.join(COLUMN_TYPES)}")
    return types


def fit_columns(x: np.ndarray, types: Sequence[str], columns: Sequence[str]) -> dict[str, list]:
    """Per-column statistics of the model units: ``mean``, ``std`` and ``categories`` (codes, [] if none)."""
    mean, std, categories = [], [], []
    for j, kind in enumerate(types):
        col = x[:, j].astype(np.float64)
        col = col[~np.isnan(col)]
        _check_values(col, kind, columns[j])
        codes = category_codes(col, kind) if kind in DISCRETE_TYPES else []
        if kind == "binary" and len(codes) != 2:
            raise DataError(f"column '{columns[j]}' is typed binary but holds {len(codes)} distinct value(s)")
        if kind in ("real", "positive"):
            values = np.log(col) if kind == "positive" else col
            m, s = float(values.mean()), float(values.std())
        else:
            m, s = 0.0, 1.0
        mean.append(m)
        std.append(s if s > 0 else 1.0)
        categories.append(codes)
    return {"mean": mean, "std": std, "categories": categories}


def _check_values(col: np.ndarray, kind: str, name: str) -> None:
    """Refuse observed values the column's type cannot hold."""
    if kind == "positive" and col.size and col.min() <= 0:
        raise DataError(f"column '{name}' is positive (log-normal) but holds {col.min():g}; type it real instead")
    if kind == "count" and col.size and (col.min() < 0 or np.any(col != np.round(col))):
        bad = col[(col < 0) | (col != np.round(col))][0]
        raise DataError(f"column '{name}' holds counts (whole numbers >= 0) but has {bad:g}; type it real instead")


def to_model_units(x: np.ndarray, types: Sequence[str], mean: Sequence[float], std: Sequence[float],
                   categories: Sequence[Sequence[float]], columns: Sequence[str]) -> np.ndarray:
    """Original units -> model units (float32); NaN stays NaN. Unknown categories are refused."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.float64)
    for j, kind in enumerate(types):
        col = x[:, j]
        seen = ~np.isnan(col)
        _check_values(col[seen], kind, columns[j])
        if kind == "real":
            out[:, j] = (col - mean[j]) / std[j]
        elif kind == "positive":
            out[:, j] = (np.log(np.where(seen, col, 1.0)) - mean[j]) / std[j]
        elif kind == "count":
            out[:, j] = np.log1p(np.where(seen, col, 0.0))
        else:
            codes = np.asarray(categories[j])
            index = np.searchsorted(codes, col[seen])
            known = (index < codes.size) & (codes[np.minimum(index, codes.size - 1)] == col[seen])
            if not known.all():
                raise DataError(f"column '{columns[j]}' holds {col[seen][~known][0]:g}, which is not one of "
                                f"its training categories {codes.tolist()}")
            out[seen, j] = index / (codes.size - 1)
        out[~seen, j] = np.nan
    return out.astype(np.float32)


def from_model_units(u: np.ndarray, types: Sequence[str], mean: Sequence[float], std: Sequence[float],
                     categories: Sequence[Sequence[float]]) -> np.ndarray:
    """Model units -> original units: counts rounded to whole numbers, categories snapped to a known code."""
    u = np.asarray(u, dtype=np.float64)
    out = np.empty(u.shape, dtype=np.float64)
    for j, kind in enumerate(types):
        col = u[:, j]
        if kind == "real":
            out[:, j] = col * std[j] + mean[j]
        elif kind == "positive":
            out[:, j] = np.exp(col * std[j] + mean[j])
        elif kind == "count":
            out[:, j] = np.round(np.expm1(np.maximum(col, 0.0)))
        else:
            codes = np.asarray(categories[j])
            out[:, j] = codes[np.clip(np.round(col * (codes.size - 1)), 0, codes.size - 1).astype(int)]
    return out.astype(np.float32)


def check_column_layout(likelihood: str, input_shape: tuple[int, ...], column_types: Sequence[str],
                        n_categories: Sequence[int]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Validate a model configuration's column layout: every column typed for ``mixed``, none otherwise."""
    types, ks = tuple(column_types), tuple(int(k) for k in n_categories)
    if likelihood != "mixed":
        if types or ks:
            raise OptionError(ONLY_MIXED, "column_types", "likelihood")
        return types, ks
    if len(input_shape) != 1 or len(types) != input_shape[0] or len(ks) != len(types):
        raise ConfigError(f"the mixed likelihood needs a type and a category count for each of the table's "
                          f"columns; got {len(types)} types and {len(ks)} counts for input shape {input_shape}")
    for kind, k in zip(types, ks, strict=True):
        if kind not in COLUMN_TYPES:
            raise ConfigError(f"unknown column type {kind!r}; choose one of {', '.join(COLUMN_TYPES)}")
        if (kind in DISCRETE_TYPES) != (k >= 2) or (kind == "binary" and k != 2):
            raise ConfigError(f"a {kind} column cannot have {k} categories")
    return types, ks


def column_layout(likelihood: str, kind: str, x: np.ndarray, columns: Sequence[str] | None,
                  spec: ColumnTypesSpec) -> dict[str, tuple]:
    """The ``column_types`` and ``n_categories`` a model configuration needs (empty unless ``mixed``)."""
    if likelihood != "mixed":
        if spec:
            raise OptionError(ONLY_MIXED, "column_types", "likelihood")
        return {"column_types": (), "n_categories": ()}
    if kind != "table":
        raise ConfigError("the mixed likelihood is for tables; images use bernoulli, logistic or categorical")
    x = np.asarray(x, dtype=np.float64)
    names = list(columns or [f"x{j}" for j in range(x.shape[1])])
    types = resolve_column_types(x, names, spec)
    counts = tuple(len(category_codes(x[:, j], t)) if t in DISCRETE_TYPES else 0 for j, t in enumerate(types))
    return {"column_types": types, "n_categories": counts}


def parse_column_type(text: str) -> tuple[str, str]:
    """``COL=TYPE`` from the command line, as a (column, type) pair."""
    column, sep, kind = text.partition("=")
    if not sep or not column or kind not in COLUMN_TYPES:
        raise argparse.ArgumentTypeError(f"expected COLUMN=TYPE with TYPE one of {', '.join(COLUMN_TYPES)}, "
                                         f"got {text!r}")
    return column, kind
