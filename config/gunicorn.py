"""gunicorn settings for a production web node: ``gunicorn -c config/gunicorn.py``.

Every value can be changed by environment variable (see docs/deployment.md); the defaults suit a 2-core
node. ``DJANGO_SETTINGS_MODULE`` defaults to the production profile here, so a forgotten variable can
never start the development profile (DEBUG on) in front of the internet.

TLS: with ``TLS_CERT_FILE`` and ``TLS_KEY_FILE`` set, gunicorn serves HTTPS and refuses any client below
TLS 1.3 (``ssl_context`` below). gunicorn's ``--ssl-version`` is no minimum (it is deprecated and
ignored), hence the hook. Without them it serves plain HTTP for a load balancer that terminates TLS
(then set ``BEHIND_TLS_PROXY=true``, see config/settings/production.py).
"""

from __future__ import annotations

import gc
import os
import ssl
from pathlib import Path
from typing import Any

from django.db import connections  # lazy: it reads no settings until a connection is asked for
from prometheus_client import multiprocess

from config.logs import logging_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

wsgi_app = "config.wsgi:application"
proc_name = "order-platform-web"
# All interfaces by default: a web node is reached by its load balancer. GUNICORN_BIND narrows it.
bind = [os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")]

# 2 processes x 4 threads on 2 cores: requests mostly wait on PostgreSQL and Redis, so threads overlap
# that waiting while the process count bounds memory (each worker is a full Django, ~100 MB).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Connections one worker holds open (gthread: idle keep-alive ones wait in its poller, not in a thread).
# Each is a file descriptor: the process's open-files limit must be above the sum (docs/deployment.md).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "5000"))
# Connections the kernel queues before a worker accepts them (capped by net.core.somaxconn).
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
# Load the app once in the master and fork: the workers share its memory pages until they write them.
preload_app = True
# Recycle a worker now and then so a slow leak cannot grow without bound; the jitter keeps the workers
# from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Behind a load balancer, keep this above the balancer's idle timeout, or it reuses closed connections.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# gunicorn's defaults, stated: request line, header count and header size limits (bodies: Django's
# DATA_UPLOAD_MAX_MEMORY_SIZE).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The heartbeat files on tmpfs: a worker must not be killed because a disk stalled.
_SHM = "/dev/shm"  # noqa: S108  # nosec B108  # gunicorn's heartbeat files only, not shared data
if Path(_SHM).is_dir():
    worker_tmp_dir = _SHM

# No gunicorn access log: Django's RequestMetricsMiddleware writes one line per request with the URL
# *pattern*, never the path with its query string (which may hold personal data or tokens).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
# gunicorn's own lines in the same shape as the application's (JSON by default). A logging config
# switches gunicorn's access log on whatever ``accesslog`` says, so its logger goes to a NullHandler.
_level = os.environ.get("LOG_LEVEL", "INFO")
logconfig_dict = logging_config(os.environ.get("LOG_FORMAT", "json"), _level)
logconfig_dict["handlers"]["discard"] = {"class": "logging.NullHandler"}
logconfig_dict["loggers"] = {
    "gunicorn.error": {"level": _level, "handlers": ["console"], "propagate": False},
    "gunicorn.access": {"level": _level, "handlers": ["discard"], "propagate": False},
}

# gunicorn's runtime control socket (gunicornc) only where asked for: signals do the same, and a
# management interface nobody uses is one more thing to secure.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "") or None
control_socket_disable = control_socket is None

certfile = os.environ.get("TLS_CERT_FILE") or None
keyfile = os.environ.get("TLS_KEY_FILE") or None
if bool(certfile) != bool(keyfile):
    raise RuntimeError("set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")


def ssl_context(config: Any, default_ssl_context_factory: Any) -> ssl.SSLContext:
    """gunicorn's context (certificate, key, ciphers) with TLS 1.3 as the lowest version it accepts."""
    context: ssl.SSLContext = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must leave the /metrics sums (config/metrics_view.py)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def pre_fork(server: Any, worker: Any) -> None:
    """No database connection crosses a fork: two processes on one socket would garble each other's
    traffic. (With preload_app, anything the app did at import ran in this master process.)

    The loaded app is then frozen out of the garbage collector's reach: a collection in a worker would
    otherwise write to every object the master made, copying the pages the workers share."""
    connections.close_all()
    gc.freeze()
