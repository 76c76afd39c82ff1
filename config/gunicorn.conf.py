"""gunicorn settings for PumpAPI: preloaded models shared by the workers, a DB pool per worker.

Every value can be overridden on the command line or with the PUMPAPI_* variables below.
"""

import gc
import glob
import os
import shutil
import tempfile

from gunicorn.glogging import Logger

from pumpapi.observability.logs import logging_config


def _cores() -> int:
    """CPUs this process may run on (a container's or systemd's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# Metrics (prometheus_client multiprocess mode): the directory must be in the environment before
# the app imports prometheus_client, and hold no files of a previous run. A HUP re-reads this
# file in the same master: the directory is only cleared once per master.
_METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_OWN_METRICS_DIR = None
if not _METRICS_DIR:
    _METRICS_DIR = _OWN_METRICS_DIR = tempfile.mkdtemp(prefix="pumpapi-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR
elif os.environ.get("PUMPAPI_METRICS_DIR_OWNER") != str(os.getpid()):
    os.makedirs(_METRICS_DIR, exist_ok=True)
    for stale in glob.glob(os.path.join(_METRICS_DIR, "*.db")):
        os.unlink(stale)
os.environ["PUMPAPI_METRICS_DIR_OWNER"] = str(os.getpid())

bind = os.environ.get("PUMPAPI_BIND", "127.0.0.1:8000")
# Inference is CPU-bound (one thread per prediction): one worker per core uses them all without
# making the workers queue for the CPUs (a database read waits about a millisecond).
workers = int(os.environ.get("PUMPAPI_WORKERS", _cores()))
# sync, measured against gthread (bench/notes.md, "Figures behind the code"): predictions hold
# the GIL, so threads only add contention. nginx buffers slow clients, which is what sync
# workers need.
# pumpapi.workers' sync worker sends each response in one call: an instance killed mid-request
# never leaves a half-sent answer that nginx could not retry elsewhere.
worker_class = os.environ.get("PUMPAPI_WORKER_CLASS", "pumpapi.workers.WholeResponseSyncWorker")
threads = int(os.environ.get("PUMPAPI_THREADS", 1))

# Load the app (and so every model) once in the master: workers start ready, and the model pages
# stay shared copy-on-write between them. Nothing in create_app opens a socket or a thread: the
# database pool is created closed and opened in each worker after fork (post_worker_init).
preload_app = True

timeout = int(os.environ.get("PUMPAPI_WORKER_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so slow leaks cannot grow without bound; jitter keeps them from
# restarting together.
max_requests = int(os.environ.get("PUMPAPI_MAX_REQUESTS", 10_000))
max_requests_jitter = max_requests // 10

# gunicorn 27 opens a control socket shared by every instance on the machine unless told not to:
# several instances (tests, the two-instance stack) would collide on it.
control_socket_disable = True

# The app logs one line per request (request id, route, status, duration, pid): gunicorn's
# access log would repeat it, so it is off unless asked for.
accesslog = os.environ.get("PUMPAPI_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("PUMPAPI_LOG_LEVEL", "info")
# JSON lines, or plain text with PUMPAPI_LOG_FORMAT=text, for gunicorn and the app alike.
logconfig_dict = logging_config(
    os.environ.get("PUMPAPI_LOG_FORMAT", "json"), loglevel, access_log=accesslog is not None
)


class AccessLogAsConfigured(Logger):
    """gunicorn's logger, building access lines only when the access log is on: with a
    logconfig_dict gunicorn builds one per request and the silenced logger drops it (its cost
    in bench/notes.md)."""

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = AccessLogAsConfigured


def when_ready(server):
    # The store watcher (pumpapi/models/watch.py): a process of its own, so the master opens
    # no socket or thread; it sends SIGHUP when the store serves something new. Started through
    # a short-lived intermediate child, so it is not the master's child (the master's children
    # are its workers) and it exits by itself when the master is gone.
    if float(os.environ.get("PUMPAPI_MODEL_WATCH_SECONDS", 10)) <= 0:
        return
    import subprocess
    import sys

    command = [sys.executable, "-m", "pumpapi.models.watch", "--master", str(server.pid)]
    intermediate = os.fork()
    if intermediate == 0:
        try:
            subprocess.Popen(command, start_new_session=True)
        finally:
            os._exit(0)
    os.waitpid(intermediate, 0)


def on_reload(server):
    # SIGHUP (the store watcher, or an operator): the models are loaded again in the master,
    # and the new workers gunicorn forks next serve them while the old ones drain.
    from pumpapi import models

    models.reload(server.app.wsgi())


def pre_fork(server, worker):
    # Objects created while loading the app are never freed; freezing them keeps the garbage
    # collector from touching (and so copying) their pages in every worker.
    gc.freeze()


def post_worker_init(worker):
    from pumpapi import db

    db.open_worker(worker.wsgi)


def child_exit(server, worker):
    # The dead worker's live gauges (in-flight requests, pool) must stop counting.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)


def worker_exit(server, worker):
    wsgi = getattr(worker, "wsgi", None)
    if wsgi is not None:
        # What the prediction log still holds is written before the pools close.
        from pumpapi import db

        db.close_worker(wsgi)
