"""The endpoints' API: managers only, the secret shown once, SSRF refused at the door, state changes,
rotation, deliveries with their log, audited redeliveries, bad input as a 400 that changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from subscriptions.models import Delivery, Endpoint, RedeliveryRequest
from subscriptions.sender import Sender
from tests.subscriptions.conftest import append_payments, fan_out_everything
from tests.subscriptions.receiver import running_receiver

pytestmark = pytest.mark.django_db(transaction=True)
ENDPOINTS = "/api/webhooks/endpoints/"


@pytest.fixture
def manager_client(make_user: Callable[..., Any]) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user(Role.MANAGER))
    return client


def test_only_managers_manage_endpoints(make_user: Callable[..., Any]) -> None:
    for role in (Role.SUPPORT, Role.FINANCE, Role.CUSTOMER):
        client = APIClient()
        client.force_authenticate(make_user(role))
        assert client.get(ENDPOINTS).status_code == 403
        assert client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x"}, format="json").status_code == 403
    assert not Endpoint.objects.exists()


def test_a_manager_creates_an_endpoint_and_sees_its_secret_once(manager_client: APIClient) -> None:
    made = manager_client.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/in", "event_types": ["OrderPlaced"]}, format="json"
    )
    assert made.status_code == 201, made.json()
    assert made.json()["secret"].startswith("whsec_")
    detail = manager_client.get(f"{ENDPOINTS}{made.json()['id']}/").json()
    assert "secret" not in detail and detail["event_types"] == ["OrderPlaced"]
    assert manager_client.get(ENDPOINTS).json()["results"][0]["id"] == made.json()["id"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "http://10.0.0.1/in"}, "url"),  # private: refused at the door too
        ({"url": "not a url"}, "url"),
        ({"url": "http://127.0.0.1:9/in", "event_types": ["Nope"]}, "event_types"),
        ({"url": "http://127.0.0.1:9/in", "max_in_flight": 0}, "max_in_flight"),
        ({"url": "http://127.0.0.1:9/in", "payload_version": 7}, "payload_version"),
    ],
)
def test_bad_endpoints_are_refused_and_nothing_is_made(
    manager_client: APIClient, body: dict[str, Any], field: str
) -> None:
    answer = manager_client.post(ENDPOINTS, body, format="json")
    assert answer.status_code == 400 and field in str(answer.json())
    assert not Endpoint.objects.exists()


def test_pause_resume_rotate_and_redeliver_through_the_api(manager_client: APIClient) -> None:
    [before] = append_payments(1)  # before the endpoint: not sent, until a range asks for it
    made = manager_client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/in"}, format="json").json()
    url, old_secret = f"{ENDPOINTS}{made['id']}/", made["secret"]
    assert manager_client.patch(url, {"state": "paused"}, format="json").json()["state"] == "paused"

    rotated = manager_client.post(f"{url}rotate-secret/").json()
    endpoint = Endpoint.objects.get(pk=made["id"])
    assert endpoint.secret == rotated["secret"] != old_secret and endpoint.previous_secret == old_secret

    with running_receiver([rotated["secret"]]) as receiver:
        assert (
            manager_client.patch(url, {"url": receiver.url(), "state": "active"}, format="json").status_code
            == 200
        )
        receiver.script.actions["/hook"] = ["500"]
        positions = append_payments(2)
        fan_out_everything(batch_size=10)
        Sender(threads=1).run(max_seconds=5)
        failed = Delivery.objects.get(endpoint_id=made["id"], last_status=500)

        listed = manager_client.get(f"{url}deliveries/", {"state": "pending"}).json()["results"]
        assert [d["id"] for d in listed] == [failed.pk]
        detail = manager_client.get(f"{url}deliveries/{failed.pk}/").json()
        assert detail["log"][0]["status_code"] == 500 and detail["log"][0]["response"] == '{"status": 500}'

        since = (timezone.now() - timedelta(minutes=5)).isoformat()
        answer = manager_client.post(f"{url}redeliver/", {"failed_since": since}, format="json")
        assert answer.status_code == 202 and answer.json() == {"deliveries": 1}
        Sender(threads=1).run(max_seconds=5)
        assert {b["position"] for b in receiver.inbox.values()} == set(positions)

        # A range brings back what was delivered already, and events from before the endpoint.
        answer = manager_client.post(
            f"{url}redeliver/", {"from_position": before, "to_position": positions[-1]}, format="json"
        )
        assert answer.json() == {"deliveries": 3}
        Sender(threads=1).run(max_seconds=5)
        assert sum(receiver.received.values()) == 5 and before in {
            b["position"] for b in receiver.inbox.values()
        }
    audit = list(RedeliveryRequest.objects.values_list("scope", "deliveries"))
    assert len(audit) == 2 and audit[1][0].startswith("failures since")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"delivery": 1, "failed_since": "2026-01-01T00:00:00Z"},
        {"from_position": 5},
        {"delivery": 999999},
        {"from_position": 1, "to_position": 10_000_000},
        {"colour": "red"},
    ],
)
def test_bad_redelivery_requests_are_400_and_change_nothing(
    manager_client: APIClient, body: dict[str, Any]
) -> None:
    made = manager_client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/in"}, format="json").json()
    answer = manager_client.post(f"{ENDPOINTS}{made['id']}/redeliver/", body, format="json")
    assert answer.status_code == 400
    assert not RedeliveryRequest.objects.exists()


def test_support_may_not_redeliver(make_user: Callable[..., Any], manager_client: APIClient) -> None:
    made = manager_client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/in"}, format="json").json()
    client = APIClient()
    client.force_authenticate(make_user(Role.SUPPORT))
    since = timezone.now().isoformat()
    assert (
        client.post(f"{ENDPOINTS}{made['id']}/redeliver/", {"failed_since": since}, format="json").status_code
        == 403
    )
