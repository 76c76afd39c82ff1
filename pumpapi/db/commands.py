"""`pumpapi db …`: create or upgrade the telemetry schema."""

from __future__ import annotations

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup

from pumpapi.db.connection import describe, to_conninfo
from pumpapi.db.schema import migrate

db = AppGroup("db", help="The telemetry database (DATABASE_URL).")


def configured_conninfo(*keys: str) -> str:
    """The connection string of the first of these settings that is set (for commands)."""
    url = next((current_app.config.get(k) for k in keys if current_app.config.get(k)), None)
    if not url:
        raise click.ClickException(f"{keys[-1]} is not set.")
    try:
        return to_conninfo(url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@db.command("init")
def init() -> None:
    """Create or upgrade the schema (idempotent: applies only the migrations missing)."""
    conninfo = configured_conninfo("DATABASE_URL")
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


@db.command("roles")
@click.option("--reader", default="pumpapi_reader", show_default=True, help="Read-only role.")
@click.option("--writer", default="pumpapi_writer", show_default=True, help="Ingestion role.")
@click.option("--reader-password", envvar="PUMPAPI_READER_PASSWORD", default=None, hidden=True)
@click.option("--writer-password", envvar="PUMPAPI_WRITER_PASSWORD", default=None, hidden=True)
def roles(
    reader: str, writer: str, reader_password: str | None, writer_password: str | None
) -> None:
    """Create the read-only (serving) and writer (ingestion) roles and grant them the schema
    (pumpapi/db/roles.sql). Passwords: PUMPAPI_READER_PASSWORD / PUMPAPI_WRITER_PASSWORD."""
    from pumpapi.db.roles import grant_roles

    conninfo = configured_conninfo("DATABASE_URL")
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            created = grant_roles(
                conn,
                reader,
                writer,
                reader_password=reader_password,
                writer_password=writer_password,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except psycopg.Error as exc:
        raise click.ClickException(f"Cannot grant the roles: {describe(exc)}") from exc
    click.echo(
        f"Granted {reader} (read-only) and {writer} (ingestion)"
        + (f"; created {', '.join(created)}." if created else ".")
    )
