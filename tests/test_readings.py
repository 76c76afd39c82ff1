"""Batches of readings (pumpapi.readings): column by column judged as row by row."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpapi import readings
from pumpapi.channels import CHANNELS

_GOOD_ROW = {
    "machine": "MOTOBOMBA-007",
    "timestamp": "2025-09-27T13:30:00Z",
    **{c.name: f"{(c.minimum + c.maximum) / 2:g}" for c in CHANNELS},
}
#: Cell texts a CSV may hold: numbers in and out of range, and what is not a number.
_CELLS = st.one_of(
    st.floats(min_value=-10, max_value=5000).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "", " 1.5 ", "1_000", "1,5", "x", "1e400", "١٢"]),
)
_STAMPS = st.sampled_from(
    ["2025-09-27T13:30:00Z", "2025-09-27T13:31:00+00:00", "2025-09-27T13:30:00", "yesterday"]
)
_MACHINES = st.sampled_from(["MOTOBOMBA-007", "MOTOBOMBA-008", " spaced ", "", "x" * 300])


def _csv(rows: list[dict[str, str]], order: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(order)
    for row in rows:
        writer.writerow([row[name] for name in order])
    return out.getvalue()


def _judged(text: str):
    try:
        return readings.from_csv(text, limit=1000)
    except readings.BatchRejected as exc:
        return exc


def _same(a, b) -> None:
    if isinstance(a, readings.BatchRejected) or isinstance(b, readings.BatchRejected):
        assert type(a) is type(b) and a.message == b.message and a.errors == b.errors
        return
    assert a.machines.tolist() == b.machines.tolist()
    assert np.array_equal(a.timestamps, b.timestamps)
    assert np.array_equal(a.values, b.values)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_csv_columns_are_judged_as_rows_are(data):
    n = data.draw(st.integers(min_value=1, max_value=6))
    rows = []
    for _ in range(n):
        row = dict(_GOOD_ROW)
        for name in data.draw(st.sets(st.sampled_from(list(row)), max_size=3)):
            row[name] = data.draw(
                _MACHINES if name == "machine" else _STAMPS if name == "timestamp" else _CELLS
            )
        rows.append(row)
    order = data.draw(st.permutations(list(_GOOD_ROW)))
    text = _csv(rows, order)
    fast = _judged(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readings, "_valid_csv_rows", lambda rows, position: None)
        slow = _judged(text)
    _same(fast, slow)


def test_a_valid_csv_takes_the_column_path(monkeypatch):
    text = _csv([_GOOD_ROW] * 3, list(_GOOD_ROW))
    calls = []
    original = readings._valid_csv_rows
    monkeypatch.setattr(
        readings, "_valid_csv_rows", lambda *args: calls.append(1) or original(*args)
    )
    batch = readings.from_csv(text, limit=10)
    assert calls and len(batch) == 3
    assert batch.values[0].tolist() == [float(_GOOD_ROW[c.name]) for c in CHANNELS]


@pytest.mark.parametrize("cells", [["MOTOBOMBA-007"], list(_GOOD_ROW.values()) + ["extra"]])
def test_a_row_of_the_wrong_width_is_named(cells):
    text = ",".join(_GOOD_ROW) + "\n" + ",".join(_GOOD_ROW.values()) + "\n" + ",".join(cells)
    with pytest.raises(readings.BatchRejected) as info:
        readings.from_csv(text, limit=10)
    assert "1" in info.value.errors["readings"]


# The documented reading (OpenAPI) and the columnar validator: one set of rules.
_JSON_VALUES = st.one_of(
    st.floats(min_value=-60, max_value=5100),
    st.integers(min_value=-60, max_value=5100),
    st.sampled_from([float("nan"), float("inf"), True, None, "1.5", [], 10**400]),
)
_JSON_MACHINES = st.one_of(
    st.sampled_from(["MOTOBOMBA-007", " spaced", "tab\there", "", "x" * 65, "x" * 64, 7, None]),
    st.text(max_size=70),
)
_JSON_STAMPS = st.sampled_from(
    [
        "2025-09-27T13:30:00Z",
        "2025-09-27T13:31:00-03:00",
        "2025-09-27T13:30:00",  # no timezone
        "1989-12-31T23:59:59Z",  # before EARLIEST
        "2999-01-01T00:00:00Z",  # the clock far ahead
        "yesterday",
        12,
    ]
)


def _json_record(data) -> dict:
    record = {"machine": "MOTOBOMBA-007", "timestamp": "2025-09-27T13:30:00Z"}
    record |= {c.name: c.nominal for c in CHANNELS}
    for name in data.draw(st.sets(st.sampled_from([*record, "extra"]), max_size=3)):
        if data.draw(st.booleans()) and name != "extra":
            del record[name]  # a field missing
            continue
        record[name] = data.draw(
            _JSON_MACHINES
            if name == "machine"
            else _JSON_STAMPS
            if name == "timestamp"
            else _JSON_VALUES
        )
    return record


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_documented_schema_and_the_batch_accept_the_same_readings(data):
    from marshmallow import ValidationError

    from pumpapi.blueprints.telemetry.schemas import TelemetryBatchSchema

    records = [_json_record(data) for _ in range(data.draw(st.integers(1, 4)))]
    try:
        batch = readings.from_records(records, limit=100)
    except readings.BatchRejected as exc:
        with pytest.raises(ValidationError) as refused:
            TelemetryBatchSchema().load({"readings": records})
        # The same rows and fields at fault.
        faults = refused.value.messages["readings"]
        assert {(int(r), f) for r, fields in exc.errors["readings"].items() for f in fields} == {
            (r, f) for r, fields in faults.items() for f in fields
        }
        return
    loaded = TelemetryBatchSchema().load({"readings": records})["readings"]
    assert batch.machines.tolist() == [r["machine"] for r in loaded]
    assert np.array_equal(batch.values, [[r[c.name] for c in CHANNELS] for r in loaded])
