"""Fast paths of the request schemas: a plainly valid body checked in a few numpy operations.

marshmallow checks a body value by value: for a 60-reading window or a 1,000-reading batch that
costs many times the model's own time (bench/notes.md, "Figures behind the code"). A fast path
accepts only bodies that are plainly valid — exactly the schema's fields, JSON numbers (never
booleans or strings), finite and within range — and returns the values as an array. Anything
else it declines (None), and the schema then loads the body as before, so every refusal keeps
its messages. Each fast path is derived from the schema it stands in for, so the two cannot drift
apart; tests check on random bodies that whatever a fast path accepts, its schema loads the same.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import marshmallow as ma
import numpy as np
from marshmallow import validate

from pumpapi.extensions.smorest import StrictFloat

_NUMBER_TYPES = frozenset({float, int})


def _range_of(field: ma.fields.Field, name: str) -> tuple[float, float]:
    """The closed range of a required StrictFloat field with one Range validator."""
    ranges = [v for v in field.validators if isinstance(v, validate.Range)]
    if (
        type(field) is not StrictFloat
        or not field.required
        or field.allow_none
        or field.data_key not in (None, name)
        or len(ranges) != 1
        or len(field.validators) != 1
        or not (ranges[0].min_inclusive and ranges[0].max_inclusive)
        or ranges[0].min is None
        or ranges[0].max is None
        or not (math.isfinite(ranges[0].min) and math.isfinite(ranges[0].max))
    ):
        raise TypeError(
            f"{name}: a fast path stands in only for required StrictFloat fields with one "
            "closed, finite Range"
        )
    return float(ranges[0].min), float(ranges[0].max)


def float_array(data: Any, values: Iterable[Any]) -> np.ndarray | None:
    """`data` (a list of numbers, or of rows of them) as a float64 array if each of its
    `values` is a JSON number; None if any is not, or is an integer beyond a double. bool is an
    int to Python and numpy, never a reading; strings are not numbers. Finiteness and ranges
    are the caller's to check."""
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return None
    try:
        return np.array(data, dtype=np.float64)
    except OverflowError:
        return None


def numbers(values: Any) -> np.ndarray | None:
    """`values` as a float64 array if it is a list of JSON numbers, all finite; None
    otherwise."""
    if type(values) is not list:
        return None
    array = float_array(values, values)
    if array is None or not np.isfinite(array).all():
        return None
    return array


class NumberRecords:
    """The fast path of a schema of required, ranged StrictFloat fields (a reading).

    `matrix(records)` is an (n, k) float64 array, columns in `names` order, when every record
    is a JSON object of exactly those fields holding finite numbers within their ranges: what
    the schema, loading each record, would return as floats. None at the first doubt.
    """

    def __init__(self, schema: type[ma.Schema], names: Sequence[str] | None = None):
        declared = schema._declared_fields
        self.names: tuple[str, ...] = tuple(names or declared)
        if sorted(self.names) != sorted(declared) or len(self.names) < 2:
            raise TypeError(f"{schema.__name__}: name each of its (two or more) fields once")
        bounds = np.array([_range_of(declared[name], name) for name in self.names])
        self.minima, self.maxima = bounds[:, 0], bounds[:, 1]
        self._bounds = tuple(map(tuple, bounds.tolist()))
        self._values = operator.itemgetter(*self.names)

    def matrix(self, records: Any) -> np.ndarray | None:
        if type(records) is not list or not records:
            return None
        width = len(self.names)
        # Objects only, each exactly `names`: as many keys as names, and every name found
        # (the itemgetter raises KeyError otherwise).
        if set(map(type, records)) != {dict} or sum(map(len, records)) != len(records) * width:
            return None
        try:
            rows = list(map(self._values, records))
        except KeyError:
            return None
        matrix = float_array(rows, chain.from_iterable(rows))
        if matrix is None or not ((matrix >= self.minima) & (matrix <= self.maxima)).all():
            return None  # NaN fails the comparisons too
        return matrix

    def row(self, record: Any) -> np.ndarray | None:
        """One record as a (1, k) matrix (see `matrix`), checked in plain Python: for a
        single reading that is a few µs, numpy's per-call overhead ~15."""
        if type(record) is not dict or len(record) != len(self.names):
            return None
        try:
            values = self._values(record)
        except KeyError:
            return None
        for value, (low, high) in zip(values, self._bounds, strict=True):
            kind = type(value)
            if kind is int:
                try:
                    value = float(value)
                except OverflowError:
                    return None
            elif kind is not float:
                return None
            if not low <= value <= high:  # NaN fails; the bounds are finite
                return None
        return np.array([values], dtype=np.float64)

    def load_many(
        self, data: Mapping[str, Any], key: str, limit: int, schema: ma.Schema, **load: Any
    ) -> np.ndarray:
        """The records of a body `{key: [record, ...]}` as a matrix: by `matrix` when the body
        is plainly valid (that key alone, at most `limit` records), otherwise loaded by
        `schema` (with `load` as its keyword arguments), which words what is wrong."""
        records = data[key]
        rows = None
        if len(data) == 1 and isinstance(records, list) and len(records) <= limit:
            rows = self.matrix(records)
        if rows is None:
            rows = self.loaded_matrix(schema.load(data, **load)[key])
        return rows

    def load_one(self, record: Any, schema: ma.Schema, **load: Any) -> np.ndarray:
        """One record as a (1, k) matrix: by `row` when it is plainly valid, otherwise loaded
        by `schema`, which words what is wrong."""
        rows = self.row(record)
        if rows is None:
            rows = self.loaded_matrix([schema.load(record, **load)])
        return rows

    def loaded_matrix(self, records: Sequence[dict[str, float]]) -> np.ndarray:
        """What the schema loaded (records of exactly these fields, as floats) as a matrix."""
        return np.array(list(map(self._values, records)), dtype=np.float64).reshape(
            len(records), len(self.names)
        )
