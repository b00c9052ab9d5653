"""``/healthz`` (liveness) and ``/readyz`` (readiness) for load balancers and orchestrators.

Plain Django views, outside DRF: no authentication and no throttling, so a probe always gets through.
Their JSON shows states and counts only, never a URL, credential, error text or personal data.

``/readyz`` runs the checks named in ``settings.READINESS_CHECKS`` (name -> dotted path, see
``config.readiness``) side by side in threads, each within ``READINESS_CHECK_TIMEOUT`` seconds: a
check that raises or overruns fails, and the answer is 503, never a 500 or a hung probe. A new check
(the backup age, say) is a function plus a settings entry; this view does not change.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.readiness import CheckResult

logger = logging.getLogger(__name__)

# "warn": reported, but the node stays ready (a multi-site replication problem: the site itself still
# serves its own customers correctly, and taking it out of rotation would make things worse).
_STATUSES = frozenset({"ok", "warn", "fail", "skipped"})


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process serves requests; dependencies are /readyz's business (a restart would not fix them)."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_checks(settings.READINESS_CHECKS, budget=settings.READINESS_CHECK_TIMEOUT)
    ready = all(result["status"] != "fail" for result in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


def run_checks(checks: Mapping[str, str], *, budget: float) -> dict[str, CheckResult]:
    """Run every check concurrently; wait at most ``budget`` seconds for all of them together."""
    if not checks:
        return {}
    executor = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    # Each thread runs in a copy of this context, so its log lines carry the request id.
    futures = {
        name: executor.submit(contextvars.copy_context().run, _run_one, name, path, budget)
        for name, path in checks.items()
    }
    done, _ = wait(futures.values(), timeout=budget)
    # Do not wait for an overrunning check: it ends on its own I/O timeout, its answer is dropped.
    executor.shutdown(wait=False, cancel_futures=True)
    return {
        name: future.result()
        if future in done
        else {"status": "fail", "reason": f"no answer within {budget:g}s"}
        for name, future in futures.items()
    }


def _run_one(name: str, path: str, budget: float) -> CheckResult:
    started = time.monotonic()
    try:
        result = dict(import_string(path)(budget=budget))
        if result.get("status") not in _STATUSES:
            raise ValueError(f"check returned status {result.get('status')!r}")
    except Exception as exc:
        logger.warning("readiness check %s failed", name, exc_info=True)
        # The exception's class only: its text may name hosts, users or paths.
        result = {"status": "fail", "reason": type(exc).__name__}
    finally:
        # This thread's own database connection; it would otherwise stay open until the thread is collected.
        connections.close_all()
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result
