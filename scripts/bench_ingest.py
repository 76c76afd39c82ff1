"""Measure telemetry ingestion throughput (readings/s) on a throwaway local PostgreSQL.

    .venv/bin/python scripts/bench_ingest.py [--readings 200000] [--batch 50000]

Prints, per path: validation alone, storing alone (COPY + INSERT … ON CONFLICT), and the whole
POST /machine/telemetry (JSON and CSV) through the Flask app, without network.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import socket
import tempfile
import time
from pathlib import Path

import orjson
import psycopg

from pumpapi import create_app, db, readings
from pumpapi.db.ingest import ingest_batch
from pumpapi.localpg import LocalCluster
from pumpapi.telemetry import CHANNEL_NAMES

KEY = "bench-key"


def records(n: int, pumps: int, offset_min: int) -> list[dict]:
    out = []
    for i in range(n):
        minute = offset_min + i // pumps
        out.append(
            {
                "machine": f"MOTOBOMBA-{i % pumps:03d}",
                "timestamp": f"2024-01-{1 + minute // 1440:02d}T{minute % 1440 // 60:02d}:"
                f"{minute % 60:02d}:00Z",
                **dict(
                    zip(CHANNEL_NAMES, (1800.0, 82.0, 4.5, 78.0, 6.0, 1.1, 24.6, 27.8), strict=True)
                ),
            }
        )
    return out


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(readings.FIELDS)
    writer.writerows([r[f] for f in readings.FIELDS] for r in rows)
    return out.getvalue()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} readings/s ({seconds * 1000:.0f} ms for {n:,})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pumpapi-bench-"))
    root.chmod(0o711)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cluster = LocalCluster(root / "data", port)
    try:
        cluster.start()
        cluster.create_database("bench")
        url = cluster.url("bench")
        with psycopg.connect(url, autocommit=True) as conn:
            db.migrate(conn)
        batches = args.readings // args.batch
        pumps = 100
        validate_s = store_s = 0.0
        with psycopg.connect(url, autocommit=True) as conn:
            for b in range(batches):
                rows = records(args.batch, pumps, b * args.batch // pumps)
                started = time.perf_counter()
                batch = readings.from_records(rows, args.batch)
                validate_s += time.perf_counter() - started
                started = time.perf_counter()
                result = ingest_batch(conn, batch)
                store_s += time.perf_counter() - started
                assert result.inserted == args.batch
        total = batches * args.batch
        print(f"validate (JSON records)   {rate(total, validate_s)}")
        print(f"store (COPY + INSERT)     {rate(total, store_s)}")
        print(f"validate + store          {rate(total, validate_s + store_s)}")

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
        offset = batches * args.batch // pumps
        for kind in ("application/json", "text/csv"):
            elapsed = 0.0
            for b in range(batches):
                rows = records(args.batch, pumps, offset + b * args.batch // pumps)
                offset_next = offset + batches * args.batch // pumps
                if kind == "text/csv":
                    data = as_csv(rows).encode()
                else:
                    data = orjson.dumps({"readings": rows})
                started = time.perf_counter()
                response = client.post(
                    "/machine/telemetry",
                    data=data,
                    content_type=kind,
                    headers={"X-API-Key": KEY},
                )
                elapsed += time.perf_counter() - started
                assert response.status_code == 200, response.get_json()
                assert response.get_json()["inserted"] == args.batch
            offset = offset_next
            print(f"POST {kind:<20} {rate(total, elapsed)}")
        app.extensions["pumpapi.db"].close()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
