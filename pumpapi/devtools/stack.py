"""The production layout on one machine: PostgreSQL, two gunicorn instances and nginx in front.

`pumpapi stack` (what `make stack` runs) starts them the way production does, and restarts an
instance that dies, like systemd would. `pumpapi nginx-conf` renders config/nginx.conf.j2 for
other layouts (docker-compose, EC2). The tests drive the same `NginxProcess` and renderer.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import jinja2

from pumpapi import settings
from pumpapi.devtools.processes import demo_options, stop_process, wait_for_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "config" / "nginx.conf.j2"
#: Telemetry ingestion: the one write endpoint (idempotent), with its own body limit.
INGEST_PATH = "/machine/telemetry"
#: Model families nginx gives an upstream group of their own (pumpapi.models families).
FAMILIES = ("xgboost", "gru", "lstm")
#: Largest request line or header line nginx takes (below gunicorn's 4094-byte request line).
HEADER_BUFFER = "4k"
#: nginx's own errors: (status nginx meant, status answered, internal location answering it in
#: the API's envelope). 494 is nginx's code for a header too large, answered 431; a 502 (no
#: instance answered) is a 503 with Retry-After, what the instances answer when they cannot.
ERROR_PAGES = (
    (400, 400, "bad_request"),
    (494, 431, "header_too_large"),
    (411, 411, "length_required"),
    (413, 413, "too_large"),
    (414, 414, "uri_too_long"),
    (500, 500, "internal"),
    (501, 501, "not_implemented"),
    (502, 503, "unavailable"),
    (503, 503, "unavailable"),
    (504, 504, "timeout"),
    (403, 403, "forbidden"),
)
#: Networks allowed to read /metrics: loopback, and the private ranges Prometheus scrapes from.
PRIVATE_NETWORKS = ("127.0.0.1", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


class NginxNotAvailable(RuntimeError):
    """No nginx binary: install Debian's package (`apt-get install nginx`)."""


def find_nginx() -> str:
    """The nginx binary: PATH, then /usr/sbin (Debian's place, often off a user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise NginxNotAvailable("nginx is not installed: `apt-get install -y nginx`.")
    return found


def _size(n_bytes: int) -> str:
    """A byte count in nginx's size syntax (k/m when exact), e.g. 2097152 -> `2m`."""
    for unit, factor in (("m", 1024 * 1024), ("k", 1024)):
        if n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    return str(n_bytes)


@dataclass
class NginxConfig:
    """What varies between the layouts; the rest of the file is fixed in the template."""

    upstreams: Sequence[str]
    listen: str = "127.0.0.1:8080"
    runtime_dir: str = "/tmp"
    error_log: str = "stderr"
    access_log: str = "/dev/stdout"
    mime_types: str = "/etc/nginx/mime.types"
    worker_processes: str = "auto"
    metrics_allow: Sequence[str] = PRIVATE_NETWORKS
    fail_timeout: str = "5s"
    connect_timeout: str = "2s"
    read_timeout: str = "35s"
    #: App settings the limits are taken from (MAX_CONTENT_LENGTH, INGEST_MAX_CONTENT_LENGTH).
    app_settings: Mapping[str, Any] = field(default_factory=settings.defaults)

    def render(self) -> str:
        if not self.upstreams:
            raise ValueError("nginx needs at least one upstream instance")
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE.parent),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,  # an nginx file, not HTML
        )
        ingest_limit = self.app_settings.get("INGEST_MAX_CONTENT_LENGTH")
        families = list(FAMILIES)  # every family: the layouts rendered for may serve any
        return env.get_template(TEMPLATE.name).render(
            families=families,
            groups=["general", "database", *families],
            error_pages=ERROR_PAGES,
            header_buffer=HEADER_BUFFER,
            upstreams=list(self.upstreams),
            listen=self.listen,
            runtime_dir=self.runtime_dir,
            error_log=self.error_log,
            access_log=self.access_log,
            mime_types=self.mime_types,
            worker_processes=self.worker_processes,
            metrics_allow=list(self.metrics_allow),
            fail_timeout=self.fail_timeout,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_body_size=_size(int(self.app_settings["MAX_CONTENT_LENGTH"])),
            ingest_path=INGEST_PATH if ingest_limit else None,
            ingest_max_body_size=_size(int(ingest_limit)) if ingest_limit else None,
        )


class NginxProcess:
    """nginx in the foreground, with its config, pid, logs and temp files all in `prefix`."""

    def __init__(self, prefix: Path, config: NginxConfig):
        self.prefix = Path(prefix).absolute()
        self.config = config
        self.conf_path = self.prefix / "nginx.conf"
        self.process: subprocess.Popen | None = None

    def write_config(self) -> Path:
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config.render())
        return self.conf_path

    def _command(self, *extra: str) -> list[str]:
        return [find_nginx(), "-p", str(self.prefix), "-c", str(self.conf_path), *extra]

    def test_config(self) -> None:
        """`nginx -t` on the written file; raises with nginx's message if it is invalid."""
        result = subprocess.run(
            self._command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{result.stderr}")

    def start(self, timeout: float = 10.0, **popen: Any) -> None:
        self.write_config()
        self.test_config()
        self.process = subprocess.Popen(self._command("-g", "daemon off;"), **popen)
        host, _, port = self.config.listen.rpartition(":")
        if not wait_for_port(host or "127.0.0.1", int(port), timeout, self.process):
            self.stop()
            raise RuntimeError(f"nginx did not listen on {self.config.listen} in {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGQUIT: open requests finish), then SIGKILL if it lingers."""
        stop_process(self.process, signal.SIGQUIT, timeout)


class AppInstance:
    """One gunicorn master (config/gunicorn.conf.py) with its own metrics directory."""

    def __init__(self, name: str, bind: str, env: Mapping[str, str], var_dir: Path):
        self.name = name
        self.bind = bind
        self.metrics_dir = var_dir / f"metrics-{name}"
        self.env = {
            **env,
            "PUMPAPI_BIND": bind,
            # Per instance: two masters sharing one directory would mix their workers' samples.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self.process = subprocess.Popen(
            [gunicorn, "-c", str(ROOT / "config" / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            # Its own process group: Ctrl-C in the terminal reaches `pumpapi stack` only, which
            # stops the instance gracefully (SIGTERM); gunicorn's SIGINT is a fast shutdown
            # that would drop the requests in flight.
            process_group=0,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: gunicorn stops accepting, lets running requests finish, then exits."""
        stop_process(self.process, signal.SIGTERM, timeout)


def _say(message: str) -> None:
    click.secho(f"[pumpapi stack] {message}", fg="cyan", err=True)


@click.command("stack")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="nginx's address.")
@click.option(
    "--instance-port",
    "instance_ports",
    multiple=True,
    type=int,
    default=(8001, 8002),
    show_default=True,
    help="Port of one gunicorn instance (repeat: one per instance).",
)
@click.option("--workers", type=int, help="Workers per instance (default: one per core).")
@demo_options
def stack(
    listen: str,
    instance_ports: tuple[int, ...],
    workers: int | None,
    pumps: int,
    days: float,
    seed: int,
    pg_port: int,
    var_dir: Path,
) -> None:
    """Run the production layout here: PostgreSQL, gunicorn instances, nginx in front.

    The database and models are prepared as `pumpapi serve` does (private cluster under
    VAR_DIR/pg unless DATABASE_URL is set, demo fleet, training of missing models). Each instance
    binds 127.0.0.1:PORT with its own metrics directory; nginx (config rendered into
    VAR_DIR/stack/nginx) balances between them, retries on a dead one, and serves /metrics/<n>
    per instance to local scrapers. An instance that exits is restarted. Ctrl-C stops it all.
    """
    from pumpapi.devtools import demo

    # A supervisor's SIGTERM, or the terminal closing, stops everything like Ctrl-C does. Ctrl-C
    # itself too, explicitly: a process started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Python then leaves it so.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)
    config = settings.effective()
    var_dir = var_dir.resolve()
    stack_dir = var_dir / "stack"
    stack_dir.mkdir(parents=True, exist_ok=True)
    nginx_bin = find_nginx()  # fail before starting anything
    instances: list[AppInstance] = []
    nginx: NginxProcess | None = None
    try:
        with demo.prepared_service(var_dir, pg_port, pumps, days, seed) as env:
            if workers:
                env["PUMPAPI_WORKERS"] = str(workers)
            try:
                for number, port in enumerate(instance_ports, start=1):
                    instance = AppInstance(str(number), f"127.0.0.1:{port}", env, stack_dir)
                    instance.start()
                    instances.append(instance)
                for instance in instances:
                    if not wait_ready(f"http://{instance.bind}", instance.process):
                        raise click.ClickException(
                            f"instance {instance.name} ({instance.bind}) not ready"
                        )
                nginx = NginxProcess(
                    stack_dir / "nginx",
                    NginxConfig(
                        upstreams=[i.bind for i in instances],
                        listen=listen,
                        runtime_dir=str(stack_dir / "nginx"),
                        access_log=str(stack_dir / "nginx" / "access.log"),
                        app_settings=config,
                    ),
                )
                nginx.start(process_group=0)
                _say(f"nginx ({nginx_bin}) on {listen} -> {', '.join(i.bind for i in instances)}")
                _announce(listen, len(instances), nginx.prefix / "access.log")
                _supervise(nginx, instances)
            finally:
                _say("stopping")
                _stop_all(nginx, instances)
    except KeyboardInterrupt:
        pass  # everything started was stopped on the way out of the blocks above


def _stop_all(nginx: NginxProcess | None, instances: Sequence[AppInstance]) -> None:
    """Stop nginx and every instance at once (each drains in parallel, so the whole stack
    stops within one graceful timeout however many instances), deaf to a second Ctrl-C or
    SIGTERM meanwhile: an interrupted stop would leave processes behind."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    processes = [(nginx.process, signal.SIGQUIT, 10.0)] if nginx is not None else []
    processes += [(instance.process, signal.SIGTERM, 30.0) for instance in instances]
    for process, signum, _ in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signum)
    for process, signum, timeout in processes:
        stop_process(process, signum, timeout)  # waits; kills what lingers


def _announce(listen: str, instances: int, access_log: Path) -> None:
    base = f"http://{listen}"
    click.secho(f"\n  API (nginx): {base}/", fg="green", bold=True, err=True)
    click.secho(f"  Swagger UI:  {base}/docs", fg="green", err=True)
    click.secho(f"  Readiness:   {base}/health/ready", fg="green", err=True)
    click.secho(f"  Metrics:     {base}/metrics/1 .. /metrics/{instances}", err=True)
    click.secho(f"  nginx log:   {access_log}", err=True)
    click.secho("  Ctrl-C stops it.\n", err=True)


def _supervise(nginx: NginxProcess, instances: Sequence[AppInstance]) -> None:
    """Restart an instance that exits, like systemd would; return when nginx exits."""
    while nginx.process is not None and nginx.process.poll() is None:
        for instance in instances:
            if not instance.alive():
                code = instance.process.returncode
                _say(f"instance {instance.name} exited ({code}); restarting it")
                instance.start()
        time.sleep(0.5)
    _say(f"nginx exited ({nginx.process.returncode if nginx.process else None})")


@click.command("nginx-conf")
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    required=True,
    help="host:port (or unix:/path) of an app instance; repeat for each.",
)
@click.option("--listen", default="80", show_default=True)
@click.option("--runtime-dir", default="/tmp", show_default=True, help="pid and temp files.")
@click.option("--error-log", default="stderr", show_default=True)
@click.option("--access-log", default="/dev/stdout", show_default=True)
def nginx_conf(
    upstreams: tuple[str, ...], listen: str, runtime_dir: str, error_log: str, access_log: str
) -> None:
    """Print the nginx configuration for these instances (limits from the app's settings)."""
    config = settings.effective()
    click.echo(
        NginxConfig(
            upstreams=upstreams,
            listen=listen,
            runtime_dir=runtime_dir,
            error_log=error_log,
            access_log=access_log,
            app_settings=config,
        ).render(),
        nl=False,
    )
