"""The subscriptions API's human messages follow the request's language; their codes and field names do
not. The project ships no German catalog of its own texts yet, so the test puts a few German texts into
the active catalog: a message that is not passed through gettext stays English regardless."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.utils.translation import trans_real
from rest_framework.test import APIClient

from accounts.roles import Role

pytestmark = pytest.mark.django_db
ENDPOINTS = "/api/webhooks/endpoints/"
GERMAN = {
    "no such endpoint": "kein solcher Endpunkt",
    "give one of: delivery, from_position and to_position, failed_since": "eines von: …",
    "the URL must use https": "die URL muss https verwenden",
    "no event has this position": "kein Ereignis hat diese Position",
}


@pytest.fixture
def german(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = trans_real.translation("de")._catalog._catalogs[0]  # what "de" requests read
    for english, translated in GERMAN.items():
        monkeypatch.setitem(catalog, english, translated)


@pytest.fixture
def manager(make_user: Callable[..., Any]) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user(Role.MANAGER))
    return client


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.usefixtures("german")
def test_not_found_speaks_the_requests_language_and_keeps_its_code(manager: APIClient) -> None:
    url = f"/api/webhooks/endpoints/{uuid4()}/"
    german = _error(manager.get(url, HTTP_ACCEPT_LANGUAGE="de"), 404)
    english = _error(manager.get(url, HTTP_ACCEPT_LANGUAGE="en"), 404)
    assert german["code"] == english["code"] == "not_found"
    assert (german["message"], english["message"]) == ("kein solcher Endpunkt", "no such endpoint")


@pytest.mark.usefixtures("german")
def test_validation_messages_speak_the_requests_language_and_keep_their_fields(
    manager: APIClient, settings: Any
) -> None:
    settings.SUBSCRIPTION_REQUIRE_HTTPS = True
    refused = manager.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/x"}, format="json", HTTP_ACCEPT_LANGUAGE="de"
    )
    error = _error(refused, 400)
    assert error["code"] == "validation_error" and error["details"]["url"] == ["die URL muss https verwenden"]

    settings.SUBSCRIPTION_REQUIRE_HTTPS = False
    made = manager.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x"}, format="json").json()
    asked = manager.post(f"{ENDPOINTS}{made['id']}/redeliver/", {}, format="json", HTTP_ACCEPT_LANGUAGE="de")
    error = _error(asked, 400)
    assert error["code"] == "validation_error" and error["details"]["non_field_errors"] == ["eines von: …"]

    error = _error(manager.get("/api/events/", {"after": 10**12}, HTTP_ACCEPT_LANGUAGE="de"), 400)
    assert error["code"] == "validation_error"
    assert error["details"]["after"] == ["kein Ereignis hat diese Position"]
