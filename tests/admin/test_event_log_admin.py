"""The event log in the admin: read-only list and detail, filters, search, pretty JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
import rules
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.predicates import is_manager, is_staff_member
from orders import commands as c
from orders import events as e
from orders import store
from orders.admin.display import HIDDEN_NOTE, visible_payload
from orders.handlers import dispatch
from orders.models import StoredEvent
from projections.models import OrderSummary
from tests.admin.conftest import materialize

pytestmark = pytest.mark.django_db

EVENTS = "/admin/orders/storedevent/"


def positions(response: Any) -> set[int]:
    assert response.status_code == 200
    return {event.position for event in response.context["cl"].result_list}


@pytest.fixture
def history(users: dict[str, Any], make_order: Callable[..., Any]) -> dict[str, Any]:
    """Two orders: one paid by the manager, one with a note by support."""
    paid = make_order("paid")
    noted = make_order("draft", customer=users["other_customer"])
    dispatch(c.AddNote(order_id=noted, text="VIP: gift wrap"), actor=users["support"])
    materialize(noted)
    return {"paid": paid, "noted": noted}


def test_the_list_shows_position_order_version_type_actor_and_time(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    response = client_as(users["support"]).get(EVENTS)

    html = response.content.decode()
    assert positions(response) == set(StoredEvent.objects.values_list("position", flat=True))
    note = StoredEvent.objects.get(event_type="OrderNoteAdded")
    row = html.split(f'href="/admin/orders/storedevent/{note.position}/change/', 1)[1].split("</tr>", 1)[0]
    assert OrderSummary.objects.get(id=history["noted"]).number in row
    assert f"?stream={history['noted']}" in row
    assert "OrderNoteAdded" in row
    assert f"{users['support'].username} (support)" in row
    assert timezone.localtime(note.recorded_at).strftime("%Y-%m-%d %H:%M") in row


def test_filters_by_type_actor_stream_and_date(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    client = client_as(users["finance"])
    all_events = StoredEvent.objects.all()
    note = all_events.get(event_type="OrderNoteAdded")
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()

    assert positions(client.get(f"{EVENTS}?type=PaymentRecorded")) == {
        all_events.get(event_type="PaymentRecorded").position
    }
    assert positions(client.get(f"{EVENTS}?actor=user:{users['support'].pk}")) == {note.position}
    assert positions(client.get(f"{EVENTS}?actor=system")) == set()
    assert positions(client.get(f"{EVENTS}?stream={history['noted']}")) == set(
        all_events.filter(stream_id=history["noted"]).values_list("position", flat=True)
    )
    assert positions(client.get(f"{EVENTS}?stream=not-a-uuid")) == set()
    assert len(positions(client.get(f"{EVENTS}?{urlencode({'recorded_at__gte': week_ago})}"))) == len(
        all_events
    )
    assert positions(client.get(f"{EVENTS}?{urlencode({'recorded_at__lt': week_ago})}")) == set()


def test_the_actor_filter_offers_the_system_and_staff(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    html = client_as(users["support"]).get(EVENTS).content.decode()

    assert "?actor=system" in html
    assert f"?actor=user%3A{users['finance'].pk}" in html
    assert f"{users['finance'].username} (finance)" in html
    assert f"?actor=user%3A{users['customer'].pk}" not in html  # customers: by id in the URL only


def test_search_by_order_id_number_or_position(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    client = client_as(users["fulfillment"])
    noted = set(StoredEvent.objects.filter(stream_id=history["noted"]).values_list("position", flat=True))
    number = OrderSummary.objects.get(id=history["noted"]).number
    first = StoredEvent.objects.order_by("position").first()

    assert positions(client.get(EVENTS, {"q": str(history["noted"])})) == noted
    assert positions(client.get(EVENTS, {"q": number.lower()})) == noted
    assert positions(client.get(EVENTS, {"q": str(first.position)})) == {first.position}
    assert positions(client.get(EVENTS, {"q": str(uuid4())})) == set()
    assert positions(client.get(EVENTS, {"q": "'; drop table event_log; --"})) == set()


def test_the_detail_shows_pretty_json(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    payment = StoredEvent.objects.get(event_type="PaymentRecorded")

    response = client_as(users["finance"]).get(f"{EVENTS}{payment.position}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<pre class="admin-json">{\n  &quot;amount&quot;: 2500,\n  &quot;reference&quot;' in html
    assert "&quot;command&quot;: &quot;RecordPayment&quot;" in html
    assert f"{users['manager'].username} (manager)" in html
    assert 'name="_save"' not in html  # nothing to save


def test_the_detail_reads_the_event_as_the_platform_does(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    """Personal fields decrypted (they are stored encrypted per customer), and a poison event shown with
    the reason it cannot be read instead of failing the page."""
    created = StoredEvent.objects.filter(event_type="OrderCreated").first()
    poison = StoredEvent.objects.create(
        stream_id=uuid4(),
        version=1,
        event_type="NoSuchEvent",
        schema_version=1,
        payload={"x": 1},
        metadata={},
    )
    client = client_as(users["manager"])

    readable = client.get(f"{EVENTS}{created.position}/change/").content.decode()
    unreadable = client.get(f"{EVENTS}{poison.position}/change/")

    payload = readable.split("Payload:", 1)[1].split("</pre>", 1)[0]
    assert "&quot;customer_name&quot;: &quot;Test Customer&quot;" in payload
    assert unreadable.status_code == 200
    assert "cannot be read" in unreadable.content.decode()
    assert "&quot;x&quot;: 1" in unreadable.content.decode()  # the stored payload


def test_events_cannot_be_added_changed_or_deleted(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    event = StoredEvent.objects.get(event_type="PaymentRecorded")
    client = client_as(users["manager"])
    url = f"{EVENTS}{event.position}/"

    assert client.get(f"{EVENTS}add/").status_code == 403
    assert client.post(f"{EVENTS}add/", {"event_type": "PaymentRecorded"}).status_code == 403
    assert client.post(f"{url}change/", {"event_type": "RefundIssued"}).status_code == 403
    assert client.get(f"{url}delete/").status_code == 403
    assert client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert client.get(EVENTS).context["action_form"] is None  # no actions at all, bulk delete included
    bulk = client.post(
        EVENTS, {"action": "delete_selected", "_selected_action": [event.position], "post": "yes"}
    )
    assert bulk.status_code == 200  # "no action selected": the action does not exist here
    assert StoredEvent.objects.get(position=event.position).event_type == "PaymentRecorded"


def test_a_superuser_cannot_edit_events_either(
    make_user: Callable[..., Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "A-long-test-passphrase-42")
    event = StoredEvent.objects.first()
    client = client_as(root)

    assert client.get(f"{EVENTS}add/").status_code == 403
    assert client.post(f"{EVENTS}{event.position}/delete/", {"post": "yes"}).status_code == 403


def test_the_database_refuses_to_change_the_log_anyway(history: dict[str, Any]) -> None:
    event = StoredEvent.objects.first()

    for statement in (
        "UPDATE event_log SET event_type = 'X' WHERE position = %s",
        "DELETE FROM event_log WHERE position = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.position])
    assert StoredEvent.objects.get(position=event.position).event_type == event.event_type


@pytest.fixture
def notes_for_managers_only() -> Iterator[None]:
    """A role set-up in which some staff may not read notes (the shipped rules let all staff)."""
    rules.set_perm("orders.view_notes", is_manager)
    try:
        yield
    finally:
        rules.set_perm("orders.view_notes", is_staff_member)


def test_note_text_is_shown_only_to_roles_that_may_read_notes(
    users: dict[str, Any],
    client_as: Callable[[Any], Client],
    history: dict[str, Any],
    notes_for_managers_only: None,
) -> None:
    note = StoredEvent.objects.get(event_type="OrderNoteAdded")
    order = f"/admin/projections/ordersummary/{history['noted']}/change/"

    support_event = client_as(users["support"]).get(f"{EVENTS}{note.position}/change/").content.decode()
    support_order = client_as(users["support"]).get(order).content.decode()
    manager_event = client_as(users["manager"]).get(f"{EVENTS}{note.position}/change/").content.decode()

    assert "VIP: gift wrap" not in support_event
    assert HIDDEN_NOTE.replace(":", "") in support_event.replace(":", "")
    assert "VIP: gift wrap" not in support_order
    assert 'id="order-notes"' not in support_order
    assert "VIP: gift wrap" in manager_event


def test_visible_payload_hides_only_note_text() -> None:
    payload = e.OrderNoteAdded(note_id=1, text="secret").to_payload()

    assert visible_payload("OrderNoteAdded", payload, may_see_notes=False) == {
        "note_id": 1,
        "text": HIDDEN_NOTE,
    }
    assert visible_payload("OrderNoteAdded", payload, may_see_notes=True) == payload
    assert visible_payload("PaymentRecorded", {"amount": 1}, may_see_notes=False) == {"amount": 1}


def test_the_list_costs_the_same_queries_for_few_or_many_events(
    users: dict[str, Any], client_as: Callable[[Any], Client], django_assert_max_num_queries: Any
) -> None:
    client = client_as(users["support"])
    client.get(EVENTS)

    def list_queries() -> int:
        with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as queries:
            assert client.get(EVENTS).status_code == 200
        return len(queries)

    def add_orders(count: int) -> None:
        for i in range(count):
            order_id = uuid4()
            store.append(
                order_id,
                0,
                [
                    e.OrderCreated(
                        number=f"ORD-8{i:05d}",
                        customer_id=1,
                        customer_name="A",
                        customer_email="a@b.c",
                        currency="USD",
                    )
                ],
                metadata={"actor": f"user:{users['manager'].pk}"},
            )
            store.append(order_id, 1, [e.OrderNoteAdded(note_id=1, text="n")], metadata={"actor": "system"})

    add_orders(3)
    few = list_queries()
    add_orders(40)
    many = list_queries()

    assert many == few


def test_the_search_by_order_number_walks_its_index(
    users: dict[str, Any], client_as: Callable[[Any], Client], history: dict[str, Any]
) -> None:
    """The number comes from the log's own OrderCreated events; the lookup must match the partial
    expression index, or every search would read the whole log."""
    number = OrderSummary.objects.get(id=history["noted"]).number
    client = client_as(users["fulfillment"])
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # tiny test tables: make the planner show its hand
    try:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(EVENTS, {"q": number}).status_code == 200
        search = next(q["sql"] for q in queries.captured_queries if "'number'" in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {search}")  # nosec B608  # SQL Django just ran
            plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    assert "Index Scan using event_log_order_number_idx" in plan
    assert "Index Cond: ((payload ->> 'number'::text) =" in plan  # the number itself is looked up
