"""The read-only role of the serving path and the writer role of ingestion (roles.sql)."""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)

#: Plain lower-case identifiers only: role names end up in SQL and in connection URLs.
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def roles_sql() -> str:
    """The grants, with `{reader}`, `{writer}`, `{schema}` and `{database}` placeholders."""
    return resources.files("pumpapi.db").joinpath("roles.sql").read_text(encoding="utf-8")


def grant_roles(
    conn: psycopg.Connection,
    reader: str,
    writer: str,
    *,
    reader_password: str | None = None,
    writer_password: str | None = None,
) -> list[str]:
    """Create the roles if missing (LOGIN) and grant them roles.sql on the connection's current
    schema and database, in one transaction. Returns the roles created.

    A password given sets (or resets) the role's password; none leaves it as it is. Passwords
    go to the server as literals of one statement and are never logged.
    """
    for name in (reader, writer):
        if not ROLE_NAME.match(name):
            raise ValueError(f"Role names are lower-case identifiers; {name!r} is not one.")
    if reader == writer:
        raise ValueError("The reader and the writer must be two different roles.")
    created: list[str] = []
    with conn.transaction():
        schema, database = conn.execute("SELECT current_schema(), current_database()").fetchone()
        if schema is None:
            raise ValueError("The connection has no current schema: check its search_path.")
        for name, password in ((reader, reader_password), (writer, writer_password)):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
                created.append(name)
            if password:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(password)
                    )
                )
        # The template's only placeholders are these four identifiers, quoted by psycopg.
        statement = sql.SQL(roles_sql()).format(  # noqa: S608
            reader=sql.Identifier(reader),
            writer=sql.Identifier(writer),
            schema=sql.Identifier(schema),
            database=sql.Identifier(database),
        )
        conn.execute(statement)
    log.info("granted roles %s (read) and %s (write) on schema %s", reader, writer, schema)
    return created


#: The roles `pumpapi serve` and `pumpapi stack` create and run as.
READER, WRITER = "pumpapi_reader", "pumpapi_writer"


@dataclass(frozen=True)
class ServingURLs:
    """Connection strings of the least-privilege layout: `reader` for serving (DATABASE_URL),
    `writer` for ingestion, events and the prediction log (INGEST_DATABASE_URL). Neither holds a
    password: they name a libpq password file (0600)."""

    reader: str
    writer: str


def secret(directory: Path, name: str, nbytes: int = 24) -> str:
    """The secret `name` kept in `directory` (0700) as a file readable by its owner only (0600),
    generated (URL-safe random text) on first use and the same on every later call."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / name
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = secrets.token_urlsafe(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    path.chmod(0o600)
    return value


def write_passfile(path: Path, passwords: Mapping[str, str]) -> Path:
    """A libpq password file (0600) giving each role its password on any host and database:
    connection strings then name `passfile=` and carry no password."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace(":", "\\:")

    lines = [f"*:*:*:{escape(role)}:{escape(pw)}" for role, pw in passwords.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def least_privilege(owner_url: str, secrets_dir: Path) -> ServingURLs:
    """Create (or update) the reader and writer roles through the owner's connection, with
    passwords generated once and kept under `secrets_dir` (0600), and return their connection
    strings: the owner's host, port, database and options, another user, and `passfile`.

    Raises psycopg.errors.InsufficientPrivilege when the owner may not create roles.
    """
    from pumpapi.db.connection import to_conninfo

    passwords = {role: secret(secrets_dir, f"{role}.password") for role in (READER, WRITER)}
    passfile = write_passfile(secrets_dir / "pgpass", passwords)
    owner = to_conninfo(owner_url)
    with psycopg.connect(owner, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        grant_roles(
            conn,
            READER,
            WRITER,
            reader_password=passwords[READER],
            writer_password=passwords[WRITER],
        )
    params = {k: v for k, v in conninfo_to_dict(owner).items() if k not in ("user", "password")}

    def as_role(role: str) -> str:
        return make_conninfo(**params, user=role, passfile=str(passfile))

    return ServingURLs(reader=as_role(READER), writer=as_role(WRITER))
