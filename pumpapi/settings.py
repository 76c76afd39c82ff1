"""Importable defaults for every PumpAPI setting, each overridable from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _tuple_of_str(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false")


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return lowered

    return parse


@dataclass(frozen=True)
class Setting:
    """One configuration key: its Flask config name, environment variable, default and meaning."""

    key: str
    env: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    #: Never shown by `pumpapi settings` (API keys, URLs holding a password).
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "DATABASE_URL",
        None,
        str,
        "PostgreSQL holding the telemetry, as a libpq URL (`postgresql://…`) or SQLAlchemy-style "
        "(`postgresql+psycopg2://…`). Unset: the endpoints that need it answer 503.",
    ),
    Setting(
        "MODEL_STORE",
        "PUMPAPI_MODEL_STORE",
        "var/models",
        str,
        "The model store: a directory (one folder per family and version), or S3-compatible "
        "object storage as `s3://bucket/prefix` (served through MODEL_CACHE).",
    ),
    Setting(
        "MODEL_CACHE",
        "PUMPAPI_MODEL_CACHE",
        "var/model-cache",
        str,
        "With MODEL_STORE in object storage (`s3://bucket/prefix`, any S3-compatible endpoint "
        "through AWS_ENDPOINT_URL and the usual AWS credentials): the local folder holding the "
        "versions pulled, each verified against its sha256 before use.",
    ),
    Setting(
        "MODEL_WATCH_SECONDS",
        "PUMPAPI_MODEL_WATCH_SECONDS",
        10.0,
        float,
        "How often gunicorn's store watcher looks for new versions and moved aliases (then the "
        "models reload and the workers are replaced gracefully, without a restart); 0: never.",
    ),
    Setting(
        "MODEL_FAMILIES",
        "PUMPAPI_MODEL_FAMILIES",
        ("xgboost", "gru", "lstm"),
        _tuple_of_str,
        "Comma-separated model families loaded at start; each serves its `latest` version.",
    ),
    Setting(
        "TF_BACKEND",
        "PUMPAPI_TF_BACKEND",
        "litert",
        str,
        "How the TensorFlow families (gru, lstm) run: `litert` (the converted artifact, no "
        "TensorFlow in the process) or `tensorflow` (the Keras model, loaded in each worker on "
        "its first prediction; needs the `train` extra).",
    ),
    Setting(
        "PREDICT_THREADS",
        "PUMPAPI_PREDICT_THREADS",
        1,
        int,
        "Threads per prediction call. 1 is fastest for single requests on shared cores.",
    ),
    Setting(
        "XGBOOST_PREDICTOR",
        "PUMPAPI_XGBOOST_PREDICTOR",
        "auto",
        _one_of("auto", "xgboost", "compiled"),
        "What computes the xgboost family's probabilities: `auto` (the version's compiled "
        "library when it loads here and equals XGBoost on the probe rows, else XGBoost), "
        "`xgboost` (always XGBoost's `inplace_predict`) or `compiled` (the library, or the "
        "family is not ready and /health/ready says why).",
    ),
    Setting(
        "MAX_BATCH_SIZE",
        "PUMPAPI_MAX_BATCH_SIZE",
        10_000,
        int,
        "Most readings accepted in one batch request (`instances`).",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        "PUMPAPI_MAX_CONTENT_LENGTH",
        2 * 1024 * 1024,
        int,
        "Largest request body in bytes; larger bodies get 413.",
    ),
    Setting(
        "DB_POOL_MIN_SIZE",
        "PUMPAPI_DB_POOL_MIN_SIZE",
        1,
        int,
        "Connections each worker keeps open.",
    ),
    Setting(
        "DB_POOL_MAX_SIZE",
        "PUMPAPI_DB_POOL_MAX_SIZE",
        4,
        int,
        "Most connections one worker opens.",
    ),
    Setting(
        "DB_POOL_TIMEOUT",
        "PUMPAPI_DB_POOL_TIMEOUT",
        1.0,
        float,
        "Seconds a request waits for a connection before answering 503.",
    ),
    Setting(
        "DB_CONNECT_TIMEOUT",
        "PUMPAPI_DB_CONNECT_TIMEOUT",
        2,
        int,
        "Seconds to establish a new connection.",
    ),
    Setting(
        "DB_STATEMENT_TIMEOUT_MS",
        "PUMPAPI_DB_STATEMENT_TIMEOUT_MS",
        2000,
        int,
        "Longest a query may run (ms); a slower one answers 503 instead of holding a worker.",
    ),
    Setting(
        "RETRY_AFTER_SECONDS",
        "PUMPAPI_RETRY_AFTER_SECONDS",
        5,
        int,
        "Value of `Retry-After` on 503 answers.",
    ),
    Setting(
        "INGEST_API_KEYS",
        "PUMPAPI_INGEST_API_KEYS",
        (),
        _tuple_of_str,
        "Comma-separated API keys allowed to send telemetry (`X-API-Key`). Unset: ingestion is "
        "refused (403).",
        secret=True,
    ),
    Setting(
        "READ_API_KEYS",
        "PUMPAPI_READ_API_KEYS",
        (),
        _tuple_of_str,
        "Comma-separated API keys required on every other endpoint (ingest keys work too), "
        "except health checks, the docs and /metrics (kept internal by nginx). "
        "Unset: reads are open.",
        secret=True,
    ),
    Setting(
        "CORS_ORIGINS",
        "PUMPAPI_CORS_ORIGINS",
        (),
        _tuple_of_str,
        "Comma-separated origins (e.g. https://dashboard.example.com) whose browser pages may "
        "call the API (CORS). Unset: no CORS headers, browsers keep other origins out.",
    ),
    Setting(
        "INGEST_DATABASE_URL",
        "PUMPAPI_INGEST_DATABASE_URL",
        None,
        str,
        "PostgreSQL URL of the writer role used by ingestion, so that DATABASE_URL can name a "
        "read-only role. Unset: ingestion uses DATABASE_URL.",
        secret=True,
    ),
    Setting(
        "INGEST_MAX_BATCH_SIZE",
        "PUMPAPI_INGEST_MAX_BATCH_SIZE",
        50_000,
        int,
        "Most readings accepted in one telemetry batch (POST /machine/telemetry).",
    ),
    Setting(
        "INGEST_MAX_CONTENT_LENGTH",
        "PUMPAPI_INGEST_MAX_CONTENT_LENGTH",
        16 * 1024 * 1024,
        int,
        "Largest telemetry batch body in bytes (other endpoints: MAX_CONTENT_LENGTH).",
    ),
    Setting(
        "INGEST_STATEMENT_TIMEOUT_MS",
        "PUMPAPI_INGEST_STATEMENT_TIMEOUT_MS",
        20_000,
        int,
        "Longest a telemetry batch may take to write (ms) before answering 503.",
    ),
    Setting(
        "PREDICTION_LOG",
        "PUMPAPI_PREDICTION_LOG",
        True,
        _bool,
        "Record every prediction (inputs, output, version, latency) in PostgreSQL's `predictions` "
        "table, off the request path, through INGEST_DATABASE_URL's writer role (else "
        "DATABASE_URL). Needs a database; never fails or delays a prediction.",
    ),
    Setting(
        "PREDICTION_LOG_BUFFER",
        "PUMPAPI_PREDICTION_LOG_BUFFER",
        10_000,
        int,
        "Most predictions a worker holds before writing them (and 64 MiB of bodies at most); "
        "beyond, the oldest are dropped and counted.",
    ),
    Setting(
        "PREDICTION_LOG_FLUSH_SECONDS",
        "PUMPAPI_PREDICTION_LOG_FLUSH_SECONDS",
        1.0,
        float,
        "How often each worker writes its buffered predictions (one COPY).",
    ),
    Setting(
        "PREDICTION_LOG_RETENTION_DAYS",
        "PUMPAPI_PREDICTION_LOG_RETENTION_DAYS",
        30,
        int,
        "Days of predictions kept: older day partitions are dropped.",
    ),
    Setting(
        "SHADOW_SHARE",
        "PUMPAPI_SHADOW_SHARE",
        0.0,
        float,
        "Share of predictions (0 to 1) the family's `candidate` version, when one is loaded, "
        "also scores off the response path; its answers are recorded in the prediction log "
        "beside production's (`shadow`), never sent. 0: no shadow scoring.",
    ),
    Setting(
        "LOG_FORMAT",
        "PUMPAPI_LOG_FORMAT",
        "json",
        str,
        "Log lines as `json` (one object per line: production, log shippers) or `text` "
        "(development). Read by config/gunicorn.conf.py.",
    ),
    Setting(
        "LOG_LEVEL",
        "PUMPAPI_LOG_LEVEL",
        "info",
        str,
        "Level of the logs (`debug`, `info`, `warning`, `error`).",
    ),
    Setting(
        "METRICS_ENABLED",
        "PUMPAPI_METRICS_ENABLED",
        True,
        _bool,
        "Serve Prometheus metrics at /metrics (keep it internal: nginx refuses it from outside).",
    ),
)


def defaults() -> dict[str, Any]:
    """The package defaults, keyed by Flask config name."""
    return {s.key: s.default for s in SETTINGS}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings given in the environment, parsed; unset variables are left out."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            continue
        try:
            found[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{setting.env}={raw!r} is not valid: {exc}") from exc
    return found


def effective(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings a process runs with when nothing overrides them: defaults < environment."""
    return {**defaults(), **from_env(environ)}


def markdown_table() -> str:
    """Every setting as a Markdown table (the README's configuration section)."""
    rows = ["| setting | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = s.default
        if isinstance(default, tuple):
            default = ",".join(default)
        elif isinstance(default, bool):
            default = str(default).lower()
        default = "(unset)" if default in (None, "") else f"`{default}`"
        rows.append(f"| `{s.key}` | `{s.env}` | {default} | {s.doc} |")
    return "\n".join(rows)
