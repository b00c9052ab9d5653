"""The schema's documentation of each operation: a summary, the guide, and only the errors it really answers.

For a few representative operations every documented error is produced by driving the real endpoint,
and the answer's status and body are compared with the documented example.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from uuid import uuid4

import pytest
from django.db import OperationalError, connection, transaction
from rest_framework.test import APIClient

from config.errors import ConcurrencyConflict
from orders import store
from orders.api import commands as command_api
from orders.models import Product
from tests.addresses import ADDRESS
from tests.conftest import run_in_threads

pytestmark = pytest.mark.django_db

Produce = Callable[[], Any]


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def documented_errors(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """code -> {"status", "body"} of each documented error example."""
    found = {}
    for status, response in operation["responses"].items():
        if int(status) < 400:
            continue
        for code, example in response["content"]["application/json"]["examples"].items():
            found[code] = {"status": int(status), "body": example["value"]}
    return found


def test_every_operation_has_a_short_summary(schema: dict[str, Any]) -> None:
    missing = [f"{m.upper()} {p}" for m, p, op in operations(schema) if not op.get("summary")]
    assert missing == []
    too_long = [op["summary"] for _, _, op in operations(schema) if len(op["summary"]) > 80]
    assert too_long == []


def test_the_description_is_a_getting_started_guide(schema: dict[str, Any]) -> None:
    guide = schema["info"]["description"]
    for needed in [
        "POST /api/auth/token/",
        "Authorization: Token",
        "`draft` → `placed` → `completed`",
        "cancelled",
        "refund",
        "fulfillment",
        "finance",
        "Idempotency-Key",
        "cursor",
        '"19.99"',
    ]:
        assert needed in guide, needed


@pytest.mark.parametrize(
    ("method", "path", "not_documented"),
    [
        ("get", "/api/orders/", {"403", "404", "409", "413", "422"}),  # a list refuses no one
        ("get", "/api/orders/{order_id}/", {"403", "409", "413", "422"}),  # 404, never 403
        ("get", "/api/projections/", {"400", "404", "409", "413", "422"}),
        ("get", "/api/products/", {"403", "404", "409", "413", "422"}),
        ("post", "/api/auth/token/", {"403", "404", "409", "422"}),
        ("post", "/api/orders/{order_id}/notes/", {"422_order_incomplete", "409_insufficient_stock"}),
    ],
)
def test_no_operation_documents_an_error_it_cannot_answer(
    schema: dict[str, Any], method: str, path: str, not_documented: set[str]
) -> None:
    operation = schema["paths"][path][method]
    documented = set(operation["responses"]) | {
        f"{e['status']}_{code}" for code, e in documented_errors(operation).items()
    }
    assert documented & not_documented == set()


def test_every_error_is_documented_with_an_example_of_the_envelope(schema: dict[str, Any]) -> None:
    checked = 0
    for _, _, operation in operations(schema):
        for code, documented in documented_errors(operation).items():
            assert documented["body"]["error"]["code"] == code
            assert set(documented["body"]["error"]) == {"code", "message", "details"}
            checked += 1
    assert checked > 0  # not vacuous: the schema documents errors at all


def assert_answers_as_documented(documented: dict[str, Any], produce: dict[str, Produce]) -> None:
    assert set(documented) == set(produce), "each documented error has a way to produce it here"
    for code, make in produce.items():
        response = make()
        body = response.json()
        assert response.status_code == documented[code]["status"], (code, body)
        assert body["error"]["code"] == code, body
        expected = documented[code]["body"]["error"]
        assert set(body["error"]) == set(expected)
        assert all(type(body["error"][k]) is type(expected[k]) for k in expected), body


@contextmanager
def key_held_by_a_running_request(user: Any, key: str) -> Iterator[None]:
    """Hold ``key``'s lock from another connection, as a request still in flight does."""
    digest = hashlib.sha256(f"{user.pk}:{key}".encode()).digest()
    holding, release = threading.Event(), threading.Event()

    def in_flight(_: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )
            holding.set()
            assert release.wait(10)

    holder = threading.Thread(target=lambda: run_in_threads(in_flight, 1))
    holder.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def test_placing_an_order_answers_exactly_the_documented_errors(
    schema: dict[str, Any],
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
    new_order: Callable[..., dict],
    make_product: Callable[..., Product],
    settings: Any,
) -> None:
    customer = client_for(users["customer"])

    def place(order: dict[str, Any], client: APIClient = customer, **kwargs: Any) -> Any:
        return client.post(
            f"/api/orders/{order['id']}/place/", kwargs.pop("body", {}), format="json", **kwargs
        )

    def unknown_order() -> Any:
        return place({"id": uuid4()})

    def without_an_address() -> Any:
        order = customer.post(
            "/api/orders/", {"lines": [{"sku": "MUG", "quantity": 1}]}, format="json"
        ).json()
        return place(order)

    def more_than_in_stock() -> Any:
        make_product("RARE", stock=1)
        lines = [{"sku": "RARE", "quantity": 2}]
        order = customer.post("/api/orders/", {"lines": lines, "shipping_address": ADDRESS}, format="json")
        return place(order.json())

    def key_reused() -> Any:
        place(new_order(), HTTP_IDEMPOTENCY_KEY="k1")
        return place(new_order(), HTTP_IDEMPOTENCY_KEY="k1")

    def key_in_use() -> Any:
        with key_held_by_a_running_request(users["customer"], "busy"):
            return place(new_order(), HTTP_IDEMPOTENCY_KEY="busy")

    def always_overtaken() -> Any:
        order = new_order()
        overtaken = ConcurrencyConflict("another command wrote this version first")
        with mock.patch.object(store, "append", side_effect=overtaken):
            return place(order)

    def database_gone() -> Any:
        order = new_order()
        with mock.patch.object(command_api, "dispatch", side_effect=OperationalError("connection lost")):
            return place(order)

    def throttled() -> Any:
        order = new_order()
        settings.THROTTLE_POLICIES = {**settings.THROTTLE_POLICIES, "write": (0, 0.01)}
        return place(order)

    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    placed = new_order(place=True)
    produce: dict[str, Produce] = {
        "validation_error": lambda: place(new_order(), body={"surprise": 1}),
        "not_authenticated": lambda: place(new_order(), APIClient()),
        "authentication_failed": lambda: place(new_order(), bad_token),
        "permission_denied": lambda: place(new_order(), client_for(users["fulfillment"])),
        "not_found": unknown_order,
        "invalid_transition": lambda: place(placed),
        "insufficient_stock": more_than_in_stock,
        "order_incomplete": without_an_address,
        "idempotency_key_reused": key_reused,
        "idempotency_key_in_use": key_in_use,
        "concurrency_conflict": always_overtaken,
        "database_unavailable": database_gone,
        "rate_limited": throttled,
    }
    assert_answers_as_documented(
        documented_errors(schema["paths"]["/api/orders/{order_id}/place/"]["post"]), produce
    )


def test_the_sales_report_answers_exactly_the_documented_errors(
    schema: dict[str, Any], client_for: Callable[[Any], APIClient], users: dict[str, Any], settings: Any
) -> None:
    finance = client_for(users["finance"])
    url = "/api/reports/daily-sales/"
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    def throttled() -> Any:
        settings.THROTTLE_POLICIES = {**settings.THROTTLE_POLICIES, "read": (0, 0.01)}
        return finance.get(url)

    def database_gone() -> Any:
        with mock.patch(
            "projections.api.views.DailySales.objects.filter", side_effect=OperationalError("gone")
        ):
            return finance.get(url)

    produce: dict[str, Produce] = {
        "validation_error": lambda: finance.get(url, {"from": "2026-02-01", "to": "2026-01-01"}),
        "not_authenticated": lambda: APIClient().get(url),
        "authentication_failed": lambda: bad_token.get(url),
        "permission_denied": lambda: client_for(users["customer"]).get(url),
        "database_unavailable": database_gone,
        "rate_limited": throttled,
    }
    assert_answers_as_documented(documented_errors(schema["paths"][url]["get"]), produce)


def test_the_token_endpoint_answers_exactly_the_documented_errors(
    schema: dict[str, Any], settings: Any
) -> None:
    url = "/api/auth/token/"

    def post(body: Any) -> Any:
        return APIClient().post(url, body, format="json")

    def too_large() -> Any:
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
        return post({"username": "x" * 150, "password": "y" * 200})

    def throttled() -> Any:
        settings.THROTTLE_POLICIES = {**settings.THROTTLE_POLICIES, "token": (0, 0.01)}
        return post({"username": "nobody", "password": "wrong"})

    def database_gone() -> Any:
        with mock.patch("accounts.api.views.authenticate", side_effect=OperationalError("gone")):
            return post({"username": "nobody", "password": "wrong"})

    produce: dict[str, Produce] = {
        "validation_error": lambda: post({"username": "nobody"}),
        "authentication_failed": lambda: post({"username": "nobody", "password": "wrong"}),
        "request_too_large": too_large,
        "database_unavailable": database_gone,
        "rate_limited": throttled,
    }
    assert_answers_as_documented(documented_errors(schema["paths"][url]["post"]), produce)
