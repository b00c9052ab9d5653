"""The OpenAPI schema, its docs UI served locally, and a property-based run of the API against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application

pytestmark = pytest.mark.django_db


def test_the_schema_documents_every_route_and_the_protocol_headers() -> None:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for route in [
        "/api/orders/",
        "/api/orders/{order_id}/",
        "/api/orders/{order_id}/events/",
        "/api/orders/{order_id}/lines/{sku}/",
        "/api/orders/{order_id}/shipments/{shipment_id}/deliver/",
        "/api/reports/daily-sales/",
        "/api/projections/",
        "/api/auth/token/",
        "/api/products/",
    ]:
        assert route in paths, route
    place = paths["/api/orders/{order_id}/place/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in place["parameters"]]
    detail = paths["/api/orders/{order_id}/"]["get"]
    assert {"X-Consistency-Token", "as_of", "as_of_version"} <= {p["name"] for p in detail["parameters"]}
    assert "ErrorResponse" in schema["components"]["schemas"]


def test_the_docs_ui_loads_its_assets_from_this_server() -> None:
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


@pytest.fixture
def wsgi_requests_keep_the_connection() -> Iterator[None]:
    # Like Django's test client: requests must not close the test's connection (and its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_request_makes_the_api_fail_or_break_its_schema(
    make_user: Callable[..., Any], wsgi_requests_keep_the_connection: None, settings: Any
) -> None:
    settings.THROTTLE_ENABLED = False  # hundreds of requests from one user; throttling has its own tests
    token, _ = Token.objects.get_or_create(user=make_user("manager"))
    headers = {"Authorization": f"Token {token.key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        call()


def test_the_order_list_is_documented_as_a_read_and_the_create_as_a_201_with_location() -> None:
    paths = APIClient().get("/api/schema/?format=json").json()["paths"]
    listing, create = paths["/api/orders/"]["get"], paths["/api/orders/"]["post"]
    assert "200" in listing["responses"] and "201" not in listing["responses"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PaginatedOrderList"
    )
    assert "Idempotency-Key" not in [p["name"] for p in listing["parameters"]]
    assert "ordering" in [p["name"] for p in listing["parameters"]]
    assert "Location" in create["responses"]["201"]["headers"]
