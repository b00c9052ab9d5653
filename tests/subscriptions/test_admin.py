"""Webhooks in the admin: managers only; figures on the endpoint list; the actions pause, resume,
rotate and redeliver (audited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.roles import Role
from subscriptions.models import Delivery, Endpoint, RedeliveryRequest
from tests.subscriptions.conftest import append_payments, fan_out_everything

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_only_managers_see_webhooks_in_the_admin(make_user: Callable[..., Any]) -> None:
    for role in (Role.SUPPORT, Role.FINANCE, Role.FULFILLMENT):
        client = signed_in(make_user(role))
        assert client.get("/admin/subscriptions/endpoint/").status_code == 403
        assert client.get("/admin/subscriptions/delivery/").status_code == 403


def test_the_endpoint_list_shows_figures_and_the_actions_work(
    make_user: Callable[..., Any], make_endpoint: Callable[..., Endpoint]
) -> None:
    manager = make_user(Role.MANAGER)
    client = signed_in(manager)
    endpoint = make_endpoint("http://127.0.0.1:9/in")
    append_payments(3)
    fan_out_everything(batch_size=10)

    page = client.get("/admin/subscriptions/endpoint/")
    assert page.status_code == 200
    assert "127.0.0.1:9/in" in page.content.decode()

    client.post("/admin/subscriptions/endpoint/", {"action": "pause", "_selected_action": [str(endpoint.pk)]})
    endpoint.refresh_from_db()
    assert endpoint.state == Endpoint.State.PAUSED
    old = endpoint.secret
    client.post(
        "/admin/subscriptions/endpoint/", {"action": "rotate", "_selected_action": [str(endpoint.pk)]}
    )
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == old and endpoint.secret != old

    dead = endpoint.deliveries.first()
    Delivery.objects.filter(pk=dead.pk).update(state=Delivery.State.DEAD, attempts=9)
    client.post(
        "/admin/subscriptions/delivery/", {"action": "redeliver_selected", "_selected_action": [str(dead.pk)]}
    )
    dead.refresh_from_db()
    assert dead.state == Delivery.State.PENDING and dead.attempts == 0
    assert RedeliveryRequest.objects.get().requested_by == manager
    assert client.get(f"/admin/subscriptions/delivery/{dead.pk}/change/").status_code == 200


def test_an_endpoint_made_in_the_admin_starts_at_the_log_tail_and_refuses_private_urls(
    make_user: Callable[..., Any], settings: Any
) -> None:
    client = signed_in(make_user(Role.MANAGER))
    append_payments(2)
    form = {
        "url": "http://127.0.0.1:9/in",
        "description": "erp",
        "event_types": "[]",
        "payload_version": 1,
        "max_in_flight": 8,
    }
    answer = client.post("/admin/subscriptions/endpoint/add/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    endpoint = Endpoint.objects.get()
    fan_out_everything(batch_size=10)
    assert not endpoint.deliveries.exists()

    settings.SUBSCRIPTION_ALLOWED_NETWORKS = []
    answer = client.post("/admin/subscriptions/endpoint/add/", {**form, "url": "http://127.0.0.1:9/other"})
    assert answer.status_code == 200 and "loopback" in answer.content.decode()
    assert Endpoint.objects.count() == 1


def test_metrics_and_the_dashboard_show_lag_and_failures(
    make_user: Callable[..., Any], make_endpoint: Callable[..., Endpoint], settings: Any
) -> None:
    endpoint = make_endpoint("http://127.0.0.1:9/in")
    append_payments(2)
    fan_out_everything(batch_size=10)
    Delivery.objects.filter(endpoint=endpoint).update(state=Delivery.State.DEAD)
    append_payments(1)
    fan_out_everything(batch_size=10)

    manager = signed_in(make_user(Role.MANAGER))
    page = manager.get("/admin/").content.decode()
    assert 'id="dashboard-webhooks"' in page and "1 dead" not in page and "2 dead deliveries" in page
    support_page = signed_in(make_user(Role.SUPPORT)).get("/admin/").content.decode()
    assert 'id="dashboard-webhooks"' not in support_page

    from django.test import Client as Anonymous
    from django.utils import timezone

    from subscriptions.models import DeliveryAttempt

    failed = endpoint.deliveries.first()
    DeliveryAttempt.objects.create(
        delivery=failed, attempted_at=timezone.now(), request_url="u", status_code=503
    )

    metrics = Anonymous().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert f'webhook_deliveries{{endpoint="{endpoint.pk}",state="dead"}} 2.0' in metrics
    assert f'webhook_deliveries{{endpoint="{endpoint.pk}",state="pending"}} 1.0' in metrics
    assert "webhook_delivery_lag_seconds" in metrics
    assert f'webhook_failed_attempts_last_hour{{endpoint="{endpoint.pk}"}} 1.0' in metrics
