"""Fast paths of the request schemas: a plainly valid body checked in a few numpy operations.

marshmallow checks a body value by value: for a 60-reading window or a 1,000-reading batch that
costs many times the model's own time (bench/notes.md, "Figures behind the code"). A fast path
accepts only bodies that are plainly valid — exactly the schema's fields, JSON numbers (never
booleans or strings), finite and within range — and returns the values as an array. Anything
else it declines (None), and the schema then loads the body as before, so every refusal keeps
its messages. Each fast path is derived from the schema it stands in for, so the two cannot drift
apart; tests check on random bodies that whatever a fast path accepts, its schema loads the same.

A request body is declared once: `OneOrMany` (one record, or a list of them under a key: a
batch, a window) gives the loader and the OpenAPI `oneOf` body (`Blueprint.body`); `FastSchema`
(numbers, lists of numbers, whole numbers: a series and its horizon) derives its fast path
from its own fields. No view or schema writes a fast path or a body document by hand.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import marshmallow as ma
import numpy as np
from marshmallow import validate

from pumpapi.extensions.smorest import Schema, StrictFloat

_NUMBER_TYPES = frozenset({float, int})


def _number_check(field: ma.fields.Field, name: str) -> tuple[float, float]:
    """The closed finite range of a StrictFloat with one Range validator (required or not)."""
    ranges = [v for v in field.validators if isinstance(v, validate.Range)]
    if (
        type(field) is not StrictFloat
        or field.allow_none
        or len(ranges) != 1
        or len(field.validators) != 1
        or not (ranges[0].min_inclusive and ranges[0].max_inclusive)
        or ranges[0].min is None
        or ranges[0].max is None
        or not (math.isfinite(ranges[0].min) and math.isfinite(ranges[0].max))
    ):
        raise TypeError(
            f"{name}: a fast path stands in only for StrictFloat fields with one closed, "
            "finite Range"
        )
    return float(ranges[0].min), float(ranges[0].max)


def _range_of(field: ma.fields.Field, name: str) -> tuple[float, float]:
    """The closed range of a required StrictFloat field with one Range validator."""
    if not field.required or field.data_key not in (None, name):
        raise TypeError(f"{name}: a record's fast path stands in only for required fields")
    return _number_check(field, name)


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


# -- one declaration per request body ----------------------------------------------------------


def _field_check(field: ma.fields.Field, name: str):
    """How the fast path loads one declared field: a function returning the value the schema
    would load (lists of numbers as float64 arrays), or None when in doubt. Only fields whose
    every rule it can check exactly are accepted; any other declaration is a TypeError when the
    fast path is built, so a schema never gets a fast path that checks less than it does."""
    if field.data_key not in (None, name) or field.allow_none:
        raise TypeError(f"{name}: no fast path for a renamed or nullable field")
    if type(field) is StrictFloat:
        low, high = _number_check(field, name)

        def number(value: Any) -> float | None:
            if type(value) not in _NUMBER_TYPES:
                return None
            try:
                value = float(value)
            except OverflowError:
                return None
            return value if low <= value <= high else None  # NaN fails

        return number
    if type(field) is ma.fields.List and type(field.inner) is StrictFloat:
        low, high = _number_check(field.inner, name)
        lengths = [v for v in field.validators if isinstance(v, validate.Length)]
        if len(lengths) != len(field.validators) or any(v.equal is not None for v in lengths):
            raise TypeError(f"{name}: a list's fast path checks Length(min, max) only")
        shortest = max((v.min for v in lengths if v.min is not None), default=0)
        longest = min((v.max for v in lengths if v.max is not None), default=math.inf)

        def series(value: Any) -> np.ndarray | None:
            if type(value) is not list or not shortest <= len(value) <= longest:
                return None
            array = numbers(value)
            if array is None or not ((array >= low) & (array <= high)).all():
                return None
            return array

        return series
    if type(field) is ma.fields.Integer and field.strict:
        ranges = [v for v in field.validators if isinstance(v, validate.Range)]
        if len(ranges) != 1 or len(field.validators) != 1:
            raise TypeError(f"{name}: an integer's fast path checks one Range only")
        rule = ranges[0]
        low = -math.inf if rule.min is None else rule.min
        high = math.inf if rule.max is None else rule.max

        def integer(value: Any) -> int | None:
            if type(value) is not int:  # never a bool, never a float
                return None
            if value < low or (value == low and not rule.min_inclusive):
                return None
            if value > high or (value == high and not rule.max_inclusive):
                return None
            return value

        return integer
    raise TypeError(f"{name}: no fast path for a {type(field).__name__} field")


class DeclaredFields:
    """The fast path of a schema of number fields, lists of numbers and strict integers (e.g.
    a series and its horizon), derived from the declarations themselves: `load(data)` is what
    the schema would load — lists as float64 arrays — when `data` is an object of known fields,
    every required one present and every value plainly valid; None at the first doubt."""

    def __init__(self, schema: type[ma.Schema]):
        declared = schema._declared_fields
        self._checks = {name: _field_check(field, name) for name, field in declared.items()}
        self._required = frozenset(name for name, field in declared.items() if field.required)
        self.arrays = frozenset(
            name for name, field in declared.items() if type(field) is ma.fields.List
        )

    def load(self, data: Any) -> dict[str, Any] | None:
        if type(data) is not dict or not self._required <= data.keys():
            return None
        loaded = {}
        for name, value in data.items():
            check = self._checks.get(name)
            value = None if check is None else check(value)
            if value is None:
                return None
            loaded[name] = value
        return loaded


class FastSchema(Schema):
    """A request schema whose plainly valid bodies skip marshmallow through the fast path its
    own fields define (`DeclaredFields`); any other body is loaded field by field, which words
    what is wrong. Lists of numbers load as float64 arrays either way."""

    @classmethod
    def fast_path(cls) -> DeclaredFields:
        found = cls.__dict__.get("_fast_path")
        if found is None:
            found = DeclaredFields(cls)
            cls._fast_path = found  # once per class, after marshmallow collected its fields
        return found

    def load(self, data: Any, *, many: Any = None, partial: Any = None, unknown: Any = None):
        fast = type(self).fast_path()
        loaded = fast.load(data) if not many else None
        if loaded is not None:
            return loaded
        loaded = super().load(data, many=many, partial=partial, unknown=unknown)
        for name in fast.arrays & loaded.keys():
            loaded[name] = np.array(loaded[name], dtype=np.float64)
        return loaded


@dataclass(frozen=True, eq=False)
class Rows:
    """A valid body of records: one row per record, columns in the declared order; `many`
    when they were sent as a list (a batch, a window), not as one record."""

    rows: np.ndarray
    many: bool


class OneOrMany:
    """A request body that is one record or `{key: [record, ...]}`, declared once.

    From the record's schema, the list's schema, the key and the most records allowed come the
    loader (`schema`: the fast path for a plainly valid body, otherwise the record's or the
    list's schema, which words the 422, so a lone record with a missing field is answered with
    the field names older clients match) and the OpenAPI request body (`request_body`: `oneOf`
    the two, with examples). `limit` is a number, or the name of the app setting holding it.
    """

    def __init__(
        self,
        name: str,
        record: type[Schema],
        many: type[Schema],
        key: str,
        columns: Sequence[str],
        limit: int | str,
        examples: Mapping[str, Any],
    ):
        self.record, self.many, self.key, self.limit = record, many, key, limit
        self.examples = dict(examples)
        self.fast = NumberRecords(record, columns)
        self._record, self._many = record(), many()
        declared = self

        def load(
            self: Schema, data: Any, *, many: Any = None, partial: Any = None, unknown: Any = None
        ) -> Rows:
            return declared.load(data, partial=partial, unknown=unknown)

        doc = f"One {record.__name__}, or `{{{key!r}: [...]}}` ({many.__name__})."
        self.schema: type[Schema] = type(name, (Schema,), {"load": load, "__doc__": doc})

    def most(self) -> int:
        """The most records a list may hold now (a setting is read from the current app)."""
        if isinstance(self.limit, int):
            return self.limit
        from flask import current_app

        return int(current_app.config[self.limit])

    def load(self, data: Any, **load: Any) -> Rows:
        if isinstance(data, Mapping) and self.key in data:
            return Rows(self.fast.load_many(data, self.key, self.most(), self._many, **load), True)
        return Rows(self.fast.load_one(data, self._record, **load), False)

    def request_body(self) -> dict[str, Any]:
        return {
            "content": {
                "application/json": {
                    "schema": {"oneOf": [self.record, self.many]},
                    "examples": {k: {"value": v} for k, v in self.examples.items()},
                }
            }
        }
