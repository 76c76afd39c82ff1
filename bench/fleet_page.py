"""Server time of the fleet table for a fleet reporting now, in process (no sockets).

    python -m bench.fleet_page [--pumps 200] [--var-dir var/bench-fleet]

The bench's own fleet (10M readings) is months old: every pump would be stale and the day's
trend would find no readings. This loads `--pumps` pumps with a day of readings ending now
(cached in the database "fleet", reloaded when older than an hour), so the trend is computed
on demand for every pump, and times /fleet through the app's own Server-Timing header: the
first request (cold: pool, caches), then the median of ten. `make bench` runs `measure` on its
own cluster; alone, models are the bench's (trained into --var-dir/models when missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

from bench.run import train_missing
from pumpapi import create_app, db
from pumpapi.devtools import simulator
from pumpapi.devtools.localpg import LocalCluster
from pumpapi.devtools.processes import free_port


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pumps", type=int, default=200)
    parser.add_argument("--var-dir", type=Path, default=Path("var/bench-fleet"))
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args(argv)
    store = args.var_dir / "models"
    train_missing(store)
    cluster = LocalCluster(args.var_dir / "pg", free_port())
    cluster.ensure()
    if cluster.is_running():
        cluster.stop()
    cluster.start()
    try:
        result = measure(cluster, store, args.pumps, args.requests)
    finally:
        cluster.stop()
    print(json.dumps(result), file=sys.stdout)
    return result


def measure(cluster: LocalCluster, store: Path, pumps: int = 200, requests: int = 10) -> dict:
    """Load (or reuse) `pumps` pumps reporting now into the running cluster's database
    "fleet", then time /fleet in process: the first request and the median of `requests`."""
    cluster.create_database("fleet")
    url = cluster.url("fleet")
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with psycopg.connect(url, autocommit=True) as conn:
        db.migrate(conn)
        latest = conn.execute("SELECT max(ts) FROM readings").fetchone()[0]
        loaded = conn.execute("SELECT count(*) FROM pumps").fetchone()[0]
        if latest is None or now - latest > dt.timedelta(hours=1) or loaded != pumps:
            conn.execute("TRUNCATE pumps CASCADE")
            latest = None
    if latest is None:
        start = now - dt.timedelta(minutes=1439)
        db.copy_fleet(url, simulator.simulate_fleet(pumps, 1440, seed=0, start=start))
    app = create_app({"DATABASE_URL": url, "MODEL_STORE": str(store), "PREDICTION_LOG": False})
    client = app.test_client()

    def server_ms() -> tuple[float, float]:
        """(server time, this thread's CPU time) of one /fleet, in ms: the difference is
        time spent waiting, mostly for PostgreSQL (and for the CPU on a busy machine)."""
        started = time.thread_time()
        answer = client.get("/fleet")
        assert answer.status_code == 200, answer.status_code
        cpu = (time.thread_time() - started) * 1000
        return float(answer.headers["Server-Timing"].partition("dur=")[2]), cpu

    try:
        cold = server_ms()
        warm = [server_ms() for _ in range(requests)]
    finally:
        db.store(app).close()
    return {
        "pumps": pumps,
        "cold_ms": round(cold[0], 1),
        "warm_ms": round(statistics.median(w for w, _ in warm), 1),
        "warm_max_ms": round(max(w for w, _ in warm), 1),
        "warm_cpu_ms": round(statistics.median(c for _, c in warm), 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    main()
