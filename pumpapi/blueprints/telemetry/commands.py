"""`pumpapi telemetry load FILE`: store a CSV or JSON file of readings, as the API would."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup

from pumpapi import readings
from pumpapi.db.commands import configured_conninfo
from pumpapi.db.connection import describe
from pumpapi.db.ingest import ingest_batch

telemetry = AppGroup("telemetry", help="Pump readings in the telemetry database.")


def _read(path: Path, fmt: str) -> readings.TelemetryBatch:
    text = path.read_text(encoding="utf-8")
    if fmt == "auto":
        fmt = "json" if path.suffix.lower() == ".json" else "csv"
    if fmt == "csv":
        return readings.from_csv(text, sys.maxsize)
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from exc
    records = body.get("readings") if isinstance(body, dict) else body
    return readings.from_records(records, sys.maxsize)


@telemetry.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "json"]),
    default="auto",
    show_default=True,
    help='File format; auto: .json is JSON (a list, or {"readings": [...]}), else CSV.',
)
def load(file: Path, fmt: str) -> None:
    """Validate FILE whole, then store its readings in one transaction (idempotent).

    Uses INGEST_DATABASE_URL (the writer role) if set, else DATABASE_URL. A file with any
    invalid row stores nothing and lists the rows at fault.
    """
    conninfo = configured_conninfo("INGEST_DATABASE_URL", "DATABASE_URL")
    started = time.perf_counter()
    try:
        batch = _read(file, fmt)
    except readings.BatchRejected as exc:
        rows = (exc.errors or {}).get("readings")
        details = json.dumps(rows, ensure_ascii=False, indent=1) if isinstance(rows, dict) else ""
        raise click.ClickException(f"{exc.message}\n{details}".rstrip()) from exc
    timeout = int(current_app.config["DB_CONNECT_TIMEOUT"])
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout, autocommit=True) as conn:
            result = ingest_batch(conn, batch)
    except psycopg.Error as exc:
        raise click.ClickException(f"Nothing was stored: {describe(exc)}") from exc
    elapsed = time.perf_counter() - started
    click.echo(
        f"Stored {result.inserted} of {result.received} readings "
        f"({result.already_stored} already stored) in {elapsed:.2f} s"
        + (f"; new pumps: {', '.join(result.new_machines)}." if result.new_machines else ".")
    )
