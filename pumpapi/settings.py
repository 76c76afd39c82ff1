"""Importable defaults for every PumpAPI setting, each overridable from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _tuple_of_str(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Setting:
    """One configuration key: its Flask config name, environment variable, default and meaning."""

    key: str
    env: str
    default: Any
    parse: Callable[[str], Any]
    doc: str


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
        "Directory of the model store (one folder per family and version).",
    ),
    Setting(
        "MODEL_FAMILIES",
        "PUMPAPI_MODEL_FAMILIES",
        ("xgboost",),
        _tuple_of_str,
        "Comma-separated model families loaded at start; each serves its `latest` version.",
    ),
    Setting(
        "PREDICT_THREADS",
        "PUMPAPI_PREDICT_THREADS",
        1,
        int,
        "Threads per prediction call. 1 is fastest for single requests on shared cores.",
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


def markdown_table() -> str:
    """Every setting as a Markdown table (the README's configuration section)."""
    rows = ["| setting | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = ",".join(s.default) if isinstance(s.default, tuple) else s.default
        default = "(unset)" if default is None else f"`{default}`"
        rows.append(f"| `{s.key}` | `{s.env}` | {default} | {s.doc} |")
    return "\n".join(rows)
