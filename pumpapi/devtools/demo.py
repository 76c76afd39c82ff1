"""`pumpapi serve`: the whole service on one machine — PostgreSQL, a demo fleet, trained models,
gunicorn — started from nothing, or reused when already there."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from pumpapi import settings
from pumpapi.devtools.processes import demo_options, stop_process, wait_ready


def _say(message: str) -> None:
    click.secho(f"[pumpapi] {message}", fg="cyan", err=True)


def _local_database(var_dir: Path, port: int) -> tuple[str, object | None]:
    """Start (or reuse) the private cluster under var/, with password (scram) authentication
    and its superuser's password generated into var/secrets (0600); returns the owner's URL
    and the cluster if this process started it (so that it stops it on exit)."""
    import psycopg

    from pumpapi.db.roles import secret
    from pumpapi.devtools.localpg import SUPERUSER, LocalCluster

    password = secret(var_dir / "secrets", f"{SUPERUSER}.password")
    cluster = LocalCluster(var_dir / "pg", port)
    cluster.ensure()
    started = not cluster.is_running()
    if started:
        cluster.start()
    try:
        cluster.password = password
        cluster.require_passwords()
    except psycopg.OperationalError:
        # Not this password and no longer trust: the cluster predates the secret file.
        raise click.ClickException(
            f"{cluster.data_dir} asks for a password that {var_dir / 'secrets'} does not hold; "
            "remove both to start afresh."
        ) from None
    cluster.create_database("pumpapi")
    return cluster.url("pumpapi"), (cluster if started else None)


def _serving_environment(owner_url: str, var_dir: Path) -> dict[str, str]:
    """Least privilege: serving connects as the read-only role, ingestion (events and the
    prediction log too) as the writer; the owner's URL only migrated the schema. Roles and
    passwords are created by pumpapi.db.roles.least_privilege; an owner that may not create
    roles keeps serving as itself, said loudly."""
    import psycopg

    from pumpapi.db import roles

    try:
        urls = roles.least_privilege(owner_url, var_dir / "secrets")
    except psycopg.errors.InsufficientPrivilege as exc:
        _say(f"database: cannot create the serving roles ({exc}); serving as DATABASE_URL's user")
        return {"DATABASE_URL": owner_url}
    _say(f"database: serving as {roles.READER} (SELECT only), ingestion as {roles.WRITER}")
    env = {"DATABASE_URL": urls.reader, "PUMPAPI_INGEST_DATABASE_URL": urls.writer}
    if os.environ.get("PUMPAPI_INGEST_DATABASE_URL"):
        env.pop("PUMPAPI_INGEST_DATABASE_URL")  # the operator's choice stands
    return env


def simulated_fleet(pumps: int, steps: int, seed: int, interval_s: int, end: dt.datetime | None):
    """A simulated fleet; ending at `end` (e.g. now) when given, else from the simulator's
    fixed start date (fully reproducible)."""
    from pumpapi.devtools import simulator

    start = None
    if end is not None:
        start = end.replace(microsecond=0) - dt.timedelta(seconds=steps * interval_s)
    return simulator.simulate_fleet(pumps, steps, seed=seed, interval_s=interval_s, start=start)


def _prepare_database(url: str, pumps: int, days: float, seed: int) -> None:
    """Create or upgrade the schema; load a simulated fleet if the database has no readings."""
    import psycopg

    from pumpapi import db

    conninfo = db.to_conninfo(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        applied = db.migrate(conn)
        if applied:
            _say(f"schema: applied {', '.join(applied)}")
        has_readings = conn.execute("SELECT EXISTS (SELECT 1 FROM readings)").fetchone()[0]
    if has_readings:
        _say("database: telemetry already loaded, reusing it")
        return
    interval_s = 60
    started = time.perf_counter()
    # The demo fleet ends now, so that "latest reading" looks like live data.
    fleet = simulated_fleet(pumps, int(days * 86400 / interval_s), seed, interval_s, _now())
    rows = db.copy_fleet(conninfo, fleet)
    elapsed = time.perf_counter() - started
    _say(f"database: loaded {rows:,} readings of {pumps} simulated pumps ({elapsed:.1f} s)")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _train_missing(families: tuple[str, ...], store_root: str) -> None:
    from pumpapi.models.store import ModelStore

    store = ModelStore(store_root)
    for family in families:
        versions = store.versions(family)
        if versions:
            _say(f"models: {family} version {versions[-1]} in store, reusing it")
            continue
        _say(f"models: no {family} model in {store_root}, training one")
        command = [sys.executable, "-m", "pumpapi", "train", family, "--store", store_root]
        subprocess.run(command, check=True)


@contextmanager
def prepared_service(
    var_dir: Path, pg_port: int, pumps: int, days: float, seed: int
) -> Iterator[dict[str, str]]:
    """What `serve` and `stack` run gunicorn on; yields the environment to start it with.

    PostgreSQL is DATABASE_URL, or else the private cluster under VAR_DIR/pg (password
    authentication; stopped on exit when started here); the schema is migrated as that URL's
    user (the owner), a demo fleet loaded into an empty database, each configured model family
    trained if the store has none, and the service runs as the least-privilege roles: the
    environment's DATABASE_URL is the read-only role, PUMPAPI_INGEST_DATABASE_URL the writer.
    """
    config = settings.effective()
    var_dir = var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    cluster = None
    url = config["DATABASE_URL"]
    if url:
        _say("database: using DATABASE_URL (as the schema's owner)")
    else:
        url, cluster = _local_database(var_dir, pg_port)
        _say(f"database: private PostgreSQL on 127.0.0.1:{pg_port} (password authentication)")
    try:
        _prepare_database(url, pumps, days, seed)
        serving = _serving_environment(url, var_dir)
        # Absolute: gunicorn may run from another directory than this command (stack runs it
        # from the checkout), and must read the store the models were just trained into.
        store = str(Path(config["MODEL_STORE"]).resolve())
        _train_missing(config["MODEL_FAMILIES"], store)
        yield {**os.environ, **serving, "PUMPAPI_MODEL_STORE": store}
    finally:
        if cluster is not None:
            cluster.stop()
            _say("private PostgreSQL stopped")


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address gunicorn binds.")
@demo_options
def serve(bind: str, pumps: int, days: float, seed: int, pg_port: int, var_dir: Path) -> None:
    """Run PumpAPI with a demo fleet and trained models (what `make serve` does).

    Without DATABASE_URL a private PostgreSQL cluster is started under VAR_DIR/pg. The schema is
    created, a simulated fleet loaded if the database is empty, each configured model family
    trained if the store has none, and gunicorn started with config/gunicorn.conf.py.
    Ctrl-C stops what this command started.
    """
    began = time.perf_counter()
    # A supervisor's SIGTERM stops what was started, exactly like Ctrl-C (itself set explicitly:
    # a background start by a non-interactive shell inherits SIGINT ignored).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    try:
        with prepared_service(var_dir, pg_port, pumps, days, seed) as env:
            env["PUMPAPI_BIND"] = bind
            # A person reads these logs: plain text unless asked otherwise (production: JSON).
            env.setdefault("PUMPAPI_LOG_FORMAT", "text")
            gunicorn_bin = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
            gunicorn = subprocess.Popen(
                [gunicorn_bin or "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"], env=env
            )
            try:
                base_url = f"http://{bind}"
                if wait_ready(base_url, gunicorn):
                    _say(f"ready in {time.perf_counter() - began:.1f} s")
                    click.secho(f"\n  API:        {base_url}/", fg="green", bold=True, err=True)
                    click.secho(f"  Swagger UI: {base_url}/docs", fg="green", bold=True, err=True)
                    click.secho(f"  Readiness:  {base_url}/health/ready", fg="green", err=True)
                    click.secho("  Ctrl-C stops it.\n", err=True)
                else:
                    _say(f"not ready yet: see {base_url}/health/ready and the log above")
                gunicorn.wait()
            finally:
                if gunicorn.poll() is None:
                    _say("stopping")
                    stop_process(gunicorn)
    except KeyboardInterrupt:
        pass  # everything started was stopped on the way out of the blocks above


@click.command("simulate")
@click.option("--pumps", default=20, show_default=True, help="Number of pumps.")
@click.option("--steps", default=10_080, show_default=True, help="Readings per pump.")
@click.option("--interval", "interval_s", default=60, show_default=True, help="Seconds apart.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same fleet.")
@click.option(
    "--end-now/--fixed-start",
    default=False,
    show_default=True,
    help="End the histories now (live-looking), or start at the simulator's fixed date.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a CSV file instead of loading DATABASE_URL.",
)
def simulate(pumps: int, steps: int, interval_s: int, seed: int, end_now: bool, out: Path | None):
    """Simulate a fleet (physics in docs/simulator.md) into PostgreSQL or a CSV file.

    Loading uses COPY and is idempotent: readings already in the database are skipped.
    """
    started = time.perf_counter()
    fleet = simulated_fleet(pumps, steps, seed, interval_s, _now() if end_now else None)
    if out is not None:
        from pumpapi.devtools import simulator

        rows = simulator.write_csv(fleet, out)
        where = str(out)
    else:
        from pumpapi import db

        url = settings.effective()["DATABASE_URL"]
        if not url:
            raise click.ClickException("DATABASE_URL is not set (or use --out FILE).")
        rows = db.copy_fleet(db.to_conninfo(url), fleet)
        where = "the database"
    elapsed = time.perf_counter() - started
    click.echo(f"{rows:,} readings of {pumps} pumps written to {where} in {elapsed:.1f} s.")
