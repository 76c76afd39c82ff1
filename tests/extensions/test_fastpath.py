"""The request schemas' fast paths: whatever they accept, their schema loads the same values."""

from __future__ import annotations

import math

import marshmallow as ma
import numpy as np
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpapi.blueprints.gru.schemas import (
    EXAMPLE_READING,
    HEALTH_REQUEST,
    ChannelReadingSchema,
)
from pumpapi.blueprints.gru.schemas import READING as GRU_READING
from pumpapi.blueprints.lstm.schemas import MAX_SERIES_LENGTH, SeriesRequestSchema
from pumpapi.blueprints.xgboost.schemas import READING as RISK_READING
from pumpapi.blueprints.xgboost.schemas import RISK_REQUEST, RiskReadingSchema
from pumpapi.extensions.fastpath import DeclaredFields, FastSchema, NumberRecords, numbers
from pumpapi.extensions.smorest import ResponseSchema, Schema, StrictFloat
from pumpapi.models.lstm import WINDOW

# Values a client might send: plain numbers in and out of range, and everything that is not one.
_ANY_VALUE = st.one_of(
    st.floats(min_value=-10, max_value=10_000),
    st.integers(min_value=-10, max_value=10_000),
    st.sampled_from([math.nan, math.inf, -math.inf, True, False, None, "1.5", [], {}, 10**400]),
)


def _records(fast: NumberRecords, valid_values: bool):
    """Valid readings (numbers within each field's range), or objects of mostly the fields of
    `fast` (sometimes one short, or one extra) holding any value at all."""
    if valid_values:
        columns = [
            st.one_of(
                st.floats(min_value=lo, max_value=hi),
                st.integers(min_value=math.ceil(lo), max_value=math.floor(hi)),
            )
            for lo, hi in zip(fast.minima, fast.maxima, strict=True)
        ]
        return st.tuples(*columns).map(lambda row: dict(zip(fast.names, row, strict=True)))
    names = st.sampled_from([*fast.names, "extra"])
    size = len(fast.names)
    return st.dictionaries(names, _ANY_VALUE, min_size=size - 1, max_size=size + 1)


#: Each fast path of a reading, with the schema it stands in for.
_BOTH_READINGS = pytest.mark.parametrize(
    ("fast", "schema"),
    [(RISK_READING, RiskReadingSchema()), (GRU_READING, ChannelReadingSchema())],
    ids=["xgboost", "gru"],
)


def _loads_as(schema: ma.Schema, records: list, matrix: np.ndarray, names) -> None:
    loaded = schema.load(records, many=True)
    assert np.array_equal(np.array([[r[n] for n in names] for r in loaded]), matrix)


@_BOTH_READINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_what_the_fast_path_accepts_the_schema_loads_the_same(fast, schema, data):
    records = data.draw(st.lists(_records(fast, valid_values=False), min_size=1, max_size=4))
    matrix = fast.matrix(records)
    if matrix is None:
        return  # declined: the schema words the refusal (tested by the endpoints' tests)
    _loads_as(schema, records, matrix, fast.names)


@_BOTH_READINGS
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_plainly_valid_readings_take_the_fast_path(fast, schema, data):
    records = data.draw(st.lists(_records(fast, valid_values=True), min_size=1, max_size=5))
    matrix = fast.matrix(records)
    assert matrix is not None
    _loads_as(schema, records, matrix, fast.names)


@pytest.mark.parametrize(
    "reading",
    [
        {"rotacao_motor_rpm": True},
        {"rotacao_motor_rpm": "1800"},
        {"rotacao_motor_rpm": math.nan},
        {"rotacao_motor_rpm": 10**400},
        {"rotacao_motor_rpm": -1},
        {"extra": 1},
    ],
)
def test_the_fast_path_declines_anything_doubtful(reading):
    base = {"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 4.5, "tensao_bateria_v": 24.1}
    record = {**base, "tensao_alternador_v": 27.8, **reading}
    assert RISK_READING.matrix([{**base, "tensao_alternador_v": 27.8}]) is not None
    assert RISK_READING.matrix([record]) is None
    assert RISK_READING.matrix([base]) is None  # a field short
    assert RISK_READING.matrix([]) is None
    assert RISK_READING.matrix({"a": 1}) is None


def test_columns_follow_the_names_given_not_the_key_order():
    reading = {"tensao_alternador_v": 27.8, "tensao_bateria_v": 24.1}
    reading |= {"pressao_oleo_bar": 4.5, "rotacao_motor_rpm": 1800}
    assert RISK_READING.row(reading).tolist() == [[reading[name] for name in RISK_READING.names]]


def test_a_fast_path_stands_in_only_for_ranged_numbers():
    class Text(Schema):
        a = StrictFloat(required=True, validate=ma.validate.Range(min=0, max=1))
        b = ma.fields.String(required=True)

    class Optional(Schema):
        a = StrictFloat(required=True, validate=ma.validate.Range(min=0, max=1))
        b = StrictFloat(validate=ma.validate.Range(min=0, max=1))

    class Open(Schema):
        a = StrictFloat(required=True, validate=ma.validate.Range(min=0, max=1))
        b = StrictFloat(
            required=True, validate=ma.validate.Range(min=0, max=1, max_inclusive=False)
        )

    for schema in (Text, Optional, Open):
        with pytest.raises(TypeError):
            NumberRecords(schema)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_ANY_VALUE, max_size=5), _ANY_VALUE))
def test_numbers_accepts_only_finite_json_numbers(values):
    array = numbers(values)
    if array is None:
        return
    assert all(type(v) in (int, float) for v in values)
    assert array.tolist() == [float(v) for v in values]
    assert np.isfinite(array).all()


# The dispatching request schemas, fast path or not, load the same thing.
_READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}
_CHANNELS = EXAMPLE_READING


@pytest.fixture
def app_context():
    app = Flask(__name__)
    app.config["MAX_BATCH_SIZE"] = 10
    with app.app_context():
        yield


def _without_fast_paths(monkeypatch):
    for module in ("xgboost", "gru"):
        reading = f"pumpapi.blueprints.{module}.schemas.READING"
        monkeypatch.setattr(f"{reading}.matrix", lambda records: None)
        monkeypatch.setattr(f"{reading}.row", lambda record: None)
    monkeypatch.setattr(DeclaredFields, "load", lambda self, data: None)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (RISK_REQUEST.schema(), _READING),
        (
            RISK_REQUEST.schema(),
            {"instances": [_READING, {**_READING, "pressao_oleo_bar": 1}]},
        ),
        (HEALTH_REQUEST.schema(), _CHANNELS),
        (HEALTH_REQUEST.schema(), {"readings": [_CHANNELS] * 3}),
        (SeriesRequestSchema(), {"data": list(range(WINDOW))}),
        (SeriesRequestSchema(), {"data": [0.5] * MAX_SERIES_LENGTH, "horizon": 3}),
    ],
)
def test_fast_and_schema_paths_load_the_same(app_context, monkeypatch, schema, body):
    fast = schema.load(body)
    _without_fast_paths(monkeypatch)
    slow = schema.load(body)
    if isinstance(fast, np.ndarray):
        assert np.array_equal(fast, slow)
    elif isinstance(fast, dict):
        assert fast.keys() == slow.keys()
        assert np.array_equal(fast["data"], slow["data"]) and fast.get("horizon") == slow.get(
            "horizon"
        )
    else:
        assert np.array_equal(fast.rows, slow.rows) and fast.many == slow.many


def test_a_batch_over_the_limit_is_refused_by_the_schema(app_context):
    with pytest.raises(ma.ValidationError) as info:
        RISK_REQUEST.schema().load({"instances": [_READING] * 11})
    assert "At most 10 readings" in str(info.value.messages)


def test_the_series_fast_path_declines_a_bad_horizon(app_context):
    series = list(range(WINDOW))
    for horizon in (0, 61, True, 2.0, None):
        with pytest.raises(ma.ValidationError) as info:
            SeriesRequestSchema().load({"data": series, "horizon": horizon})
        assert "horizon" in info.value.messages


# Answers are sent as their views built them; under test the schema checks their shape.
class _Answer(ResponseSchema):
    success = ma.fields.Boolean()
    value = ma.fields.Float()


def test_a_response_schema_sends_the_answer_as_built():
    app = Flask(__name__)
    with app.app_context():
        answer = {"success": True, "value": np.float32(0.1)}
        assert _Answer().dump(answer) is answer


def test_under_test_a_response_schema_refuses_an_answer_out_of_shape():
    app = Flask(__name__)
    app.testing = True
    with app.app_context():
        assert _Answer().dump({"success": True, "value": 0.5}) == {"success": True, "value": 0.5}
        with pytest.raises(AssertionError, match="not in its documented shape"):
            _Answer().dump({"success": True, "value": 0.5, "undocumented": 1})


@_BOTH_READINGS
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_one_reading_is_judged_as_a_matrix_of_one(fast, schema, data):
    record = data.draw(st.one_of(_records(fast, True), _records(fast, False), _ANY_VALUE))
    row, matrix = fast.row(record), fast.matrix([record])
    assert (row is None) == (matrix is None)
    if row is not None:
        assert np.array_equal(row, matrix)
        _loads_as(schema, [record], row, fast.names)


# Schemas of numbers, series and whole numbers: the fast path their fields define.
class _Series(FastSchema):
    values = ma.fields.List(
        StrictFloat(validate=ma.validate.Range(min=-5, max=5)),
        required=True,
        validate=[ma.validate.Length(min=2), ma.validate.Length(max=4)],
    )
    gain = StrictFloat(validate=ma.validate.Range(min=0, max=1))
    steps = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=3))


_SERIES_SCHEMAS = pytest.mark.parametrize(
    "schema", [_Series, SeriesRequestSchema], ids=["declared here", "lstm series"]
)


def _bodies(schema: type[FastSchema]):
    """Objects of mostly the schema's fields (sometimes an extra one), each holding a list of
    any values around the lists' length bounds, or any value at all."""
    names = [*schema._declared_fields, "extra"]
    shortest, longest = (WINDOW - 2, WINDOW + 2) if schema is SeriesRequestSchema else (1, 5)
    number = st.one_of(st.floats(), st.integers(min_value=-(10**20), max_value=10**20))
    value = st.one_of(
        st.lists(number, min_size=shortest, max_size=longest),  # mostly plain numbers
        st.lists(_ANY_VALUE, max_size=longest),
        _ANY_VALUE,
        number,
    )
    return st.dictionaries(st.sampled_from(names), value, max_size=len(names))


def _marshmallow_load(schema: type[FastSchema], body: dict) -> dict:
    """What the schema loads field by field (its lists as arrays), fast path bypassed."""
    loaded = ma.Schema.load(schema(), body)
    arrays = schema.fast_path().arrays
    return {k: np.array(v, dtype=np.float64) if k in arrays else v for k, v in loaded.items()}


def _same(fast: dict, slow: dict) -> None:
    assert fast.keys() == slow.keys()
    for name, value in fast.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == slow[name].dtype and np.array_equal(value, slow[name])
        else:
            assert type(value) is type(slow[name]) and value == slow[name]


@_SERIES_SCHEMAS
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_what_a_declared_fast_path_accepts_its_schema_loads_the_same(schema, data):
    body = data.draw(_bodies(schema))
    fast = schema.fast_path().load(body)
    if fast is None:
        return  # declined: the schema loads it or words the refusal
    _same(
        fast,
        ma.Schema.load(schema(), body)
        | {
            name: np.array(value, dtype=np.float64)
            for name, value in ma.Schema.load(schema(), body).items()
            if name in schema.fast_path().arrays
        },
    )


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(min_value=-5, max_value=5), min_size=2, max_size=4),
    gain=st.none() | st.floats(min_value=0, max_value=1),
    steps=st.none() | st.integers(min_value=1, max_value=3),
)
def test_plainly_valid_bodies_take_the_declared_fast_path(values, gain, steps):
    body = {"values": values, **({"gain": gain} if gain is not None else {})}
    body |= {"steps": steps} if steps is not None else {}
    fast = _Series.fast_path().load(body)
    assert fast is not None
    _same(fast, _marshmallow_load(_Series, body))


def test_a_declared_fast_path_refuses_rules_it_cannot_check():
    class Text(FastSchema):
        a = ma.fields.String()

    class Lenient(FastSchema):
        n = ma.fields.Integer(validate=ma.validate.Range(min=1))  # "1" would load as 1

    class Exact(FastSchema):
        v = ma.fields.List(StrictFloat(validate=ma.validate.Range(min=0, max=1)),
                           validate=ma.validate.Length(equal=3))  # fmt: skip

    class Nullable(FastSchema):
        a = StrictFloat(allow_none=True, validate=ma.validate.Range(min=0, max=1))

    for schema in (Text, Lenient, Exact, Nullable):
        with pytest.raises(TypeError):
            schema.fast_path()
