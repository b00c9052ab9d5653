"""``/metrics``: the metrics of ``config.metrics`` plus projection lag and state and the backups' measured
RPO (``recovery.metrics``), in Prometheus text format.

Several processes (gunicorn workers): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory, the same
for every process of the host, before they start. prometheus-client then keeps each process's counters
in files there, and a scrape sums them with ``MultiProcessCollector`` on a fresh registry (the default
registry would hold only the answering worker's numbers). Wipe the directory at deploy and call
``prometheus_client.multiprocess.mark_process_dead(worker.pid)`` from gunicorn's ``child_exit`` hook.
Celery workers pointed at the same directory add their commands and events to the sums. Without the
variable, the process's default registry is served.

Access: anyone on loopback (a Prometheus or agent on the same host). Anyone else must send
``Authorization: Bearer <METRICS_TOKEN>``; with no ``METRICS_TOKEN`` set, only loopback is served.
A reverse proxy on the same host makes every client look like loopback: do not forward ``/metrics``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from config.metrics import SCRAPED

logger = logging.getLogger(__name__)


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    scraped = CollectorRegistry()
    for collector in SCRAPED:
        scraped.register(collector)
    body = generate_latest(_process_registry()) + generate_latest(scraped)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _refusal(request: HttpRequest) -> HttpResponse | None:
    if _is_loopback(request.META.get("REMOTE_ADDR", "")):
        return None
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("metrics are served to loopback only\n", status=403, content_type="text/plain")
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
        return None
    response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
