"""The admin's rebuild action: one queued or running rebuild per projection; a failed queueing blocks
nothing. The broker is replaced by a list (what is queued is what the action decided)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from projections import tasks
from projections.models import ProjectionCheckpoint
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

PROJECTIONS = "/admin/projections/projectioncheckpoint/"


def rebuild_action(client: Client, *names: str) -> Any:
    return client.post(PROJECTIONS, {"action": "rebuild", "_selected_action": list(names)}, follow=True)


def test_a_second_rebuild_while_one_is_queued_is_refused_with_a_message(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", queued.append)
    client = client_as(users["manager"])
    client.get(PROJECTIONS)

    rebuild_action(client, "daily_sales")
    second = rebuild_action(client, "daily_sales", "order_summary")

    assert queued == ["daily_sales", "order_summary"]
    assert "Not rebuilding daily_sales: a rebuild of daily_sales is already in progress." in messages_of(
        second
    )
    assert ">queued<" in client.get(PROJECTIONS).content.decode()  # the rebuild column


def test_a_stopped_projection_is_not_queued(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", queued.append)
    ProjectionCheckpoint.objects.create(name="daily_sales", state=ProjectionCheckpoint.State.STOPPED)

    response = rebuild_action(client_as(users["manager"]), "daily_sales")

    assert queued == []
    assert any("stopped by an operator" in message for message in messages_of(response))
    assert ProjectionCheckpoint.objects.get(name="daily_sales").state == "stopped"


def test_a_rebuild_the_broker_did_not_take_does_not_block_the_next(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(name: str) -> None:
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr(tasks.rebuild_projection, "delay", broker_down)
    client = client_as(users["manager"])
    client.get(PROJECTIONS)

    failed = rebuild_action(client, "daily_sales")

    assert any("is the broker up?" in message for message in messages_of(failed))
    assert ProjectionCheckpoint.objects.get(name="daily_sales").state == "running"
    queued: list[str] = []
    monkeypatch.setattr(tasks.rebuild_projection, "delay", queued.append)
    rebuild_action(client, "daily_sales")
    assert queued == ["daily_sales"]
