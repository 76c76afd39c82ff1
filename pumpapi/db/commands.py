"""`pumpapi db …`: create or upgrade the telemetry schema."""

from __future__ import annotations

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup

from pumpapi.db.connection import describe, to_conninfo
from pumpapi.db.schema import migrate

db = AppGroup("db", help="The telemetry database (DATABASE_URL).")


@db.command("init")
def init() -> None:
    """Create or upgrade the schema (idempotent: applies only the migrations missing)."""
    url = current_app.config.get("DATABASE_URL")
    if not url:
        raise click.ClickException("DATABASE_URL is not set.")
    try:
        conninfo = to_conninfo(url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    timeout = int(current_app.config["DB_CONNECT_TIMEOUT"])
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout) as conn:
            applied = migrate(conn)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"Cannot reach the database: {describe(exc)}") from exc
    if applied:
        click.echo(f"Applied {len(applied)} migration(s): {', '.join(applied)}.")
    else:
        click.echo("Schema already up to date; nothing applied.")
