"""The private PostgreSQL cluster (pumpapi.devtools.localpg): binaries, creating, reusing."""

import getpass
import os
import pwd
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from pumpapi.devtools import localpg
from pumpapi.devtools.localpg import (
    ClusterError,
    LocalCluster,
    PostgresNotAvailable,
    find_bin_dir,
    unreachable_parent,
)


def fake_bin_dir(path):
    path.mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        (path / name).write_text("#!/bin/sh\nexit 0\n")
        (path / name).chmod(0o755)
    return path


@pytest.fixture
def no_postgres_anywhere(tmp_path, monkeypatch):
    """PATH without PostgreSQL, and no Debian-style installation."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setattr(localpg, "DEBIAN_BIN_GLOB", str(tmp_path / "lib/postgresql/*/bin"))
    return tmp_path


def test_without_binaries_the_error_says_what_to_install_or_set(no_postgres_anywhere):
    with pytest.raises(PostgresNotAvailable) as caught:
        find_bin_dir()
    assert "apt-get install postgresql" in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)
    cluster = LocalCluster(no_postgres_anywhere / "pg", 5999)
    with pytest.raises(PostgresNotAvailable, match="apt-get install postgresql"):
        cluster.ensure()


def test_binaries_on_path_come_first(no_postgres_anywhere, monkeypatch):
    on_path = fake_bin_dir(no_postgres_anywhere / "bin")
    fake_bin_dir(no_postgres_anywhere / "lib/postgresql/15/bin")
    monkeypatch.setenv("PATH", str(on_path))
    assert find_bin_dir() == on_path


def test_the_newest_debian_version_is_chosen_by_number(no_postgres_anywhere):
    for version in ("9", "15", "13"):
        fake_bin_dir(no_postgres_anywhere / f"lib/postgresql/{version}/bin")
    assert find_bin_dir() == no_postgres_anywhere / "lib/postgresql/15/bin"


def test_an_explicit_bin_dir_without_binaries_is_refused(tmp_path):
    cluster = LocalCluster(tmp_path / "pg", 5999, bin_dir=str(tmp_path))
    with pytest.raises(PostgresNotAvailable, match="apt-get install postgresql"):
        cluster.ensure()


def test_a_non_empty_directory_that_is_not_a_cluster_is_left_alone(tmp_path):
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "precious.txt").write_text("keep me")
    with pytest.raises(ClusterError, match="not empty"):
        LocalCluster(tmp_path / "pg", 5999).ensure()
    assert (tmp_path / "pg" / "precious.txt").read_text() == "keep me"


def test_a_parent_the_server_user_cannot_enter_is_named():
    # Under /tmp itself: pytest's own tmp_path sits in a directory private to its user.
    with tempfile.TemporaryDirectory() as base:
        Path(base).chmod(0o711)
        locked = Path(base) / "locked"
        (locked / "pg").mkdir(parents=True)
        locked.chmod(0o700)
        me = os.stat(locked)
        stranger, strangers = me.st_uid + 4242, {me.st_gid + 4242}
        assert unreachable_parent(locked / "pg", stranger, strangers) == locked
        assert unreachable_parent(locked / "pg", me.st_uid, strangers) is None  # the owner may
        locked.chmod(0o710)
        assert unreachable_parent(locked / "pg", stranger, {me.st_gid}) is None  # its group may
        locked.chmod(0o700 | stat.S_IXOTH)
        assert unreachable_parent(locked / "pg", stranger, strangers) is None


def test_the_running_cluster_is_reused_and_its_files_belong_to_the_server_user(pg_cluster):
    pid_file = pg_cluster.data_dir / "postmaster.pid"
    server_pid = pid_file.read_text().splitlines()[0]
    pg_cluster.ensure()  # idempotent: no second initdb
    pg_cluster.start()  # reuses the running server
    assert pid_file.read_text().splitlines()[0] == server_pid
    assert pg_cluster.is_running() and pg_cluster.running_port() == pg_cluster.port
    owner = "postgres" if os.geteuid() == 0 else getpass.getuser()
    for path in (pg_cluster.data_dir, pg_cluster.log_path):
        assert pwd.getpwuid(path.stat().st_uid).pw_name == owner
    assert pg_cluster.log_path.parent == pg_cluster.data_dir.parent


def test_the_same_cluster_cannot_be_started_on_another_port(pg_cluster):
    other = LocalCluster(pg_cluster.data_dir, pg_cluster.port + 1)
    with pytest.raises(ClusterError, match=f"already runs on port {pg_cluster.port}"):
        other.start()


def test_url_and_create_database(pg_cluster):
    assert pg_cluster.url("demo") == f"postgresql://pumpapi@127.0.0.1:{pg_cluster.port}/demo"
    assert pg_cluster.create_database("localpg_demo") is True
    assert pg_cluster.create_database("localpg_demo") is False
    with psycopg.connect(pg_cluster.url("localpg_demo")) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "pumpapi",
            "localpg_demo",
        )
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_secrets_are_generated_once_and_readable_by_their_owner_only(tmp_path):
    from pumpapi.db.roles import secret, write_passfile

    first = secret(tmp_path / "secrets", "db.password")
    assert len(first) >= 24 and secret(tmp_path / "secrets", "db.password") == first
    assert secret(tmp_path / "secrets", "other.password") != first
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "secrets" / "db.password").stat().st_mode) == 0o600
    passfile = write_passfile(tmp_path / "secrets" / "pgpass", {"a_role": "p:w\\d"})
    assert passfile.read_text() == "*:*:*:a_role:p\\:w\\\\d\n"  # libpq's escapes
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600


def test_a_cluster_with_a_password_asks_every_connection_for_it():
    """What `make serve`'s private cluster does: scram-sha-256 for every connection, the
    superuser's password generated under var/; a trust cluster is converted in place."""
    from tests.fixtures.db import _remove_cluster, _start_cluster

    handle = _start_cluster("pumpapi-pg-scram-")
    cluster = handle.cluster
    try:
        cluster.password = "a-generated-secret"
        cluster.require_passwords()
        cluster.require_passwords()  # idempotent
        with psycopg.connect(cluster.url("postgres"), connect_timeout=5) as conn:
            method = conn.execute(
                "SELECT starts_with(rolpassword, 'SCRAM-SHA-256$') FROM pg_authid"
                " WHERE rolname = %s",
                ("pumpapi",),
            ).fetchone()
            assert method == (True,)
        bare = f"postgresql://pumpapi@127.0.0.1:{cluster.port}/postgres"
        for url in (bare, bare.replace("pumpapi@", "pumpapi:wrong@")):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(url, connect_timeout=5)
    finally:
        _remove_cluster(handle)
