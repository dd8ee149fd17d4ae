"""The explorer's JSON API: each request is checked in full before the model sees it.

    GET  /api/info                                   data kind and size, slider dimensions, colour fields
    POST /api/map        {"method"}                  2-D coordinates of every shown example
    POST /api/encode     {"index"} | {"values", "method"}   an example's code and reconstruction
    POST /api/decode     {"codes"} | {"points", "method"}   decoded codes or map locations
    POST /api/neighbours {"index" | "code", "k"}     nearest examples in latent space
    POST /api/samples    {"n", "temperature", "seed"}  new examples from the prior

Malformed JSON, unknown or missing fields and wrong types answer 400; numbers out of range
(an index past the data, too many codes, a temperature of 0) answer 422. Both carry
``{"error": message}``. Sizes are capped so no request can ask for unbounded work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from vaekit.errors import VaekitError
from vaekit.explorer.explorer import LatentExplorer
from vaekit.latent.maps import METHODS

#: Most codes or map locations decoded in one request (an interpolation strip, a samples grid).
MAX_ITEMS = 64
#: Most neighbours returned at once.
MAX_NEIGHBOURS = 32
#: Largest latent value accepted, in prior standard deviations; beyond it decoding is meaningless.
CODE_BOUND = 100.0
#: Largest map coordinate accepted (maps span tens of units at most).
MAP_BOUND = 1e6
#: Table entries may lie this many training standard deviations from the mean, no more.
TABLE_BOUND = 1e3
MAX_TEMPERATURE = 10.0
MAX_SEED = 2**32 - 1
#: Request bodies are capped at this, or at 32 bytes per input value when examples are larger.
MIN_BODY_CAP = 64 * 1024
BYTES_PER_VALUE = 32


class ApiError(VaekitError):
    """A refused request: an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def body_cap(explorer: LatentExplorer) -> int:
    """The largest request body accepted: enough for one example written out as JSON numbers."""
    return max(MIN_BODY_CAP, BYTES_PER_VALUE * int(np.prod(explorer.input_shape)))


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object, or ApiError 400. NaN and Infinity, which JSON does not have, are refused."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError) as err:
        raise ApiError(400, f"the request body is not valid JSON ({err})") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class Fields:
    """Typed, range-checked access to a request's fields; fields nobody asked about are refused."""

    def __init__(self, body: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise ApiError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                f"this endpoint takes {', '.join(allowed) or 'no fields'}")
        self.body = body

    def has(self, name: str) -> bool:
        return name in self.body

    def one_of(self, *names: str) -> str:
        """The one field of ``names`` present (alternative ways to say what to act on)."""
        present = [n for n in names if n in self.body]
        if len(present) != 1:
            raise ApiError(400, f"give exactly one of {' or '.join(names)}")
        return present[0]

    def _get(self, name: str, default: Any) -> Any:
        if name in self.body:
            return self.body[name]
        if default is None:
            raise ApiError(400, f"missing field {name!r}")
        return default

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int:
        value = self._get(name, default)
        if type(value) is not int:  # bool is an int subclass, and is refused too
            raise ApiError(400, f"{name} must be an integer")
        if not low <= value <= high:
            raise ApiError(422, f"{name} must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, low: float, high: float, default: float | None = None,
               low_open: bool = False) -> float:
        value = self._get(name, default)
        if type(value) not in (int, float):
            raise ApiError(400, f"{name} must be a number")
        if not (low < value if low_open else low <= value) or not value <= high:
            bracket = "(" if low_open else "["
            raise ApiError(422, f"{name} must be in {bracket}{low}, {high}], got {value}")
        return float(value)

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str:
        value = self._get(name, default)
        if not isinstance(value, str) or value not in options:
            raise ApiError(400, f"{name} must be one of {', '.join(options)}")
        return value

    def array(self, name: str, shape: tuple[int | None, ...], bound: float, max_rows: int = 1) -> np.ndarray:
        """Nested lists of numbers of ``shape`` (``None``: 1 to ``max_rows`` rows), finite, |value| <= bound."""
        value = self._get(name, None)
        try:
            array = np.array(value, dtype=object)
            if not isinstance(value, list) or not all(type(v) in (int, float) for v in array.flat):
                raise TypeError
            array = array.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise ApiError(400, f"{name} must be a list of numbers of shape {_shape_text(shape)}") from None
        if array.ndim != len(shape) or any(s is not None and a != s for a, s in zip(array.shape, shape, strict=True)):
            raise ApiError(400, f"{name} must have shape {_shape_text(shape)}, got {list(array.shape)}")
        if shape[0] is None and not 1 <= array.shape[0] <= max_rows:
            raise ApiError(422, f"{name} must have between 1 and {max_rows} rows, got {array.shape[0]}")
        if not np.isfinite(array).all() or np.abs(array).max() > bound:
            raise ApiError(422, f"{name} must hold finite numbers of size at most {bound:g}")
        return array


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("m" if s is None else str(s) for s in shape) + "]"


# -- endpoints -------------------------------------------------------------------------------------
def _map(ex: LatentExplorer, f: Fields) -> dict[str, Any]:
    return ex.map(f.choice("method", METHODS))


def _encode(ex: LatentExplorer, f: Fields) -> dict[str, Any]:
    if f.one_of("index", "values") == "index":
        if f.has("method"):
            raise ApiError(400, "method goes with values, not with index")
        return ex.example(f.integer("index", 0, ex.n - 1))
    values = f.array("values", ex.input_shape, np.inf)
    pre = ex.vae.preprocessor_
    if pre.kind == "image" and not (values.min() >= 0 and values.max() <= pre.scale):
        raise ApiError(422, f"image values must lie in [0, {pre.scale:g}], the training data's range")
    if pre.kind == "table" and not np.abs(pre.transform(values[None])).max() <= TABLE_BOUND:
        raise ApiError(422, f"table values must lie within {TABLE_BOUND:g} standard deviations of the "
                            "training data's mean")
    return ex.encode(values, f.choice("method", METHODS, "pca"))


def _decode(ex: LatentExplorer, f: Fields) -> dict[str, Any]:
    if f.one_of("codes", "points") == "codes":
        if f.has("method"):
            raise ApiError(400, "method goes with points, not with codes")
        return ex.decode(f.array("codes", (None, ex.latent_dim), CODE_BOUND, MAX_ITEMS))
    points = f.array("points", (None, 2), MAP_BOUND, MAX_ITEMS)
    return ex.decode_map(points, f.choice("method", METHODS))


def _neighbours(ex: LatentExplorer, f: Fields) -> dict[str, Any]:
    k = f.integer("k", 1, min(MAX_NEIGHBOURS, ex.n - 1), 8)
    if f.one_of("index", "code") == "index":
        index = f.integer("index", 0, ex.n - 1)
        return ex.neighbours(ex.codes[index], k, exclude=index)
    return ex.neighbours(f.array("code", (ex.latent_dim,), CODE_BOUND), k)


def _samples(ex: LatentExplorer, f: Fields) -> dict[str, Any]:
    return ex.samples(f.integer("n", 1, MAX_ITEMS, 16),
                      f.number("temperature", 0.0, MAX_TEMPERATURE, 1.0, low_open=True),
                      f.integer("seed", 0, MAX_SEED, 0))


Endpoint = Callable[[LatentExplorer, Fields], dict[str, Any]]

#: POST endpoints: name -> (handler, the fields it accepts).
ENDPOINTS: dict[str, tuple[Endpoint, tuple[str, ...]]] = {
    "map": (_map, ("method",)),
    "encode": (_encode, ("index", "values", "method")),
    "decode": (_decode, ("codes", "points", "method")),
    "neighbours": (_neighbours, ("index", "code", "k")),
    "samples": (_samples, ("n", "temperature", "seed")),
}


def handle(explorer: LatentExplorer, name: str, raw: bytes) -> dict[str, Any]:
    """Answer POST /api/<name> with body ``raw``; ApiError for anything refused."""
    if name not in ENDPOINTS:
        raise ApiError(404, f"no API endpoint {name!r}; there are {', '.join(ENDPOINTS)}")
    endpoint, allowed = ENDPOINTS[name]
    fields = Fields(parse_body(raw), allowed)
    try:
        return endpoint(explorer, fields)
    except ApiError:
        raise
    except VaekitError as err:  # e.g. a table value the preprocessing cannot map
        raise ApiError(422, str(err)) from None
