"""Measure telemetry ingestion throughput (readings/s) on a throwaway local PostgreSQL.

    .venv/bin/python scripts/bench_ingest.py [--readings 200000] [--batch 50000] [--rounds 5]

Prints the median over rounds, per path: validation alone, storing alone (the lock, stored
timestamps check and COPY of pumpapi.db.ingest; and, for comparison, the former staging table +
INSERT … ON CONFLICT), both together, a batch sent again (all already stored), and the whole
POST /machine/telemetry (JSON and CSV) through the Flask app, without network.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg

from pumpapi import create_app, db, readings
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import ingest
from pumpapi.db.ingest import ingest_batch
from pumpapi.devtools.localpg import LocalCluster

KEY = "bench-key"


def records(n: int, pumps: int, offset_min: int) -> list[dict]:
    """`n` readings of `pumps` pumps, one a minute each, from 2024-01-01 + `offset_min`."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    values = dict(zip(CHANNEL_NAMES, (1800.0, 82.0, 4.5, 78.0, 6.0, 1.1, 24.6, 27.8), strict=True))
    return [
        {
            "machine": f"MOTOBOMBA-{i % pumps:03d}",
            "timestamp": (start + dt.timedelta(minutes=offset_min + i // pumps))
            .isoformat()
            .replace("+00:00", "Z"),
            **values,
        }
        for i in range(n)
    ]


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(readings.FIELDS)
    writer.writerows([r[f] for f in readings.FIELDS] for r in rows)
    return out.getvalue()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} readings/s ({seconds * 1000:.0f} ms for {n:,})"


def staged_insert(conn: psycopg.Connection, batch: readings.TelemetryBatch) -> int:
    """The former way of storing: COPY into a staging table, then INSERT … ON CONFLICT."""
    names, index = np.unique(batch.machines.astype(str), return_inverse=True)
    with conn.transaction():
        conn.execute(ingest.CREATE_PUMPS_SQL, {"names": names.tolist()})
        ids = dict(conn.execute(ingest.PUMP_IDS_SQL, {"names": names.tolist()}).fetchall())
        pump_ids = np.array([ids[name] for name in names.tolist()], dtype=np.int32)[index]
        conn.execute(ingest.CREATE_STAGING_SQL)
        micros = batch.timestamps.astype(np.int64)
        with conn.cursor() as cur, cur.copy(ingest.COPY_STAGING_SQL) as copy:
            for chunk in ingest._copy_body(pump_ids, micros, batch.values):
                copy.write(chunk)
        return conn.execute(ingest.INSERT_SQL).rowcount


class Clock:
    """Seconds per measured step, per round."""

    def __init__(self) -> None:
        self.rounds: list[dict[str, float]] = []

    def new_round(self) -> None:
        self.rounds.append({})

    def time(self, step: str, work: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        result = work(*args)
        elapsed = time.perf_counter() - started
        self.rounds[-1][step] = self.rounds[-1].get(step, 0.0) + elapsed
        return result

    def median(self, step: str) -> float:
        return statistics.median(r[step] for r in self.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=200_000, help="per round and path")
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pumpapi-bench-"))
    root.chmod(0o711)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cluster = LocalCluster(root / "data", port)
    batches = args.readings // args.batch
    total = batches * args.batch
    pumps = 100
    # Each round and path writes its own minutes: 500 per batch of 50,000 readings.
    minutes = args.batch // pumps
    next_minute = 0

    def fresh() -> list[dict]:
        nonlocal next_minute
        rows = records(args.batch, pumps, next_minute)
        next_minute += minutes
        return rows

    try:
        cluster.start()
        cluster.create_database("bench")
        url = cluster.url("bench")
        with psycopg.connect(url, autocommit=True) as conn:
            db.migrate(conn)
        app = create_app(
            {
                "DATABASE_URL": url,
                "INGEST_API_KEYS": (KEY,),
                "MODEL_FAMILIES": (),
                "MODEL_STORE": str(root / "models"),
                "INGEST_MAX_BATCH_SIZE": args.batch,
            }
        )
        client = app.test_client()
        clock = Clock()

        def post(kind: str, data: bytes) -> None:
            response = client.post(
                "/machine/telemetry", data=data, content_type=kind, headers={"X-API-Key": KEY}
            )
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["inserted"] == args.batch

        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(args.rounds):
                clock.new_round()
                for _ in range(batches):
                    rows = fresh()
                    batch = clock.time("validate", readings.from_records, rows, len(rows))
                    result = clock.time("store", ingest_batch, conn, batch)
                    assert result.inserted == args.batch
                    again = clock.time("resend", ingest_batch, conn, batch)
                    assert again.already_stored == args.batch
                    old = readings.from_records(fresh(), args.batch)
                    assert clock.time("staged", staged_insert, conn, old) == args.batch
                    json_body = orjson.dumps({"readings": fresh()})
                    clock.time("json", post, "application/json", json_body)
                    csv_body = as_csv(fresh()).encode()
                    clock.time("csv", post, "text/csv", csv_body)
        app.extensions["pumpapi.db"].close()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    validate, store, staged = (
        clock.median("validate"),
        clock.median("store"),
        clock.median("staged"),
    )
    checked_and_stored = statistics.median(r["validate"] + r["store"] for r in clock.rounds)
    print(f"medians of {args.rounds} rounds of {total:,} readings ({args.batch:,} a batch):")
    print(f"validate (JSON records)        {rate(total, validate)}")
    print(f"store (check + COPY)           {rate(total, store)}")
    print(f"store, former staging+INSERT   {rate(total, staged)}")
    print(f"validate + store               {rate(total, checked_and_stored)}")
    print(f"batch sent again (all stored)  {rate(total, clock.median('resend'))}")
    print(f"POST application/json          {rate(total, clock.median('json'))}")
    print(f"POST text/csv                  {rate(total, clock.median('csv'))}")
    print(f"store speed-up over staging    {staged / store:.2f}x")


if __name__ == "__main__":
    main()
