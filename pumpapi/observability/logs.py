"""Logging: JSON lines (production) or plain text (development), and the per-request line.

The format is chosen by PUMPAPI_LOG_FORMAT (`json`, the default, or `text`); gunicorn applies
`logging_config()` in its master before the app is loaded, so the app, gunicorn and libraries
all log through the same handler.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pythonjsonlogger.json import JsonFormatter

#: The logger of the one-line-per-request log.
REQUEST_LOGGER = "pumpapi.request"
LOG_FORMATS = ("json", "text")

log = logging.getLogger(REQUEST_LOGGER)


class LogRecordFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, process id, the record's
    `extra` fields, and the traceback (`exc_info`) of an error."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "process": "pid",
            },
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        )


TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


def logging_config(
    fmt: str = "json", level: str = "info", *, access_log: bool = False
) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary: one stderr handler in `fmt` for everything.

    gunicorn's own loggers propagate to it too, so its messages share the format. Its access
    log repeats the app's request line, so it is silenced unless `access_log`.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, not {fmt!r}")
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": LogRecordFormatter},
            "text": {"format": TEXT_FORMAT},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            # gunicorn configures handlers of its own on these: none, they propagate to root.
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {
                "level": "INFO" if access_log else "WARNING",
                "handlers": [],
                "propagate": True,
            },
        },
    }


def request_log_enabled() -> bool:
    """Whether the per-request line is logged (LOG_LEVEL info or lower)."""
    return log.isEnabledFor(logging.INFO)


def log_request(
    *, request_id: str, method: str, route: str | None, path: str, status: int, duration: float
) -> None:
    """The one line logged per request (fields are `extra`, so JSON logs carry them as keys)."""
    if not log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(duration * 1000, 2)
    log.info(
        "%s %s %s %.1f ms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "request_id": request_id,
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "worker_pid": os.getpid(),
        },
    )
