"""The admin's order actions dispatch commands through the bus, as the signed-in user, per role."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from orders.models import StoredEvent
from projections.admin import commands as admin_commands
from projections.models import OrderSummary, ProjectionCheckpoint
from tests.admin.conftest import action_url, messages_of, order_url
from tests.conftest import project_everything, run_in_threads

STAFF = ("support", "fulfillment", "finance", "manager")
# action: (order state, form data, events written, roles allowed)
CASES: dict[str, tuple[str, dict[str, str], list[str], set[str]]] = {
    "record-payment": (
        "placed",
        {"amount": "25.00", "reference": "BANK-1"},
        ["PaymentRecorded"],
        {"finance", "manager"},
    ),
    "ship": (
        "paid",
        {"line__MUG": "2", "carrier": "UPS", "tracking_number": "1Z999"},
        ["ShipmentDispatched"],
        {"fulfillment", "manager"},
    ),
    "deliver": (
        "shipped",
        {"shipment": "1"},
        ["ShipmentDelivered", "OrderCompleted"],
        {"fulfillment", "manager"},
    ),
    "refund": ("paid", {"amount": "5.00", "reason": "scratched"}, ["RefundIssued"], {"finance", "manager"}),
    "cancel": ("placed", {"reason": "changed their mind"}, ["OrderCancelled"], {"support", "manager"}),
    "note": ("placed", {"text": "Call back after 5pm"}, ["OrderNoteAdded"], set(STAFF)),
}
ALLOWED = [(action, role) for action, case in CASES.items() for role in sorted(case[3])]
REFUSED = [(action, role) for action, case in CASES.items() for role in STAFF if role not in case[3]]


def events_of(order_id: UUID) -> list[StoredEvent]:
    return list(StoredEvent.objects.filter(stream_id=order_id).order_by("version"))


def submit(client: Client, order_id: UUID, action: str, data: dict[str, str], **kwargs: Any) -> Any:
    version = len(events_of(order_id))
    return client.post(action_url(order_id, action), {**data, "seen_version": str(version)}, **kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "role"), ALLOWED)
def test_an_allowed_action_dispatches_its_command_as_the_user(
    action: str,
    role: str,
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    make_order: Callable[..., Any],
) -> None:
    state, data, expected, _ = CASES[action]
    order_id = make_order(state)
    before = len(events_of(order_id))
    client = client_as(users[role])
    assert client.get(action_url(order_id, action)).status_code == 200

    response = submit(client, order_id, action, data)

    assert response.status_code == 302, messages_of(response)
    assert response["Location"] == order_url(order_id)
    written = events_of(order_id)[before:]
    assert [event.event_type for event in written] == expected
    assert {event.metadata["actor"] for event in written} == {f"user:{users[role].pk}"}
    page = client.get(response["Location"])
    assert any("done on ORD-" in message for message in messages_of(page))
    assert LogEntry.objects.filter(object_id=str(order_id), user=users[role]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "role"), REFUSED)
def test_a_refused_role_gets_403_and_writes_nothing(
    action: str,
    role: str,
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    make_order: Callable[..., Any],
) -> None:
    state, data, _, _ = CASES[action]
    order_id = make_order(state)
    before = len(events_of(order_id))
    client = client_as(users[role])

    assert client.get(action_url(order_id, action)).status_code == 403
    assert submit(client, order_id, action, data).status_code == 403
    assert len(events_of(order_id)) == before


@pytest.mark.django_db
def test_the_written_payloads_carry_the_form_input(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    client = client_as(users["manager"])
    placed, paid = make_order("placed"), make_order("paid")

    submit(client, placed, "record-payment", {"amount": "10.50", "reference": "BANK-7"})
    submit(client, paid, "refund", {"amount": "5.00", "reason": "scratched"})
    submit(client, paid, "note", {"text": "  Fragile  "})

    assert events_of(placed)[-1].payload == {"amount": 1050, "reference": "BANK-7"}
    assert events_of(paid)[-2].payload == {"amount": 500, "reason": "scratched"}
    assert events_of(paid)[-1].payload == {"note_id": 1, "text": "Fragile"}


@pytest.mark.django_db
def test_a_refusal_by_the_bus_is_shown_with_its_code_and_writes_nothing(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("placed")
    before = len(events_of(order_id))

    response = submit(
        client_as(users["finance"]), order_id, "record-payment", {"amount": "999.00", "reference": "BANK-1"}
    )

    assert response.status_code == 200  # the form again, with what was typed
    assert messages_of(response) == [
        "Refused (invalid_transition): payment exceeds the outstanding amount (amount: outstanding is 2500)"
    ]
    assert response.context["form"]["reference"].value() == "BANK-1"
    assert len(events_of(order_id)) == before


@pytest.mark.django_db
def test_a_state_that_rules_the_action_out_is_refused_by_the_bus(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("placed")  # not paid: it may not ship yet

    response = submit(
        client_as(users["fulfillment"]),
        order_id,
        "ship",
        {"line__MUG": "1", "carrier": "UPS", "tracking_number": "1Z"},
    )

    assert response.status_code == 200
    assert "This will probably be refused: an order ships once it is paid." in response.content.decode()
    assert messages_of(response) == ["Refused (invalid_transition): an order ships only once it is paid"]
    assert not StoredEvent.objects.filter(stream_id=order_id, event_type="ShipmentDispatched").exists()


@pytest.mark.django_db
def test_a_form_sent_twice_acts_once(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("paid")
    client = client_as(users["fulfillment"])
    data = {
        "line__MUG": "1",
        "carrier": "UPS",
        "tracking_number": "1Z",
        "seen_version": str(len(events_of(order_id))),
    }

    first = client.post(action_url(order_id, "ship"), data)
    second = client.post(action_url(order_id, "ship"), data)

    assert first.status_code == 302
    assert second.status_code == 200
    assert "The order changed since this form was opened" in second.content.decode()
    assert StoredEvent.objects.filter(stream_id=order_id, event_type="ShipmentDispatched").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_of_one_refund_form_refund_once(
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    make_order: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A double click: both requests pass the form's checks before either command commits. The version
    the form showed travels into the command's transaction, so only one of them refunds."""
    order_id = make_order("paid", project=False)
    project_everything()
    data = {"amount": "5.00", "reason": "scratched", "seen_version": str(len(events_of(order_id)))}
    both_validated = threading.Barrier(2, timeout=20)
    real_dispatch = admin_commands.dispatch

    def dispatch_together(*args: Any, **kwargs: Any) -> Any:
        both_validated.wait()
        return real_dispatch(*args, **kwargs)

    monkeypatch.setattr(admin_commands, "dispatch", dispatch_together)
    clients = [client_as(users["finance"]) for _ in range(2)]

    responses = run_in_threads(lambda i: clients[i].post(action_url(order_id, "refund"), data), 2)

    assert sorted(response.status_code for response in responses) == [200, 302]
    refused = next(response for response in responses if response.status_code == 200)
    assert admin_commands.STALE_FORM_MESSAGE in messages_of(refused)
    refunds = StoredEvent.objects.filter(stream_id=order_id, event_type="RefundIssued")
    assert refunds.count() == 1
    # The page that refused shows the order after the refund, with a form for that version.
    assert refused.context["form"]["seen_version"].value() == len(events_of(order_id))
    assert refused.context["form"]["amount"].value() == "20.00"


@pytest.mark.django_db
def test_invalid_input_is_a_form_error(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("paid")
    client = client_as(users["manager"])
    before = len(events_of(order_id))

    nothing = submit(client, order_id, "ship", {"line__MUG": "0", "carrier": "UPS", "tracking_number": "1Z"})
    too_many = submit(client, order_id, "ship", {"line__MUG": "3", "carrier": "UPS", "tracking_number": "1Z"})
    cents = submit(client, order_id, "refund", {"amount": "1.001", "reason": "x"})
    empty = submit(client, order_id, "note", {"text": "   "})

    assert "Ship at least one item." in nothing.content.decode()
    assert too_many.context["form"].errors["line__MUG"]
    assert cents.context["form"].errors["amount"]
    assert empty.context["form"].errors["text"]
    assert len(events_of(order_id)) == before


@pytest.mark.django_db
def test_the_same_payment_again_changes_nothing(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    order_id = make_order("paid")  # paid 25.00 with reference P-<id>
    before = len(events_of(order_id))
    client = client_as(users["finance"])

    response = submit(client, order_id, "record-payment", {"amount": "25.00", "reference": f"P-{order_id}"})

    assert response.status_code == 302
    assert len(events_of(order_id)) == before
    assert any("nothing changed" in message for message in messages_of(client.get(response["Location"])))


@pytest.mark.django_db
def test_the_forms_start_from_the_write_side(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    """Defaults come from the event stream: what is left to pay, to ship, to refund."""
    client = client_as(users["manager"])
    placed, paid = make_order("placed"), make_order("paid")

    payment = client.get(action_url(placed, "record-payment")).context["form"]
    ship = client.get(action_url(paid, "ship")).context["form"]
    refund = client.get(action_url(paid, "refund")).context["form"]

    assert payment["amount"].value() == "25.00"
    assert ship["line__MUG"].value() == 2
    assert refund["amount"].value() == "25.00"


@pytest.mark.django_db(transaction=True)
def test_after_a_command_the_list_shows_the_new_state_at_once(
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    make_order: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The admin catches the order-summary projection up in the request (SPEC §4: one runner at a time)."""
    monkeypatch.setattr(admin_commands, "READ_MODEL_WAIT_SECONDS", 5.0)
    order_id = make_order("paid", project=False)
    project_everything()
    client = client_as(users["fulfillment"])

    response = submit(
        client, order_id, "ship", {"line__MUG": "2", "carrier": "UPS", "tracking_number": "1Z"}, follow=True
    )

    number = OrderSummary.objects.get(id=order_id).number
    assert messages_of(response) == [f"Ship items: done on {number}."]
    listed = client.get("/admin/projections/ordersummary/?fulfillment_status=shipped")
    assert [str(order) for order in listed.context["cl"].result_list] == [number]


@pytest.mark.django_db(transaction=True)
def test_a_failed_projection_is_reported_after_the_command(
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    make_order: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin_commands, "READ_MODEL_WAIT_SECONDS", 5.0)
    order_id = make_order("paid", project=False)
    project_everything()
    ProjectionCheckpoint.objects.filter(name="order_summary").update(
        state=ProjectionCheckpoint.State.FAILED, last_error="boom"
    )

    response = submit(client_as(users["support"]), order_id, "note", {"text": "hello"}, follow=True)

    assert StoredEvent.objects.filter(stream_id=order_id, event_type="OrderNoteAdded").exists()
    assert any("projection has failed" in message for message in messages_of(response))
