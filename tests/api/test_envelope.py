"""Every answer under /api/ is the error envelope, with DEBUG on as well as off (SPEC §6).

With DEBUG on, Django answers an unmatched URL with its technical 404 page (which lists the URL
patterns) and an unhandled exception with its technical 500 page, ignoring ``handler404``/``handler500``;
these tests run both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import path
from rest_framework.test import APIClient

from config import urls as project_urls

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request: pytest.FixtureRequest, settings: Any) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


def _assert_envelope(response: Any, *, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/no-such-thing/",
        "/api/orders/not-a-uuid/",
        "/api/orders/not-a-uuid/events/",
        "/api/orders/00000000-0000-0000-0000-000000000000/shipments/x/deliver/",
        "/api/customers/not-a-number/erase/",
    ],
)
def test_an_unknown_route_is_a_not_found_envelope(debug: bool, method: str, path: str) -> None:
    _assert_envelope(getattr(APIClient(), method)(path), status=404, code="not_found")


def test_a_missing_trailing_slash_names_the_route_meant(debug: bool) -> None:
    error = _assert_envelope(APIClient().get("/api/orders"), status=404, code="not_found")
    assert "/api/orders/" in error["message"]
    error = _assert_envelope(
        APIClient().post("/api/orders/00000000-0000-0000-0000-000000000000/place"),
        status=404,
        code="not_found",
    )
    assert "/api/orders/00000000-0000-0000-0000-000000000000/place/" in error["message"]


def test_the_api_root_is_an_index_of_the_resources(debug: bool) -> None:
    response = APIClient().get("/api/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    resources = response.json()["resources"]
    for name, expected in {
        "orders": "/api/orders/",
        "products": "/api/products/",
        "token": "/api/auth/token/",
        "schema": "/api/schema/",
        "docs": "/api/docs/",
    }.items():
        assert resources[name].endswith(expected), resources


def test_an_api_root_without_the_slash_is_a_not_found_envelope(debug: bool) -> None:
    error = _assert_envelope(APIClient().get("/api"), status=404, code="not_found")
    assert "/api/" in error["message"]


def _explode(request: Any) -> Any:
    raise RuntimeError("a bug")


urlpatterns = [path("api/explode/", _explode), *project_urls.urlpatterns]


def test_an_unhandled_error_is_an_internal_error_envelope(
    debug: bool, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ROOT_URLCONF = __name__
    response = APIClient(raise_request_exception=False).get("/api/explode/")
    error = _assert_envelope(response, status=500, code="internal_error")
    assert "a bug" not in str(error)  # no internals leak to the client
    assert any("a bug" in record.getMessage() or record.exc_info for record in caplog.records)


def test_outside_the_api_django_keeps_its_own_pages(settings: Any) -> None:
    settings.DEBUG = False
    response = APIClient().get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_known_route_is_unchanged(client_for: Callable[[Any], APIClient], users: dict[str, Any]) -> None:
    assert client_for(users["customer"]).get("/api/orders/").status_code == 200
