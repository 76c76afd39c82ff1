"""The prediction log: every prediction recorded in PostgreSQL, off the request path.

A request that ran a model (`timed_inference` notes the family, version and time on `g`) leaves,
once answered, one entry in this process's buffer: its bodies as bytes and a few strings, a
deque append of a few µs. A thread of the process wakes every PREDICTION_LOG_FLUSH_SECONDS (or
when the buffer is half full), turns the entries into rows — a batch request gives one row per
reading, with its result — and writes them with one COPY through the writer role. Nothing here
can fail or slow a prediction: while PostgreSQL is down the rows are dropped and counted
(`pumpapi_prediction_log_dropped_total`), and a full buffer drops its oldest entry. A worker
stopping gracefully writes what it holds (`close`, from gunicorn's `worker_exit`).

The table is partitioned by day (migration 0004): the thread creates tomorrow's partition ahead
and drops those older than PREDICTION_LOG_RETENTION_DAYS, through the owner's functions.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson
import psycopg
from flask import Flask, Response, g, request
from psycopg.conninfo import conninfo_to_dict

from pumpapi.auth import SHADOW_ENVIRON
from pumpapi.db.connection import describe, to_conninfo

log = logging.getLogger(__name__)

COLUMNS = (
    "ts",
    "request_id",
    "machine",
    "family",
    "version",
    "route",
    "row_index",
    "inputs",
    "output",
    "latency_ms",
    "shadow",
)
_COPY = f"COPY predictions ({', '.join(COLUMNS)}) FROM STDIN"
#: Most bytes of bodies one process holds: a batch of 10,000 readings and its answer weigh
#: megabytes, so entries alone would not bound the memory.
MAX_BUFFER_BYTES = 64 * 2**20
#: Day partitions kept ready: yesterday (a clock a little behind), today and the next two.
_PARTITIONS_AHEAD = (-1, 4)


class Entry(NamedTuple):
    """What a request leaves in the buffer: cheap to make (a named tuple builds several times
    faster than a frozen dataclass), turned into rows by the thread."""

    #: Unix time of the answer (converted to a timestamp by the thread).
    ts: float
    request_id: str
    machine: str | None
    family: str
    version: str
    route: str
    body: bytes
    query: Mapping[str, str]
    answer: bytes
    latency_ms: float
    #: The candidate's answer to a sampled request (never sent to the client).
    shadow: bool = False


class ShadowJob(NamedTuple):
    """A sampled request to replay in process with `?version=candidate` (off the response
    path, in the log's thread)."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    content_type: str | None
    request_id: str


#: Most shadow requests a process holds: the candidate scores a sample, never a backlog.
MAX_SHADOW_JOBS = 100
CANDIDATE = "candidate"


def _loads(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"unreadable": len(data)}  # e.g. the binary tensors of the inference protocol


def _json(value: Any) -> str:
    """JSON text for a jsonb column; PostgreSQL's jsonb refuses the escape \\u0000, which a
    client's string may carry, so it becomes U+FFFD instead of failing the whole COPY."""
    return orjson.dumps(value).decode().replace("\\u0000", "\\ufffd")


def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def rows_of(entry: Entry) -> Iterator[tuple[Any, ...]]:
    """The rows of one entry: a batch (`instances` answered by `results`) one per reading, any
    other request one, whose inputs are its body (and query) and whose output is its answer.
    Fields are ready for psycopg's COPY (`write_row`, formatted in C): JSON columns as text."""
    body, answer = _loads(entry.body), _loads(entry.answer)
    ts = dt.datetime.fromtimestamp(entry.ts, dt.UTC)
    common = (
        ts, _text(entry.request_id), _text(entry.machine), entry.family, entry.version,
        _text(entry.route),
    )  # fmt: skip
    instances = body.get("instances") if isinstance(body, dict) else None
    results = answer.get("results") if isinstance(answer, dict) else None
    if isinstance(instances, list) and isinstance(results, list):
        share = entry.latency_ms / max(1, len(instances))
        for index, (reading, result) in enumerate(zip(instances, results, strict=False)):
            yield (*common, index, _json(reading), _json(result), round(share, 3), entry.shadow)
        return
    inputs: Any = body
    if entry.query:
        inputs = {"query": dict(entry.query), **({"body": body} if body is not None else {})}
    if isinstance(answer, dict):
        answer = {k: v for k, v in answer.items() if k != "success"}
    yield (*common, 0, _json(inputs), _json(answer), round(entry.latency_ms, 3), entry.shadow)


class PredictionLog:
    """One process's buffer of predictions and the thread that writes them (see the module)."""

    def __init__(self, config: Mapping[str, Any]):
        url = config.get("INGEST_DATABASE_URL") or config.get("DATABASE_URL")
        self.enabled = bool(config.get("PREDICTION_LOG")) and bool(url)
        self._conninfo = to_conninfo(url) if self.enabled else ""
        self.capacity = int(config.get("PREDICTION_LOG_BUFFER", 10_000))
        self.flush_seconds = float(config.get("PREDICTION_LOG_FLUSH_SECONDS", 1.0))
        self.retention_days = int(config.get("PREDICTION_LOG_RETENTION_DAYS", 30))
        self.shadow_share = float(config.get("SHADOW_SHARE", 0.0)) if self.enabled else 0.0
        self._shadow_jobs: deque[ShadowJob] = deque(maxlen=MAX_SHADOW_JOBS)
        #: The app whose candidate replays shadow jobs (set by init_app).
        self.app: Flask | None = None
        self._connect_timeout = int(config.get("DB_CONNECT_TIMEOUT", 2))
        self._buffer: deque[Entry] = deque()
        #: Bytes of request and answer bodies held (approximate under threads: a bound, not a
        #: ledger).
        self._bytes = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._conn: psycopg.Connection | None = None
        self._partitions_day: dt.date | None = None
        #: Rows written and dropped by this process (the metrics count them too).
        self.written = 0
        self.dropped = 0

    # -- the request path ---------------------------------------------------------------------

    def record(self, entry: Entry) -> None:
        """Buffer one answered prediction. Never blocks, never raises."""
        if self._pid != os.getpid():
            self._start()
        buffer = self._buffer
        while buffer and (len(buffer) >= self.capacity or self._bytes >= MAX_BUFFER_BYTES):
            self._forget(buffer.popleft())
            self._count_dropped(1)
        buffer.append(entry)
        self._bytes += len(entry.body) + len(entry.answer)
        if len(buffer) * 2 >= self.capacity or self._bytes * 2 >= MAX_BUFFER_BYTES:
            self._wake.set()

    def _forget(self, entry: Entry) -> None:
        self._bytes -= len(entry.body) + len(entry.answer)

    def _start(self) -> None:
        """Start this process's writer thread (after fork: a thread does not survive it)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._buffer = deque()  # what the parent held is the parent's to write
            self._bytes = 0
            self._conn = None
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="pumpapi-prediction-log", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
            self.run_shadows()

    def sample(self, job: ShadowJob) -> None:
        """Queue a request for the candidate to score (bounded: the oldest job goes)."""
        self._shadow_jobs.append(job)

    def run_shadows(self) -> int:
        """Replay the queued requests in process with `?version=candidate`: the candidate's
        answers reach the log as shadow rows beside production's (same request id), and no
        client. A replay that fails is logged and forgotten. Returns the jobs run."""
        app, jobs, done = self.app, self._shadow_jobs, 0
        if app is None:
            return 0
        client = app.test_client()
        while jobs:
            job = jobs.popleft()
            try:
                client.open(
                    job.path,
                    method=job.method,
                    query_string={**job.query, "version": CANDIDATE},
                    data=job.body,
                    content_type=job.content_type,
                    headers={"X-Request-ID": job.request_id},
                    environ_base={SHADOW_ENVIRON: True},
                )
                done += 1
            except Exception:  # the shadow must never take the worker down
                log.exception("shadow scoring of %s failed", job.path)
        return done

    def flush(self) -> int:
        """Write what the buffer holds now; returns the rows written (0 when dropped)."""
        entries = []
        buffer = self._buffer
        while buffer:
            entry = buffer.popleft()
            self._forget(entry)
            entries.append(entry)
        if not entries:
            return 0
        rows = [row for entry in entries for row in rows_of(entry)]
        try:
            self._write(rows)
        except Exception as exc:  # the log must never take a worker down
            self._count_dropped(len(rows))
            log.warning("prediction log: %d rows dropped: %s", len(rows), describe(exc))
            self._reset()
            return 0
        self.written += len(rows)
        return len(rows)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name="pumpapi-prediction-log",
                # Keep the `options` the URL may carry (e.g. a search_path).
                options=" ".join(
                    part
                    for part in (conninfo_to_dict(self._conninfo).get("options"), "-c TimeZone=UTC")
                    if part
                ),
            )
            self._partitions_day = None
        return self._conn

    def _reset(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass

    def _write(self, rows: Iterable[tuple[Any, ...]]) -> None:
        conn = self._connection()
        self._maintain_partitions(conn)
        with conn.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)

    def _maintain_partitions(self, conn: psycopg.Connection) -> None:
        """Once a day per process: the coming days' partitions, and retention."""
        today = dt.datetime.now(dt.UTC).date()
        if self._partitions_day == today:
            return
        first, last = _PARTITIONS_AHEAD
        conn.execute(
            "SELECT prediction_log_partitions(%s::date, %s::integer)",
            (today + dt.timedelta(days=first), last),
        )
        cutoff = today - dt.timedelta(days=self.retention_days)
        dropped = conn.execute("SELECT prediction_log_drop_before(%s::date)", (cutoff,)).fetchone()
        if dropped and dropped[0]:
            log.info("prediction log: %d day partitions before %s dropped", dropped[0], cutoff)
        self._partitions_day = today

    def _count_dropped(self, rows: int) -> None:
        self.dropped += rows
        from pumpapi.observability import metrics

        metrics.prediction_log_dropped(rows)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and write what is left (a worker's graceful exit)."""
        if self._pid != os.getpid():
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while self._buffer and time.monotonic() < deadline:
            if not self.flush():
                break
        self._reset()
        self._pid = None


def init_app(app: Flask) -> PredictionLog:
    """Attach this app's prediction log (its thread starts with the first prediction) and the
    hook that hands it every answered prediction."""
    prediction_log = PredictionLog(app.config)
    prediction_log.app = app
    app.extensions["pumpapi.prediction_log"] = prediction_log
    if not prediction_log.enabled:
        return prediction_log

    @app.after_request
    def _record_prediction(response: Response) -> Response:
        state = g._get_current_object()
        inference = state.get("inference")
        if inference is None or response.status_code != 200:
            return response
        req = request._get_current_object()
        environ = req.environ
        shadow = bool(environ.get(SHADOW_ENVIRON))
        # Most predictions carry no query string: parsing none saves a few µs a request.
        query = req.args.to_dict() if environ.get("QUERY_STRING") else {}
        prediction_log.record(
            Entry(
                ts=time.time(),
                request_id=state.get("request_id") or "-",
                machine=query.get("machine_name"),
                family=inference.family,
                version=inference.version,
                route=req.url_rule.rule if req.url_rule is not None else req.path,
                body=req.get_data(cache=True),
                query=query,
                answer=response.get_data(),
                latency_ms=inference.seconds * 1000.0,
                shadow=shadow,
            )
        )
        if (
            not shadow
            and prediction_log.shadow_share > 0.0
            and random.random() < prediction_log.shadow_share
        ):
            candidate = app.extensions["pumpapi.models"].alias(inference.family, CANDIDATE)
            if candidate is not None and candidate != inference.version:
                prediction_log.sample(
                    ShadowJob(
                        req.method,
                        req.path,
                        req.args.to_dict(),
                        req.get_data(cache=True),
                        req.content_type,
                        state.get("request_id") or "-",
                    )
                )
        return response

    return prediction_log


def of(app: Flask) -> PredictionLog:
    """The prediction log of `app`."""
    return app.extensions["pumpapi.prediction_log"]
