"""Bulk loading with COPY (pumpapi.db.fleet.copy_fleet): exact, idempotent, resumable."""

import datetime as dt

import numpy as np
import psycopg
import pytest
from psycopg import sql

from pumpapi.channels import CHANNEL_COLUMNS
from pumpapi.db import TelemetryStore, copy_fleet
from pumpapi.devtools import simulator
from tests.fixtures.db import PumpHistory, pump_history

SELECT_ALL = sql.SQL(
    "SELECT p.name, extract(epoch FROM r.ts)::bigint, {} FROM readings AS r"
    " JOIN pumps AS p ON p.id = r.pump_id ORDER BY p.name, r.ts"
).format(sql.SQL(", ").join(sql.Identifier("r", c) for c in CHANNEL_COLUMNS))


def stored(url):
    with psycopg.connect(url) as conn:
        return conn.execute(SELECT_ALL).fetchall()


def expected(*histories):
    rows = []
    for h in sorted(histories, key=lambda h: h.name):
        seconds = h.timestamps.astype("datetime64[s]").astype(np.int64).tolist()
        rows += [
            (h.name, s, *values) for s, values in zip(seconds, h.readings.tolist(), strict=True)
        ]
    return rows


def test_copy_stores_every_value_and_timestamp_exactly(database_url):
    fleet = [pump_history("MOTOBOMBA-002", 40, seed=2), pump_history("MOTOBOMBA-001", 25, seed=1)]
    fleet[0].readings[3] = [0.1, -50.0, 1e-9, 99.999999999, 1e6, -1.0, 0.0, 27.8]
    assert copy_fleet(database_url, fleet) == 65
    assert stored(database_url) == expected(*fleet)


def test_copy_is_idempotent(database_url):
    fleet = [pump_history(f"MOTOBOMBA-{i:03d}", 30, seed=i) for i in range(3)]
    assert copy_fleet(database_url, fleet) == 90
    assert copy_fleet(database_url, fleet) == 0
    assert stored(database_url) == expected(*fleet)


def test_an_interrupted_load_is_completed_by_a_rerun(database_url):
    full = pump_history("MOTOBOMBA-001", 100, seed=1)
    other = pump_history("MOTOBOMBA-002", 10, seed=2)
    half = PumpHistory(full.name, full.timestamps[:60], full.readings[:60])
    assert copy_fleet(database_url, [half]) == 60
    assert copy_fleet(database_url, [full, other]) == 40 + 10
    assert stored(database_url) == expected(full, other)


def test_a_connection_can_be_given_and_stays_open(database_url):
    with psycopg.connect(database_url) as conn:
        assert copy_fleet(conn, [pump_history("MOTOBOMBA-001", 5)]) == 5
        assert not conn.closed
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 5


def test_a_sqlalchemy_style_url_is_accepted(database_url):
    url = database_url.replace("postgresql://", "postgresql+psycopg2://")
    assert copy_fleet(url, [pump_history("MOTOBOMBA-001", 5)]) == 5


def test_a_history_of_the_wrong_shape_is_refused_and_nothing_is_stored(database_url):
    bad = pump_history("MOTOBOMBA-001", 10)
    bad.readings = bad.readings[:, :7]
    with pytest.raises(ValueError, match="Eng_RPM, Cool_T"):
        copy_fleet(database_url, [bad])
    naive = pump_history("MOTOBOMBA-002", 10)
    naive.timestamps = naive.timestamps.astype(np.int64)
    with pytest.raises(TypeError, match="datetime64"):
        copy_fleet(database_url, [naive])
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0


def test_a_simulated_fleet_loads_and_reads_back(database_url):
    fleet = simulator.simulate_fleet(2, 120, seed=3)
    assert copy_fleet(database_url, fleet) == 240
    assert copy_fleet(database_url, fleet) == 0
    store = TelemetryStore({"DATABASE_URL": database_url, **_pool_settings()})
    try:
        for pump in fleet:
            window = store.latest_window(pump.name, 60)
            np.testing.assert_array_equal(window.values, pump.readings[-60:])
    finally:
        store.close()


def _pool_settings():
    from pumpapi import settings

    return {k: v for k, v in settings.defaults().items() if k.startswith("DB_")}


def test_a_simulated_fleet_brings_its_failures_and_inspections_as_events(database_url):
    import dataclasses

    import psycopg

    from pumpapi.db import copy_fleet, to_conninfo
    from pumpapi.devtools import simulator

    physics = dataclasses.replace(
        simulator.DEFAULT_PHYSICS,
        fault_rate_per_day={
            k: 8 * v for k, v in simulator.DEFAULT_PHYSICS.fault_rate_per_day.items()
        },
    )
    fleet = simulator.simulate_fleet(6, 8_000, seed=3, physics=physics)
    expected = sum(len(set(map(int, h.failures))) for h in fleet)
    assert expected > 0
    copy_fleet(to_conninfo(database_url), fleet)
    copy_fleet(to_conninfo(database_url), fleet)  # a re-run adds nothing
    with psycopg.connect(database_url) as conn:
        kinds = conn.execute("SELECT kind, cause FROM events WHERE kind = 'failure'").fetchall()
        inspections = conn.execute(
            "SELECT p.name, e.ts, e.lubrificacao, e.hidraulico FROM events e"
            " JOIN pumps p ON p.id = e.pump_id WHERE e.kind = 'inspection' ORDER BY p.name, e.ts"
        ).fetchall()
    assert len(kinds) == expected
    assert {cause for _, cause in kinds} <= set(simulator.FAULT_KINDS) | {"other"}
    # An inspection every 12 h of each pump's 8,000 minutes (5.6 days): 11 each, measuring the
    # simulator's own indices at that moment.
    assert len(inspections) == 6 * 11
    by_name = {h.name: h for h in fleet}
    for name, ts, lubrication, hydraulic in inspections[:11]:
        history = by_name[name]
        utc = ts.astimezone(dt.UTC).replace(tzinfo=None)
        step = int(np.searchsorted(history.timestamps, np.datetime64(utc, "us")))
        assert lubrication == pytest.approx(history.lubrication_health[step], abs=0.05)
        assert hydraulic == pytest.approx(history.hydraulic_health[step], abs=0.05)
