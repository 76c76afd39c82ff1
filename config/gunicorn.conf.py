"""gunicorn settings for PumpAPI: preloaded models shared by the workers, a DB pool per worker.

Every value can be overridden on the command line or with the PUMPAPI_* variables below.
"""

import gc
import os

bind = os.environ.get("PUMPAPI_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PUMPAPI_WORKERS", os.cpu_count() or 2))
worker_class = "sync"

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

accesslog = os.environ.get("PUMPAPI_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("PUMPAPI_LOG_LEVEL", "info")


def _telemetry_store(worker):
    return worker.wsgi.extensions["pumpapi.db"]


def pre_fork(server, worker):
    # Objects created while loading the app are never freed; freezing them keeps the garbage
    # collector from touching (and so copying) their pages in every worker.
    gc.freeze()


def post_worker_init(worker):
    _telemetry_store(worker).open()


def worker_exit(server, worker):
    wsgi = getattr(worker, "wsgi", None)
    if wsgi is not None:
        _telemetry_store(worker).close()
