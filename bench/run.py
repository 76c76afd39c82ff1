"""`make bench`: every endpoint under gunicorn against the floor app, in interleaved rounds."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench import measure, report
from pumpapi import db
from pumpapi.devtools import simulator
from pumpapi.devtools.localpg import LocalCluster
from pumpapi.devtools.processes import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INGEST_KEY = "bench-ingest-key"
FAMILIES = ("xgboost", "gru", "lstm")
#: Training options for the bench's models: small data, same architectures and serving code
#: (the bench times predictions, not model quality), so that a clean clone trains in ~30 s.
TRAIN_OPTIONS = {
    "xgboost": ["--pumps", "60", "--steps", "20000"],
    "gru": ["--pumps", "20", "--steps", "3000", "--epochs", "2"],
    "lstm": ["--pumps", "8", "--steps", "3000", "--epochs", "2"],
}
XGBOOST_READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}
GRU_READING = {
    "Eng_RPM": 1800,
    "Cool_T": 80,
    "Oil_P": 4.2,
    "Oil_L": 78,
    "Recalque": 6.0,
    "Succao": 1.1,
    "Bat_V": 26.4,
    "Char_V": 27.2,
}
WINDOW = 60
BATCH = 1000
INGEST_ROWS = 5000
#: The fleet page's figure is for this many pumps (issue 16: under 300 ms of server time).
FLEET_PAGE_PUMPS = 200


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Endpoint:
    """One measured request shape."""

    name: str
    label: str
    method: str
    path: str
    body: Any = None
    rows_per_request: int = 1
    script: str = "post"
    random_pump: bool = False
    #: Which app serves it: `app`, or `app_nolog` (the same with the prediction log off).
    server: str = "app"


def endpoints() -> list[Endpoint]:
    """Every endpoint the issue names, with the body it is measured with."""
    lstm_series = [round(4.0 + 0.01 * i, 3) for i in range(WINDOW)]
    # The Open Inference Protocol's body of the same reading (features in FEATURE_ORDER, the
    # order the bench's model is trained in).
    v2_features = {
        "inputs": [
            {
                "name": "features",
                "datatype": "FP32",
                "shape": [1, 4],
                "data": list(XGBOOST_READING.values()),
            }
        ]
    }
    return [
        Endpoint(
            "xgboost_single", "xgboost predict (1 reading)", "POST", "/model/xgboost/predict",
            XGBOOST_READING,
        ),
        Endpoint(
            "xgboost_single_nolog", "xgboost predict (1 reading), prediction log off", "POST",
            "/model/xgboost/predict", XGBOOST_READING, server="app_nolog",
        ),
        Endpoint(
            "xgboost_batch", f"xgboost predict ({BATCH:,} readings)", "POST",
            "/model/xgboost/predict", {"instances": [XGBOOST_READING] * BATCH},
            rows_per_request=BATCH,
        ),
        Endpoint(
            "xgboost_explain", "xgboost predict (1 reading, explain=true)", "POST",
            "/model/xgboost/predict?explain=true", XGBOOST_READING,
        ),
        Endpoint(
            "v2_xgboost", "V2 xgboost infer (1 reading, JSON)", "POST",
            "/v2/models/xgboost/infer", v2_features,
        ),
        Endpoint(
            "gru", f"gru predict ({WINDOW} readings)", "POST", "/model/gru/predict",
            {"readings": [GRU_READING] * WINDOW},
        ),
        Endpoint(
            "gru_explain", f"gru predict ({WINDOW} readings, explain=true)", "POST",
            "/model/gru/predict?explain=true", {"readings": [GRU_READING] * WINDOW},
        ),
        Endpoint(
            "lstm", f"lstm predict ({WINDOW} values)", "POST", "/model/lstm/predict",
            {"data": lstm_series},
        ),
        Endpoint(
            "machine", "machine predict (DB)", "POST", "/machine/predict?machine_name={pump}",
            random_pump=True,
        ),
        Endpoint(
            "machine_gru", "machine gru predict (DB, 60 readings)", "POST",
            "/machine/gru/predict?machine_name={pump}", random_pump=True,
        ),
        Endpoint("fleet_page", "fleet page (HTML table of every pump)", "GET", "/fleet"),
        Endpoint(
            "ingest", f"ingestion ({INGEST_ROWS:,} fresh readings, CSV)", "POST",
            "/machine/telemetry", rows_per_request=INGEST_ROWS, script="ingest",
        ),
    ]  # fmt: skip


# -- database, models ----------------------------------------------------------------------


def prepare_database(
    var_dir: Path, pumps: int, steps: int, seed: int
) -> tuple[LocalCluster, str, dict]:
    """Start the cached cluster under var_dir/pg (initialised on first use) and load the fleet
    unless every pump is already there; returns the cluster, its URL and what was loaded."""
    cluster = LocalCluster(var_dir / "pg", free_port())
    cluster.ensure()
    if cluster.is_running():
        # A previous bench killed before its cleanup: its server is on some other port.
        cluster.stop()
    cluster.start()
    cluster.create_database("bench")
    url = cluster.url("bench")
    with psycopg.connect(url, autocommit=True) as conn:
        db.migrate(conn)
        # Readings of pumps left over by an interrupted ingestion run.
        conn.execute("DELETE FROM pumps WHERE name LIKE 'BENCH-%'")
        loaded = conn.execute(
            "SELECT count(*) FROM pumps WHERE name LIKE 'MOTOBOMBA-%'"
        ).fetchone()[0]
    started = time.perf_counter()
    if loaded < pumps:
        say(f"loading {pumps} pumps x {steps:,} readings (cached under {var_dir} afterwards)")

        def fleet() -> Iterator[simulator.PumpHistory]:
            # One pump at a time: the whole fleet would take ~1 GB in memory.
            for index in range(1, pumps + 1):
                yield from simulator.simulate_fleet(1, steps, seed=seed, first_index=index)

        db.copy_fleet(url, fleet())
    load_seconds = time.perf_counter() - started if loaded < pumps else None
    with psycopg.connect(url, autocommit=True) as conn:
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    say(
        f"database: {readings:,} readings"
        + (f", loaded in {load_seconds:.0f} s" if load_seconds else " (cached)")
    )
    return cluster, url, {"pumps": pumps, "readings": readings, "load_seconds": load_seconds}


def train_missing(store: Path) -> None:
    """Train each family the bench's store lacks (small data: see TRAIN_OPTIONS), and xgboost
    again when its latest version has no compiled predictor (published before it existed)."""
    from pumpapi.models.store import ModelStore

    models = ModelStore(store)
    for family in FAMILIES:
        if models.versions(family) and (
            family != "xgboost" or models.resolve(family).metadata.get("compiled_predictor")
        ):
            continue
        say(f"training {family} into {store}")
        subprocess.run(
            [str(BIN / "pumpapi"), "train", family, "--store", str(store), *TRAIN_OPTIONS[family]],
            check=True,
            cwd=ROOT,
        )


def best_us(work: Callable[[], Any], number: int, repeat: int = 5) -> dict[str, float]:
    """Microseconds per call: best and median of `repeat` timings of `number` calls."""
    times = [t / number * 1e6 for t in timeit.repeat(work, number=number, repeat=repeat)]
    return {"best_us": round(min(times), 1), "median_us": round(statistics.median(times), 1)}


def model_times(store: Path) -> dict[str, dict[str, float]]:
    """In-process time of each family's own work, without HTTP: the models' limit."""
    import numpy as np

    from pumpapi import create_app
    from pumpapi.channels import BY_NAME
    from pumpapi.models import registry
    from pumpapi.models.attribution import health_explanation, risk_explanations
    from pumpapi.models.xgboost import FEATURE_ORDER

    app = create_app({"MODEL_STORE": str(store), "MODEL_FAMILIES": FAMILIES})
    models = registry(app)
    xgboost, gru, lstm = (models.get(family) for family in FAMILIES)
    one_row = xgboost.rows_of_features(np.array([[XGBOOST_READING[n] for n in FEATURE_ORDER]]))
    # Different readings (uniform over the accepted ranges): identical rows would take the same
    # branches in every tree, flattering the compiled code's branch prediction.
    ranges = [BY_NAME[xgboost.feature_channels[name]] for name in xgboost.feature_order]
    rows_1000 = np.random.default_rng(0).uniform(
        [c.minimum for c in ranges], [c.maximum for c in ranges], size=(BATCH, len(ranges))
    )
    batch = np.repeat(one_row, BATCH, axis=0)
    window = np.array([[GRU_READING[c] for c in GRU_READING]] * WINDOW, dtype=np.float64)
    series = np.linspace(4.0, 4.6, WINDOW)
    client = app.test_client()
    body = json.dumps(XGBOOST_READING)
    times = {
        # The booster itself, whichever predictor the model serves with.
        "xgboost_inplace_predict_1": best_us(
            lambda: xgboost.booster.inplace_predict(one_row), 2000
        ),
        "xgboost_inplace_predict_1000": best_us(
            lambda: xgboost.booster.inplace_predict(rows_1000), 100
        ),
        "xgboost_predict_1": best_us(lambda: xgboost.predict(one_row), 2000),
        # What the route computes (probabilities, decisions, warnings), without HTTP.
        "xgboost_assess_1": best_us(lambda: xgboost.results(one_row), 2000),
        "xgboost_assess_1000": best_us(lambda: xgboost.results(batch), 20),
        "gru_assess_60": best_us(lambda: gru.assess(window), 500),
        # Explanations, paid only when asked: TreeSHAP of one reading, occlusion of a window.
        "xgboost_explain_1": best_us(
            lambda: risk_explanations(
                xgboost.booster, one_row, xgboost.feature_order, xgboost.feature_channels
            ),
            500,
        ),
        "gru_explain_60": best_us(lambda: health_explanation(gru, window), 100),
        "lstm_forecast_60": best_us(lambda: lstm.forecast(series), 500),
        "flask_xgboost_single_in_process": best_us(
            lambda: client.post(
                "/model/xgboost/predict", data=body, content_type="application/json"
            ),
            500,
        ),
    }
    if xgboost.predictor.kind == "tl2cgen":
        compiled = xgboost.predictor
        times["xgboost_compiled_predict_1"] = best_us(lambda: compiled(one_row), 2000)
        times["xgboost_compiled_predict_1000"] = best_us(lambda: compiled(rows_1000), 100)
    else:
        say(f"xgboost serves with XGBoost, no compiled time: {xgboost.predictor.reason}")
    return times


# -- gunicorn --------------------------------------------------------------------------------


class Gunicorn:
    """A gunicorn master started with config/gunicorn.conf.py, and its workers."""

    def __init__(self, app_spec: str, env: dict[str, str], ready_path: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_spec = app_spec
        self.env = {**env, "PUMPAPI_BIND": f"127.0.0.1:{self.port}"}
        self.ready_path = ready_path
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for `ready_path` to answer 200; returns the seconds it took."""
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", self.app_spec],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app_spec} exited: see {self.log}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"gunicorn {self.app_spec} not ready in {timeout} s: see {self.log}")

    def memory(self) -> dict[str, Any]:
        """RSS and PSS (MiB) of the master and each worker; PSS counts shared pages once."""

        def of(process: psutil.Process) -> dict[str, float]:
            info = process.memory_full_info()
            return {"rss_mib": round(info.rss / 2**20, 1), "pss_mib": round(info.pss / 2**20, 1)}

        master = psutil.Process(self.process.pid)
        workers = [of(child) for child in master.children()]
        own = of(master)
        return {
            "master": own,
            "workers": workers,
            "total_pss_mib": round(own["pss_mib"] + sum(w["pss_mib"] for w in workers), 1),
            "total_rss_mib": round(own["rss_mib"] + sum(w["rss_mib"] for w in workers), 1),
        }

    def settle(self, timeout: float = 15.0) -> float:
        """Wait until the server answers /health fast again: a load run's last requests (a
        backlog of ingestion batches) must not be served during the next run. Returns the
        seconds waited."""
        started = time.perf_counter()
        quick = 0
        while quick < 3 and time.perf_counter() - started < timeout:
            sent = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=timeout):
                    pass
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            quick = quick + 1 if time.perf_counter() - sent < 0.005 else 0
            time.sleep(0.05)
        return time.perf_counter() - started

    def stop(self) -> None:
        stop_process(self.process)


# -- wrk ---------------------------------------------------------------------------------------


class Load:
    """Runs wrk against the app and the floor; request bodies are written once to files."""

    def __init__(
        self, workdir: Path, app_urls: dict[str, str], floor_url: str, pumps: int, duration: int
    ):
        self.workdir = workdir
        self.app_urls = app_urls
        self.floor_url = floor_url
        self.pumps = pumps
        self.duration = duration
        self.ingest_runs = 0

    def _wrk(self, url: str, script: str, args: list[str], connections: int, seconds: int):
        command = [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "-s", f"bench/lua/{script}.lua", url, "--", *args,
        ]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        return measure.parse_wrk(done.stdout + done.stderr)

    def floor(self, connections: int) -> measure.WrkResult:
        return self._wrk(self.floor_url + "/", "post", ["GET", "-"], connections, self.duration)

    def endpoint(
        self, endpoint: Endpoint, connections: int, seconds: int | None = None
    ) -> measure.WrkResult:
        seconds = seconds or self.duration
        url = self.app_urls[endpoint.server] + endpoint.path
        if endpoint.script == "ingest":
            # A new run number, so that no request resends readings an earlier run stored.
            self.ingest_runs += 1
            args = [INGEST_KEY, str(self.ingest_runs), str(endpoint.rows_per_request)]
            return self._wrk(url, "ingest", args, connections, seconds)
        body_file = "-"
        if endpoint.body is not None:
            body_path = self.workdir / f"{endpoint.name}.json"
            body_path.write_text(json.dumps(endpoint.body))
            body_file = str(body_path)
        args = [endpoint.method, body_file]
        if endpoint.random_pump:
            args.append(str(self.pumps))
        return self._wrk(url, "post", args, connections, seconds)


def profile_xgboost(master_pid: int, load: Load, workdir: Path, seconds: int) -> dict[str, Any]:
    """py-spy samples of both workers while wrk drives xgboost single predict at c16."""
    raw = workdir / "xgboost.collapsed"
    spy = subprocess.Popen(
        [
            str(BIN / "py-spy"), "record", "--pid", str(master_pid), "--subprocesses",
            "--duration", str(seconds), "--rate", "250", "--format", "raw", "--nonblocking",
            "--output", str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    time.sleep(0.5)
    load.endpoint(endpoints()[0], 16, seconds + 1)
    _, errors = spy.communicate(timeout=seconds + 30)
    if not raw.exists():
        return {"error": errors.strip()[-500:]}
    return measure.top_frames(raw.read_text(), limit=15)


# -- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare, measure, and return every figure (written to JSON and rendered by main)."""
    began = time.perf_counter()
    var_dir = (ROOT / args.var_dir).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    store = var_dir / "models"
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_before": list(os.getloadavg())},
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "workers": 2,
            "wrk_threads": 1,
        },
    }
    cluster, url, results["fleet"] = prepare_database(var_dir, args.pumps, args.steps, args.seed)
    servers: list[Gunicorn] = []
    try:
        train_missing(store)
        say("timing the models in process")
        results["model_time"] = model_times(store)
        from bench import fleet_page  # it imports this module

        say(f"timing /fleet on {FLEET_PAGE_PUMPS} pumps reporting now (database 'fleet')")
        results["fleet_page"] = fleet_page.measure(cluster, store, FLEET_PAGE_PUMPS)
        say(f"fleet page server time: {results['fleet_page']}")
        workdir = Path(tempfile.mkdtemp(prefix="pumpapi-bench-"))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PUMPAPI_MODEL_STORE": str(store),
            "PUMPAPI_WORKERS": "2",
            "PUMPAPI_LOG_LEVEL": "warning",
            "PUMPAPI_INGEST_API_KEYS": INGEST_KEY,
        }
        env.pop("PUMPAPI_ACCESS_LOG", None)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env["PUMPAPI_PREDICTION_LOG"] = "true"
        app = Gunicorn("wsgi:app", env, "/health/ready", workdir / "app.log")
        floor = Gunicorn("bench.floor_app:app", env, "/", workdir / "floor.log")
        servers += [app, floor]
        results["start_to_ready_s"] = {
            "app": round(app.start(), 2),
            "floor": round(floor.start(), 2),
        }
        say(f"app ready in {results['start_to_ready_s']['app']} s; logs in {workdir}")
        chosen = [e for e in endpoints() if not args.only or e.name in args.only]
        urls = {"app": app.url}
        if any(e.server == "app_nolog" for e in chosen):
            # The same app with the prediction log off: what the log costs on the hot path.
            nolog = Gunicorn(
                "wsgi:app",
                {**env, "PUMPAPI_PREDICTION_LOG": "false"},
                "/health/ready",
                workdir / "app-nolog.log",
            )
            servers.append(nolog)
            nolog.start()
            urls["app_nolog"] = nolog.url
        load = Load(workdir, urls, floor.url, args.pumps, args.duration)
        runs: dict[str, dict[str, list]] = {
            f"{e.name}@c{c}": {"endpoint": [], "floor": []}
            for e in chosen
            for c in args.connections
        }
        for round_number in range(1, args.rounds + 1):
            for endpoint in chosen:
                for connections in args.connections:
                    # Back to back, so the ratio of the pair sees the same machine.
                    key = f"{endpoint.name}@c{connections}"
                    runs[key]["floor"].append(load.floor(connections))
                    runs[key]["endpoint"].append(load.endpoint(endpoint, connections))
                    app.settle()
                    pair = runs[key]
                    say(
                        f"round {round_number} {key}: {pair['endpoint'][-1].rps:,.0f} req/s, "
                        f"floor {pair['floor'][-1].rps:,.0f} req/s, "
                        f"p99 {pair['endpoint'][-1].p99_ms:.1f} ms"
                    )
        by_name = {e.name: e for e in chosen}
        results["endpoints"] = []
        for key, pair in runs.items():
            name, connections = key.split("@c")
            summary = measure.paired_summary(
                pair["endpoint"], pair["floor"], by_name[name].rows_per_request
            )
            results["endpoints"].append(
                {
                    "name": name,
                    "label": by_name[name].label,
                    "connections": int(connections),
                    "summary": summary.__dict__,
                    "rounds": [
                        {"endpoint": e.as_dict(), "floor": f.as_dict()}
                        for e, f in zip(pair["endpoint"], pair["floor"], strict=True)
                    ],
                }
            )
        if args.sustained:
            say(f"sustained: xgboost predict at c16 for {args.sustained} s")
            windows = [
                load.endpoint(endpoints()[0], 16, args.sustained // 5).as_dict() for _ in range(5)
            ]
            results["sustained"] = {
                "seconds": args.sustained,
                "windows": windows,
                "p99_trend": measure.trend(w["p99_ms"] for w in windows),
            }
        results["memory"] = {"app": app.memory(), "floor": floor.memory()}
        if args.profile:
            say(f"profiling xgboost predict with py-spy for {args.profile} s")
            results["profile"] = profile_xgboost(app.process.pid, load, workdir, args.profile)
    finally:
        for server in servers:
            server.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            # The cached fleet stays as loaded: the next run measures the same table.
            conn.execute("DELETE FROM pumps WHERE name LIKE 'BENCH-%'")
        cluster.stop()
    results["machine"]["load_after"] = list(os.getloadavg())
    results["wall_seconds"] = round(time.perf_counter() - began, 1)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pumps", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50_000, help="readings per pump")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--sustained", type=int, default=75, help="seconds; 0 to skip")
    parser.add_argument("--profile", type=int, default=8, help="seconds of py-spy; 0 to skip")
    parser.add_argument("--only", nargs="*", help="endpoint names (default: all)")
    parser.add_argument("--var-dir", default="var/bench")
    parser.add_argument("--results", default="bench/results")
    parser.add_argument("--docs", default="docs", help="where benchmarks.md and its plots go")
    args = parser.parse_args(argv)
    results = run(args)
    out = ROOT / args.results / f"{results['date'][:10]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    say(f"results in {out}")
    docs = ROOT / args.docs
    written = report.write(results, docs, results_path=os.path.relpath(out, docs))
    say(f"report in {written}; bench took {results['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
