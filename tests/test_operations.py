"""Operations endpoints (/healthz, /readyz, /metrics), request ids and JSON logs, against real
PostgreSQL, Redis and (in one test) a real Celery worker.

/readyz runs its checks in threads with their own database connections, so they see only committed
data: tests that prepare checkpoints or events for it commit for real (transaction=True).
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils.module_loading import import_string
from prometheus_client.parser import text_string_to_metric_families

from config.celery import app as celery_app
from config.errors import InvalidTransition
from config.logs import logging_config
from config.request_context import correlation_id
from orders import commands as c
from orders.handlers import UnknownCommand, dispatch
from orders.models import StoredEvent
from projections.models import ProjectionCheckpoint
from projections.projectors import PROJECTORS
from tests.projections.test_celery_worker import WorkerProcess

# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _operations_settings(settings: Any) -> None:
    # Most tests run without a Celery worker; the worker tests switch the check back on.
    settings.READINESS_REQUIRE_WORKER = False
    settings.METRICS_TOKEN = ""


@pytest.fixture
def own_queue() -> Iterator[str]:
    """A task queue of this test's own, so a worker of a developer's `make run` on the same Redis
    neither answers for nor steals from the test."""
    queue = f"test-operations-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = previous


def metric_value(client: Client, name: str, **labels: str) -> float:
    """A sample's value from /metrics as Prometheus would parse it; 0 if the series does not exist."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exploding_check(*, budget: float) -> dict[str, Any]:
    raise RuntimeError("password=hunter2 at db.internal")


def slow_check(*, budget: float) -> dict[str, Any]:
    time.sleep(1.0)
    return {"status": "ok"}


# --- /healthz and /readyz --------------------------------------------------------------------------


def test_healthz_answers_without_touching_any_dependency(client: Client) -> None:
    # No database mark: a database query here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ready_when_every_dependency_answers(client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"database", "redis", "worker", "projections", "backups"}
    assert checks["database"]["status"] == checks["redis"]["status"] == "ok"
    assert checks["worker"]["status"] == "skipped"
    assert checks["backups"] == {
        "status": "skipped",
        "reason": "no backup recorded yet",  # the test profile has a backup key (recovery/)
        "duration_ms": checks["backups"]["duration_ms"],
    }
    assert checks["projections"]["status"] == "ok"
    assert set(checks["projections"]["projections"]) == set(PROJECTORS)
    assert all(p["state"] == "running" for p in checks["projections"]["projections"].values())


@pytest.mark.django_db(transaction=True)
def test_readyz_is_not_ready_when_redis_is_unreachable(client: Client, settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["redis"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()  # no connection details in the answer


@pytest.mark.django_db(transaction=True)
def test_readyz_is_not_ready_while_a_projection_is_failed(client: Client) -> None:
    failed = next(iter(PROJECTORS))
    ProjectionCheckpoint.objects.create(
        name=failed, state=ProjectionCheckpoint.State.FAILED, last_error="bad address for ada@example.com"
    )

    response = client.get("/readyz")

    assert response.status_code == 503
    check = response.json()["checks"]["projections"]
    assert check["status"] == "fail"
    assert check["projections"][failed]["state"] == "failed"
    assert f"{failed} is failed" in check["problems"]
    assert "ada@example.com" not in response.content.decode()  # the error text may hold personal data


@pytest.mark.django_db(transaction=True)
def test_readyz_is_not_ready_when_projections_lag_too_far(
    client: Client, settings: Any, placed_order: Callable[..., uuid.UUID]
) -> None:
    placed_order()  # committed, and nothing projects it (no worker, no nudge in tests)
    time.sleep(0.05)
    settings.READINESS_MAX_PROJECTION_LAG = 0.01

    response = client.get("/readyz")

    assert response.status_code == 503
    projections = response.json()["checks"]["projections"]["projections"]
    events = StoredEvent.objects.count()
    assert all(p["lag_events"] == events and p["lag_seconds"] > 0.01 for p in projections.values())


@pytest.mark.django_db
def test_a_check_that_raises_fails_without_a_500_or_its_message(client: Client, settings: Any) -> None:
    settings.READINESS_CHECKS = {
        "database": "config.readiness.check_database",
        "boom": f"{__name__}.exploding_check",
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["boom"]["status"] == "fail"
    assert response.json()["checks"]["boom"]["reason"] == "RuntimeError"
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_a_check_that_overruns_its_budget_fails_in_time(client: Client, settings: Any) -> None:
    settings.READINESS_CHECKS = {"slow": f"{__name__}.slow_check"}
    settings.READINESS_CHECK_TIMEOUT = 0.2

    started = time.monotonic()
    response = client.get("/readyz")

    assert time.monotonic() - started < 0.9
    assert response.status_code == 503
    assert response.json()["checks"]["slow"]["status"] == "fail"


@pytest.mark.django_db
@pytest.mark.usefixtures("own_queue")
def test_readyz_is_not_ready_when_no_worker_answers(client: Client, settings: Any) -> None:
    settings.READINESS_REQUIRE_WORKER = True

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["status"] == "fail"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_readyz_sees_a_running_worker_fast_and_a_killed_one_within_the_heartbeat_ttl(
    client: Client, settings: Any, own_queue: str, tmp_path: Path
) -> None:
    settings.READINESS_REQUIRE_WORKER = True
    ttl = 3.0
    worker = WorkerProcess(own_queue, tmp_path, WORKER_HEARTBEAT_TTL=str(ttl))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while (check := client.get("/readyz").json()["checks"]["worker"])["status"] != "ok":
            assert time.monotonic() < deadline, f"the worker never answered: {check}"
            time.sleep(0.2)
        assert check["workers"] == 1

        durations = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get("/readyz").json()["checks"]["worker"]["status"] == "ok"
            durations.append(time.perf_counter() - started)
        assert sorted(durations)[2] < 0.1, durations  # the median probe, whole endpoint

        worker.kill()  # SIGKILL: no goodbye, the heartbeat only stops
        killed = time.monotonic()
        while client.get("/readyz").json()["checks"]["worker"]["status"] == "ok":
            assert time.monotonic() - killed < ttl + 2, (
                "a dead worker still counted after its heartbeat's TTL"
            )
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 503
    finally:
        worker.kill()


# --- /metrics --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_latency_is_labelled_with_the_route_pattern_never_the_path(client: Client) -> None:
    before = metric_value(client, "http_request_duration_seconds_count", route="healthz", status="200")
    client.get("/healthz")
    object_id = uuid.uuid4().hex
    client.get(f"/admin/orders/product/{object_id}/change/")  # redirects to the login page
    client.get(f"/no/such/page/{object_id}")

    text = client.get("/metrics").content.decode()
    assert (
        metric_value(client, "http_request_duration_seconds_count", route="healthz", status="200")
        == before + 1
    )
    assert 'route="admin/orders/product/<path:object_id>/change/"' in text
    assert 'route="unmatched",status="404"' in text
    assert object_id not in text


@pytest.mark.django_db
def test_commands_are_counted_by_type_and_outcome(
    client: Client, customer: Any, placed_order: Callable[..., uuid.UUID]
) -> None:
    ok_before = metric_value(client, "commands_total", command="PlaceOrder", outcome="ok")
    rejected_before = metric_value(
        client, "commands_total", command="PlaceOrder", outcome="invalid_transition"
    )
    order_id = placed_order()
    with pytest.raises(InvalidTransition):
        dispatch(c.PlaceOrder(order_id=order_id), actor=customer)  # placed already

    assert metric_value(client, "commands_total", command="PlaceOrder", outcome="ok") == ok_before + 1
    assert (
        metric_value(client, "commands_total", command="PlaceOrder", outcome="invalid_transition")
        == rejected_before + 1
    )


@pytest.mark.django_db
def test_an_unexpected_failure_is_counted_as_error(client: Client, customer: Any) -> None:
    before = metric_value(client, "commands_total", command="OrderCommand", outcome="error")
    with pytest.raises(UnknownCommand):
        dispatch(c.OrderCommand(order_id=uuid.uuid4()), actor=customer)

    assert metric_value(client, "commands_total", command="OrderCommand", outcome="error") == before + 1


@pytest.mark.django_db(transaction=True)
def test_committed_events_are_counted_and_projection_lag_is_exposed(
    client: Client, placed_order: Callable[..., uuid.UUID]
) -> None:
    created_before = metric_value(client, "events_appended_total", event_type="OrderCreated")
    placed_before = metric_value(client, "events_appended_total", event_type="OrderPlaced")

    placed_order()

    assert metric_value(client, "events_appended_total", event_type="OrderCreated") == created_before + 1
    assert metric_value(client, "events_appended_total", event_type="OrderPlaced") == placed_before + 1
    events = StoredEvent.objects.count()
    for name in PROJECTORS:
        assert metric_value(client, "projection_lag_events", projection=name) == events
        assert metric_value(client, "projection_lag_seconds", projection=name) > 0
        assert metric_value(client, "projection_state", projection=name, projection_state="running") == 1
        assert metric_value(client, "projection_state", projection=name, projection_state="failed") == 0


@pytest.mark.django_db
def test_metrics_from_another_host_need_the_bearer_token(client: Client, settings: Any) -> None:
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", **remote).status_code == 403  # no token configured: loopback only

    settings.METRICS_TOKEN = "a-long-scrape-token"
    refused = client.get("/metrics", **remote)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **remote).status_code == 401
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer a-long-scrape-token", **remote)
    assert allowed.status_code == 200
    assert allowed["Content-Type"].startswith("text/plain")
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1


# --- request id and logs ---------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger writing through the handler pieces the LOGGING setting names, into a buffer."""
    config = logging_config("json", "INFO")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(import_string(config["filters"]["request_id"]["()"])())
    handler.setFormatter(import_string(config["formatters"]["json"]["()"])())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous_level)


def test_a_request_id_is_generated_when_none_is_sent(client: Client) -> None:
    response = client.get("/healthz")
    assert uuid.UUID(response["X-Request-ID"]).version == 4


def test_a_sane_request_id_is_echoed_and_an_odd_one_replaced(client: Client) -> None:
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42_x").headers["X-Request-ID"] == "lb-7f3a.42_x"
    for odd in ("has spaces", "x" * 65, "new\nline", "ünïcode"):
        replaced = client.get("/healthz", HTTP_X_REQUEST_ID=odd)["X-Request-ID"]
        assert uuid.UUID(replaced).version == 4


def test_the_correlation_id_is_the_request_id_or_a_stable_uuid_of_it() -> None:
    request = RequestFactory().get("/")
    request.request_id = "4b8d2c9e-0f61-4a3b-9c57-2d1e8f6a0b13"
    assert correlation_id(request) == uuid.UUID("4b8d2c9e-0f61-4a3b-9c57-2d1e8f6a0b13")
    request.request_id = "lb-7f3a"
    assert correlation_id(request) == correlation_id(request)
    assert correlation_id(request).version == 5


def test_log_lines_are_json_with_the_request_id_and_no_query_string(
    client: Client, json_log: io.StringIO
) -> None:
    response = client.get("/healthz?email=ada@example.com", HTTP_X_REQUEST_ID="trace-me-1")
    assert response.status_code == 200

    output = json_log.getvalue()
    records = [json.loads(line) for line in output.splitlines()]
    access = [r for r in records if r["logger"] == "config.requests"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "trace-me-1"
    assert (line["method"], line["route"], line["status"], line["user_id"]) == ("GET", "healthz", 200, None)
    assert "ada@example.com" not in output


@pytest.mark.django_db
def test_log_lines_of_readiness_checks_carry_the_request_id(
    client: Client, settings: Any, json_log: io.StringIO
) -> None:
    settings.READINESS_CHECKS = {"boom": f"{__name__}.exploding_check"}

    client.get("/readyz", HTTP_X_REQUEST_ID="trace-me-2")

    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    warning = next(r for r in records if r["logger"] == "config.health")
    assert warning["request_id"] == "trace-me-2"
    assert warning["level"] == "WARNING"


def test_log_times_are_iso_8601_in_utc_whatever_the_local_zone(
    json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        before = datetime.now(UTC)
        logging.getLogger("config.requests").warning("a line")
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()

    stamp = json.loads(json_log.getvalue().splitlines()[-1])["time"]
    logged = datetime.fromisoformat(stamp)
    assert logged.utcoffset() == timedelta(0), stamp
    assert stamp.endswith("Z"), stamp
    assert before - timedelta(milliseconds=1) <= logged <= after


def test_an_unknown_log_format_stops_start_up() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config("xml", "INFO")
    assert logging_config("plain", "INFO")["handlers"]["console"]["formatter"] == "plain"
