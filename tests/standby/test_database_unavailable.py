"""A command that meets a database that went away answers 503 ``database_unavailable``, and a retry with
the same Idempotency-Key is applied exactly once — whether the failure came before or after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock
from uuid import UUID, uuid4

import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role
from orders import commands as c
from orders.api import commands as command_api
from orders.handlers import dispatch, dispatch_idempotent
from orders.models import StoredEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(make_user: Callable[..., Any]) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=make_user(Role.MANAGER))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def order_id(customer: Any) -> UUID:
    order_id = uuid4()
    dispatch(c.CreateOrder(order_id=order_id, customer_id=customer.pk, lines={}), actor=customer)
    return order_id


def _lose_the_answer(original: Callable[..., Any]) -> Callable[..., Any]:
    """The command commits, then the connection drops before the client hears of it."""

    def dispatch_idempotent(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    return dispatch_idempotent


@pytest.mark.parametrize("committed", [False, True], ids=["before-commit", "after-commit"])
def test_a_lost_database_answers_503_and_the_retry_applies_the_command_once(
    manager_client: APIClient, order_id: UUID, committed: bool
) -> None:
    path, key = f"/api/orders/{order_id}/notes/", {"HTTP_IDEMPOTENCY_KEY": "note-1"}
    if committed:
        failure = mock.patch.object(command_api, "dispatch_idempotent", _lose_the_answer(dispatch_idempotent))
    else:
        lost = OperationalError("connection lost")
        failure = mock.patch.object(command_api, "dispatch_idempotent", side_effect=lost)
    with failure:
        response = manager_client.post(path, {"text": "call the customer"}, format="json", **key)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response["Retry-After"] == "1"

    retry = manager_client.post(path, {"text": "call the customer"}, format="json", **key)
    assert retry.status_code == 200, retry.json()
    assert retry.has_header("Idempotent-Replayed") is committed
    notes = StoredEvent.objects.filter(stream_id=order_id, event_type="OrderNoteAdded")
    assert notes.count() == 1


def test_an_interface_error_is_a_503_too(manager_client: APIClient, order_id: UUID) -> None:
    with mock.patch.object(command_api, "dispatch", side_effect=InterfaceError("connection already closed")):
        response = manager_client.post(f"/api/orders/{order_id}/notes/", {"text": "x"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
