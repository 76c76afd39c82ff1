"""A private PostgreSQL cluster in a directory, for `make serve` (./var/pg) and the test suite."""

from __future__ import annotations

import glob
import logging
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import urllib.parse
from collections.abc import Collection
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

#: The superuser initdb creates. A cluster given a password (`pumpapi serve`'s, under var/)
#: authenticates every connection with it (scram-sha-256); the test suite's trust local ones.
SUPERUSER = "pumpapi"
#: pg_hba.conf of a cluster with passwords: scram-sha-256 for every connection, nothing trusted.
SCRAM_HBA = """\
# Written by pumpapi.devtools.localpg: password (scram-sha-256) authentication for every connection.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""
#: Who runs the server when we are root: PostgreSQL refuses to run as root.
SERVER_USER = "postgres"
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresNotAvailable(RuntimeError):
    """The PostgreSQL server binaries (or a user to run them as) are missing."""


class ClusterError(RuntimeError):
    """initdb or pg_ctl failed; the message holds their output and the log's tail."""


def _has_server_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_bin_dir() -> Path:
    """The directory of initdb/pg_ctl/postgres: PATH, then `pg_config --bindir`, then the
    newest /usr/lib/postgresql/*/bin (Debian keeps the server binaries off PATH)."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob(DEBIAN_BIN_GLOB), key=_version_key)[::-1]]
    for directory in candidates:
        if _has_server_binaries(directory):
            return directory
    raise PostgresNotAvailable(
        "No PostgreSQL server binaries (initdb, pg_ctl, postgres) found in PATH, "
        f"`pg_config --bindir` or {DEBIAN_BIN_GLOB}. Install them (`apt-get install postgresql`) "
        "or set DATABASE_URL to an existing PostgreSQL database."
    )


def unreachable_parent(path: Path, uid: int, gids: Collection[int]) -> Path | None:
    """The first parent directory of `path` that user `uid`, member of `gids`, cannot enter."""
    for parent in reversed(path.parents):
        info = parent.stat()
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in gids:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return parent
    return None


class LocalCluster:
    """One PostgreSQL cluster living in `data_dir`, listening on 127.0.0.1:`port`.

    Meant for development and tests: trust authentication, fsync off. When the current user is
    root, initdb and pg_ctl run as the `postgres` user, who then owns the data directory and
    the log (`<data_dir>.log` beside it).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int,
        *,
        bin_dir: str | None = None,
        password: str | None = None,
    ):
        self.data_dir = Path(data_dir).absolute()
        self.port = int(port)
        self._bin_dir = Path(bin_dir) if bin_dir else None
        #: The superuser's password once `require_passwords` has run (None: trust).
        self.password = password
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    def __repr__(self) -> str:
        return f"LocalCluster({str(self.data_dir)!r}, {self.port})"

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        elif not _has_server_binaries(self._bin_dir):
            raise PostgresNotAvailable(
                f"{self._bin_dir} does not hold initdb, pg_ctl and postgres. Install PostgreSQL "
                "(`apt-get install postgresql`) or set DATABASE_URL."
            )
        return self._bin_dir

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def url(self, dbname: str = "pumpapi") -> str:
        """libpq URL of a database of this cluster."""
        user = SUPERUSER
        if self.password:
            user += ":" + urllib.parse.quote(self.password, safe="")
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def require_passwords(self) -> None:
        """Password authentication from now on (idempotent; the server must be running): the
        superuser gets `password` (stored as a scram-sha-256 verifier), pg_hba.conf asks every
        connection for its password, and the server reloads it. A cluster created with trust
        (by an older `make serve`) is converted in place."""
        if not self.password:
            raise ValueError("require_passwords needs the cluster's superuser password")
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(self.password)
                )
            )
            hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
            if not hba.exists() or hba.read_text() != SCRAM_HBA:
                hba.write_text(SCRAM_HBA)
                self._hand_over(hba)
                conn.execute("SELECT pg_reload_conf()")
                log.info("%s: password authentication required from now on", self.data_dir)

    # -- lifecycle -----------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the cluster if `data_dir` holds none yet (idempotent)."""
        self.bin_dir  # noqa: B018 - fail on missing binaries before touching any directory
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ClusterError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster; "
                "remove it or choose another directory."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.data_dir)
        self.data_dir.chmod(0o700)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        log.info("initialised a PostgreSQL cluster in %s", self.data_dir)

    def is_running(self) -> bool:
        """Whether a server runs on this data directory (`pg_ctl status`)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "--pgdata", str(self.data_dir), check=False) == 0

    def running_port(self) -> int | None:
        """The port the running server listens on (line 4 of postmaster.pid), if any."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def start(self) -> None:
        """Start the server and wait until it accepts connections; reuse a running one."""
        if self.is_running():
            port = self.running_port()
            if port is not None and port != self.port:
                raise ClusterError(
                    f"the cluster in {self.data_dir} already runs on port {port}, not {self.port}"
                )
            return
        self.ensure()
        if not self.log_path.exists():
            self.log_path.touch()
        self._hand_over(self.log_path)
        # pg_ctl hands -o to a shell: quote the socket directory.
        options = " ".join(
            [
                f"-c port={self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={shlex.quote(str(self.data_dir))}",
                # A throwaway cluster: crash safety is not worth the start-up and write time.
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c synchronous_commit=off",
            ]
        )
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout=60",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_path),
            "-o",
            options,
        )
        log.info("PostgreSQL started on 127.0.0.1:%s (%s)", self.port, self.data_dir)

    def stop(self) -> None:
        """Stop the server (fast mode: open sessions are disconnected); no-op if stopped."""
        if not self.is_running():
            return
        self._run("pg_ctl", "stop", "--wait", "--mode=fast", "--pgdata", str(self.data_dir))
        log.info("PostgreSQL stopped (%s)", self.data_dir)

    def create_database(self, name: str) -> bool:
        """Create a database unless it exists; True if it was created."""
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True

    # -- running the binaries ------------------------------------------------------------------

    def _server_account(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresNotAvailable(
                f"Running as root, but there is no `{SERVER_USER}` user to run PostgreSQL as "
                "(installing the `postgresql` package creates it). Run as another user, or set "
                "DATABASE_URL."
            ) from None

    def _hand_over(self, path: Path) -> None:
        """As root: give `path` to the server user, and check it can reach it at all."""
        if not self.as_root:
            return
        account = self._server_account()
        groups = os.getgrouplist(account.pw_name, account.pw_gid)
        blocked = unreachable_parent(path, account.pw_uid, groups)
        if blocked is not None:
            raise ClusterError(
                f"The `{SERVER_USER}` user cannot reach {path}: {blocked} is not traversable "
                f"by it. Put the cluster elsewhere, or `chmod o+x {blocked}`."
            )
        os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, program: str, *args: str, check: bool = True) -> int:
        command = [str(self.bin_dir / program), *args]
        if self.as_root:
            self._server_account()
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        # The server user may not be able to enter our working directory; start it beside the data.
        cwd = self.data_dir.parent if self.data_dir.parent.exists() else None
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"{program} {args[0] if args else ''} failed ({result.returncode}) for "
                f"{self.data_dir}:\n{result.stdout}{result.stderr}{self._log_tail()}"
            )
        return result.returncode

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- {self.log_path} (last lines) ---\n" + "\n".join(tail)
