"""Token-authenticated API requests skip the session, Django's user and messages; browsers keep them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import Role


@pytest.mark.django_db
def test_a_token_api_request_does_no_session_work(
    make_user: Callable[..., Any], client_for: Callable[[Any], APIClient]
) -> None:
    response = client_for(make_user(Role.MANAGER)).get("/api/orders/")
    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "_messages")
    assert "sessionid" not in response.cookies and "Cookie" not in response.get("Vary", "")


@pytest.mark.django_db
def test_a_session_still_authenticates_the_api_and_the_admin_for_a_browser(
    make_user: Callable[..., Any],
) -> None:
    manager = make_user(Role.MANAGER)
    browser = Client()
    browser.force_login(manager)
    api = browser.get("/api/orders/", HTTP_ACCEPT="application/json")
    assert api.status_code == 200 and hasattr(api.wsgi_request, "session")
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_bad_token_is_refused_without_the_session_being_consulted(make_user: Callable[..., Any]) -> None:
    browser = Client()
    browser.force_login(make_user(Role.MANAGER))  # a logged-in session must not rescue a bad token
    response = browser.get("/api/orders/", HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401
