"""Query plans on a table of 100k+ readings: the store's lookups are primary-key index scans."""

import psycopg
import pytest

from pumpapi.db import copy_fleet
from pumpapi.db.store import LATEST_READINGS_SQL, MACHINES_SQL
from tests.fixtures.db import fresh_schema, pump_history

PUMPS, STEPS_PER_PUMP = 12, 9_000  # 108,000 readings


@pytest.fixture(scope="module")
def big_database_url(pg_cluster):
    with fresh_schema(pg_cluster) as url:
        fleet = [pump_history(f"MOTOBOMBA-{i:03d}", STEPS_PER_PUMP, seed=i) for i in range(PUMPS)]
        assert copy_fleet(url, fleet) == PUMPS * STEPS_PER_PUMP
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE pumps, readings")
        yield url


def plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def explain(conn, query, params=None):
    (result,) = conn.execute(b"EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
    return list(plan_nodes(result[0]["Plan"]))


def readings_scans(nodes):
    scans = [n for n in nodes if n.get("Relation Name") == "readings"]
    assert scans, "the plan does not read readings at all"
    return scans


def assert_backward_pkey_scans(scans, max_rows):
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan["Node Type"]
        assert scan["Index Name"] == "readings_pkey"
        assert scan["Scan Direction"] == "Backward"
        # It stops after the rows asked for, instead of reading a pump's whole history.
        assert scan["Actual Rows"] <= max_rows


def test_the_table_is_big_enough_for_the_planner_to_prefer_a_seq_scan_if_it_could(
    big_database_url,
):
    with psycopg.connect(big_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] >= 100_000
        nodes = explain(conn, b"SELECT avg(oil_p) FROM readings WHERE bat_v > 0")
        assert any(n["Node Type"] == "Seq Scan" for n in nodes)  # the control: no index fits


@pytest.mark.parametrize("steps", [1, 60])
def test_latest_readings_are_a_backward_primary_key_scan(big_database_url, steps):
    with psycopg.connect(big_database_url) as conn:
        query = LATEST_READINGS_SQL.encode()
        nodes = explain(conn, query, {"steps": steps, "machine": "MOTOBOMBA-005"})
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "readings" for n in nodes
    )
    assert_backward_pkey_scans(readings_scans(nodes), steps)


def test_the_generic_plan_of_the_prepared_statement_uses_the_index_too(big_database_url):
    # psycopg prepares a query run 5 times; PostgreSQL may then plan it once for any parameters.
    with psycopg.connect(big_database_url) as conn:
        text = LATEST_READINGS_SQL.encode()
        text = text.replace(b"%(steps)s", b"$1").replace(b"%(machine)s", b"$2")
        conn.execute(b"PREPARE latest(int, text) AS " + text)
        conn.execute("SET plan_cache_mode = force_generic_plan")
        nodes = explain(conn, b"EXECUTE latest(60, 'MOTOBOMBA-003')")
    assert_backward_pkey_scans(readings_scans(nodes), 60)


def test_machines_reads_two_index_entries_per_pump(big_database_url):
    with psycopg.connect(big_database_url) as conn:
        nodes = explain(conn, MACHINES_SQL.encode())
    scans = readings_scans(nodes)
    assert len(scans) == 2
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan")
        assert scan["Index Name"] == "readings_pkey"
        assert scan["Actual Rows"] <= 1 and scan["Actual Loops"] == PUMPS
    assert {scan["Scan Direction"] for scan in scans} == {"Forward", "Backward"}
