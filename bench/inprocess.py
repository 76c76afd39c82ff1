"""In-process cost of each endpoint against the floor app: no sockets, no gunicorn.

Calls each app's WSGI callable with a prepared environ, as gunicorn would, so that the figure
is the app's own work per request (routing, hooks, validation, model, response). Used to
iterate on the request path quickly; `make bench` measures the real thing over HTTP.

    python -m bench.inprocess --store var/bench/models [--profile xgboost_single]
        [--var-dir var/bench]   # also the /machine/... endpoints, on the bench's database
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

from pumpapi import db

FAMILIES = ("xgboost", "gru", "lstm")


def environ(path: str, body: bytes | None = None, method: str = "POST") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": path.partition("?")[2],
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json" if body is not None else "",
        "CONTENT_LENGTH": str(len(body)) if body is not None else "",
        "HTTP_HOST": "localhost:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def caller(app: Callable, path: str, body: bytes | None) -> Callable[[], int]:
    """One request: what gunicorn does with the app's answer (status, headers, body bytes)."""
    route, _, query = path.partition("?")
    status: list[str] = []

    def start_response(s: str, headers: list, exc_info: Any = None) -> None:
        status.append(s)

    def call() -> int:
        env = environ(route, body)
        env["QUERY_STRING"] = query
        status.clear()
        result = app(env, start_response)
        size = sum(len(chunk) for chunk in result)
        if hasattr(result, "close"):
            result.close()
        if not status[0].startswith("200"):
            raise RuntimeError(f"{path}: {status[0]}")
        return size

    return call


def requests(reading: dict, gru_reading: dict, batch: int, window: int) -> dict[str, tuple]:
    return {
        "xgboost_single": ("/model/xgboost/predict", json.dumps(reading).encode()),
        "xgboost_batch": (
            "/model/xgboost/predict",
            json.dumps({"instances": [reading] * batch}).encode(),
        ),
        "gru": ("/model/gru/predict", json.dumps({"readings": [gru_reading] * window}).encode()),
        "lstm": (
            "/model/lstm/predict",
            json.dumps({"data": [round(4.0 + 0.01 * i, 3) for i in range(window)]}).encode(),
        ),
    }


def us_per_call(work: Callable[[], Any], number: int, repeat: int) -> float:
    """Best microseconds per call over `repeat` timings of `number` calls: on a shared machine
    the best is the steadiest estimate of the work itself."""
    timings = timeit.repeat(work, number=number, repeat=repeat, timer=time.thread_time)
    return min(t / number * 1e6 for t in timings)


def main() -> None:
    from bench.floor_app import create_floor_app
    from bench.run import BATCH, GRU_READING, WINDOW, XGBOOST_READING
    from pumpapi import create_app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--profile", help="an endpoint to profile with pyinstrument")
    parser.add_argument("--number", type=int, default=500)
    parser.add_argument("--var-dir", help="a bench var dir whose database to start and use")
    args = parser.parse_args()

    url, cluster = "", None
    if args.var_dir:
        from bench.run import ROOT, prepare_database

        cluster, url, _ = prepare_database((ROOT / args.var_dir).resolve(), 1, 60, 7)
    app = create_app({"MODEL_STORE": args.store, "MODEL_FAMILIES": FAMILIES, "DATABASE_URL": url})
    floor = caller(create_floor_app(), "/", b"{}")
    cases = requests(XGBOOST_READING, GRU_READING, BATCH, WINDOW)
    if url:
        cases["machine_predict"] = ("/machine/predict?machine_name=MOTOBOMBA-001", None)
        cases["machine_gru"] = ("/machine/gru/predict?machine_name=MOTOBOMBA-001", None)
    try:
        if args.profile:
            profile(app, cases[args.profile], args.number)
        else:
            compare(app, floor, cases, args.number, args.only)
    finally:
        db.store(app).close()
        if cluster is not None:
            cluster.stop()


def profile(app: Callable, case: tuple, number: int) -> None:
    from pyinstrument import Profiler

    call = caller(app, *case)
    call()
    with Profiler(interval=0.0001) as profiler:
        for _ in range(number):
            call()
    show_all = bool(os.environ.get("SHOW_ALL"))
    print(profiler.output_text(unicode=True, color=False, show_all=show_all))


def compare(app: Callable, floor: Callable, cases: dict, number: int, only: list | None) -> None:
    floor_us = us_per_call(floor, number, 7)
    print(f"{'floor':16} {floor_us:9.1f} µs")
    for name, (path, body) in cases.items():
        if only and name not in only:
            continue
        call = caller(app, path, body)
        call()
        calls = max(5, number // (100 if "batch" in name else 1))
        us = us_per_call(call, calls, 7)
        print(f"{name:16} {us:9.1f} µs  ({us / floor_us:.1f}× floor)")


if __name__ == "__main__":
    main()
