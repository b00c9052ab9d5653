"""Password guessing: 10 tries at once per client address, then 429, on the API token and the admin login.

The default policy (10 burst, 10 a minute) is what runs here; each test has fresh buckets (conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import Role

pytestmark = pytest.mark.django_db

PASSWORD = "A-long-test-passphrase-42"  # the make_user fixture's


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> Any:
    return make_user(Role.MANAGER)


def admin_login(client: Client, username: str, password: str) -> Any:
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_the_11th_rapid_wrong_password_on_the_token_endpoint_is_refused(staff: Any) -> None:
    client = APIClient(REMOTE_ADDR="203.0.113.10")
    wrong = {"username": staff.username, "password": "not-the-password"}

    statuses = [client.post("/api/auth/token/", wrong, format="json").status_code for _ in range(11)]

    assert statuses == [401] * 10 + [429]
    right = {"username": staff.username, "password": PASSWORD}
    refused = client.post("/api/auth/token/", right, format="json")
    assert refused.status_code == 429  # the right password does not get past an empty bucket either
    assert int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limited"


def test_the_11th_rapid_wrong_password_on_the_admin_login_is_refused(staff: Any) -> None:
    client = Client(REMOTE_ADDR="203.0.113.11")

    statuses = [admin_login(client, staff.username, "not-the-password").status_code for _ in range(11)]

    assert statuses == [200] * 10 + [429]  # 200: the form again, with its error
    refused = admin_login(client, staff.username, PASSWORD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Policy"] == '"token";q=10;w=60'
    assert "_auth_user_id" not in client.session  # not logged in


def test_another_address_still_logs_in_to_the_admin(staff: Any) -> None:
    for _ in range(11):
        admin_login(Client(REMOTE_ADDR="203.0.113.12"), staff.username, "not-the-password")

    response = admin_login(Client(REMOTE_ADDR="203.0.113.13"), staff.username, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_the_admin_and_the_api_share_one_guessing_budget_per_address(staff: Any) -> None:
    for _ in range(10):
        admin_login(Client(REMOTE_ADDR="203.0.113.14"), staff.username, "not-the-password")

    response = APIClient(REMOTE_ADDR="203.0.113.14").post(
        "/api/auth/token/", {"username": staff.username, "password": "not-the-password"}, format="json"
    )

    assert response.status_code == 429


def test_viewing_the_login_form_costs_nothing(staff: Any) -> None:
    client = Client(REMOTE_ADDR="203.0.113.15")
    for _ in range(20):
        assert client.get("/admin/login/").status_code == 200

    assert admin_login(client, staff.username, PASSWORD).status_code == 302


def test_a_forged_forwarded_for_header_does_not_buy_fresh_tries(staff: Any) -> None:
    client = APIClient(REMOTE_ADDR="203.0.113.16")
    wrong = {"username": staff.username, "password": "not-the-password"}

    statuses = [
        client.post("/api/auth/token/", wrong, format="json", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code
        for i in range(11)
    ]

    assert statuses[-1] == 429


# --- Redis down: the password doors fail closed, whatever THROTTLE_FAIL_OPEN says -------------------------

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def test_without_redis_the_token_endpoint_refuses_even_when_failing_open(staff: Any, settings: Any) -> None:
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    settings.THROTTLE_FAIL_OPEN = True
    client = APIClient(REMOTE_ADDR="203.0.113.20")

    response = client.post(
        "/api/auth/token/", {"username": staff.username, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "throttle_unavailable"
    assert "token" not in response.json()
    assert client.get("/api/products/").status_code == 200  # other requests still fail open


def test_without_redis_the_admin_login_refuses_even_when_failing_open(staff: Any, settings: Any) -> None:
    settings.THROTTLE_REDIS_URL = DEAD_REDIS
    settings.THROTTLE_FAIL_OPEN = True
    client = Client(REMOTE_ADDR="203.0.113.21")

    response = admin_login(client, staff.username, PASSWORD)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "throttle_unavailable"
    assert int(response["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session  # not logged in
