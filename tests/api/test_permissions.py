"""The role matrix of SPEC §5 over every endpoint of the API (SPEC §6).

Roles: the order's owner (a customer), another customer, the four staff roles, and anonymous. Allowed
means 2xx and the command's events in the log; a role that may see the order but not run the command
gets 403 ``permission_denied`` and writes nothing; an order the user may not see is 404 ``not_found``
(never 403) on reads and on every command; anonymous gets 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from orders.models import Product, StoredEvent
from projections import runner
from projections.api import views as projection_views
from projections.models import ProjectionCheckpoint
from tests.addresses import ADDRESS, OTHER_ADDRESS

ROLES = ("owner", "other_customer", "support", "fulfillment", "finance", "manager", "anonymous")
STAFF = frozenset({"support", "fulfillment", "finance", "manager"})
EDITORS = frozenset({"owner", "support", "manager"})  # create / edit lines / address / place
MONEY = frozenset({"finance", "manager"})  # record payment, refund; sales reports
SHIPPING = frozenset({"fulfillment", "manager"})  # ship, mark delivered
SECRET_NOTE = "Customer was rude on the phone - SECRET-NOTE-4711"


@pytest.fixture(autouse=True)
def own_throttle_buckets(settings: Any) -> None:
    """Throttling stays on, in buckets of this test's own (user ids restart with every test database)."""
    settings.THROTTLE_KEY_PREFIX = f"throttle-test-{uuid4().hex}:"


@pytest.fixture
def api(client_for: Callable[[Any], APIClient]) -> Callable[[Any], APIClient]:
    """Like ``client_for``, but a server error comes back as a response (status 500) to assert on."""

    def make(user: Any) -> APIClient:
        client = client_for(user)
        client.raise_request_exception = False
        return client

    return make


def user_for(users: dict[str, Any], role: str) -> Any:
    if role == "anonymous":
        return None
    return users["customer"] if role == "owner" else users[role]


def expected_for(role: str, allowed: frozenset[str], ok: int = 200) -> tuple[int, str | None]:
    """What a role gets for an action on the owner's order."""
    if role == "anonymous":
        return 401, "not_authenticated"
    if role == "other_customer" and "other_customer" not in allowed:
        return 404, "not_found"  # the order does not exist for them
    if role in allowed:
        return ok, None
    return 403, "permission_denied"


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body


def stream_events(order_id: str, after: int = 0) -> list[str]:
    rows = StoredEvent.objects.filter(stream_id=order_id, position__gt=after).order_by("position")
    return list(rows.values_list("event_type", flat=True))


def last_position() -> int:
    return StoredEvent.objects.order_by("-position").values_list("position", flat=True).first() or 0


def mug_stock() -> int:
    return Product.objects.get(sku="MUG").stock_on_hand


@pytest.fixture
def order_in(
    new_order: Callable[..., dict], api: Callable[[Any], APIClient], users: dict[str, Any]
) -> Callable[[str], dict[str, Any]]:
    """The owner's order (2 x MUG, address set) in ``draft``, ``placed``, ``paid`` or ``shipped``."""

    def make(state: str) -> dict[str, Any]:
        order = new_order(place=state != "draft", pay=state in ("paid", "shipped"))
        if state == "shipped":
            response = api(users["fulfillment"]).post(
                f"/api/orders/{order['id']}/shipments/",
                {"lines": [{"sku": "MUG", "quantity": 2}], "carrier": "DHL", "tracking_number": "JD01"},
                format="json",
            )
            assert response.status_code == 200, response.json()
            order = response.json()
        assert order["status"] == ("draft" if state == "draft" else "placed")
        return order

    return make


# --- commands on an existing order ------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    state: str  # the order's state before the command
    method: str
    path: str  # after /api/orders/{id}/; {shipment} is the order's first shipment
    body: Any
    allowed: frozenset[str]
    events: tuple[str, ...]  # what an allowed role writes
    stock_delta: int = 0  # MUG stock change when allowed


COMMANDS = {
    "add-line": Command(
        "draft", "post", "lines/", {"sku": "MUG", "quantity": 1}, EDITORS, ("OrderLineAdded",)
    ),
    "change-line": Command(
        "draft", "patch", "lines/MUG/", {"quantity": 3}, EDITORS, ("OrderLineQuantityChanged",)
    ),
    "remove-line": Command("draft", "delete", "lines/MUG/", None, EDITORS, ("OrderLineRemoved",)),
    "shipping-address": Command(
        "draft", "put", "shipping-address/", OTHER_ADDRESS, EDITORS, ("ShippingAddressSet",)
    ),
    "place": Command("draft", "post", "place/", {}, EDITORS, ("OrderPlaced",), stock_delta=-2),
    "cancel-draft": Command(
        "draft", "post", "cancel/", {"reason": "changed my mind"}, EDITORS, ("OrderCancelled",)
    ),
    "cancel-unpaid": Command(
        "placed",
        "post",
        "cancel/",
        {"reason": "changed my mind"},
        EDITORS,
        ("OrderCancelled",),
        stock_delta=2,
    ),
    # After payment only staff may cancel (and the cancellation refunds what was paid).
    "cancel-paid": Command(
        "paid",
        "post",
        "cancel/",
        {"reason": "out of stock"},
        frozenset({"support", "manager"}),
        ("OrderCancelled", "RefundIssued"),
        stock_delta=2,
    ),
    "payment": Command(
        "placed", "post", "payments/", {"amount": "10.00", "reference": "PAY-1"}, MONEY, ("PaymentRecorded",)
    ),
    "shipment": Command(
        "paid",
        "post",
        "shipments/",
        {"lines": [{"sku": "MUG", "quantity": 2}], "carrier": "DHL", "tracking_number": "JD02"},
        SHIPPING,
        ("ShipmentDispatched",),
    ),
    "deliver": Command(
        "shipped",
        "post",
        "shipments/{shipment}/deliver/",
        {},
        SHIPPING,
        ("ShipmentDelivered", "OrderCompleted"),
    ),
    "refund": Command(
        "paid", "post", "refunds/", {"amount": "5.00", "reason": "dented"}, MONEY, ("RefundIssued",)
    ),
    "note": Command("draft", "post", "notes/", {"text": "call back tomorrow"}, STAFF, ("OrderNoteAdded",)),
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_order_commands_follow_the_role_matrix(
    name: str,
    role: str,
    order_in: Callable[[str], dict[str, Any]],
    api: Callable[[Any], APIClient],
    users: dict[str, Any],
) -> None:
    spec = COMMANDS[name]
    order = order_in(spec.state)
    shipment = order["shipments"][0]["id"] if order["shipments"] else 0
    path = f"/api/orders/{order['id']}/" + spec.path.format(shipment=shipment)
    before, stock, events_before = last_position(), mug_stock(), StoredEvent.objects.count()

    client = api(user_for(users, role))
    response = getattr(client, spec.method)(path, spec.body, format="json")

    status, code = expected_for(role, spec.allowed)
    if code is None:
        assert response.status_code == status, (response.status_code, response.json())
        body = response.json()
        assert body["id"] == order["id"]
        assert body["version"] == order["version"] + len(spec.events)
        assert response["X-Consistency-Token"]
        assert ("notes" in body) == (role in STAFF), "notes are shown to staff only"
        assert stream_events(order["id"], after=before) == list(spec.events)
        assert mug_stock() == stock + spec.stock_delta
    else:
        assert_error(response, status, code)
        assert StoredEvent.objects.count() == events_before, "a refused command wrote an event"
        assert mug_stock() == stock


# --- CreateOrder ----------------------------------------------------------------------------------

# role -> (status, code) for a body without ``customer`` ("self") and with the owner's id ("for-customer").
CREATE_EXPECTED: dict[str, dict[str, tuple[int, str | None]]] = {
    "self": {
        "owner": (201, None),
        "other_customer": (201, None),
        "support": (400, "validation_error"),  # staff must name the customer
        "manager": (400, "validation_error"),
        "fulfillment": (403, "permission_denied"),
        "finance": (403, "permission_denied"),
        "anonymous": (401, "not_authenticated"),
    },
    "for-customer": {
        "owner": (201, None),  # naming yourself is fine
        "other_customer": (403, "permission_denied"),  # a customer creates orders only for themselves
        "support": (201, None),
        "manager": (201, None),
        "fulfillment": (403, "permission_denied"),
        "finance": (403, "permission_denied"),
        "anonymous": (401, "not_authenticated"),
    },
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("variant", list(CREATE_EXPECTED))
def test_create_order_follows_the_role_matrix(
    variant: str, role: str, api: Callable[[Any], APIClient], users: dict[str, Any], mug: Product
) -> None:
    actor = user_for(users, role)
    body: dict[str, Any] = {"lines": [{"sku": "MUG", "quantity": 1}], "shipping_address": ADDRESS}
    if variant == "for-customer":
        body["customer"] = users["customer"].pk
    events_before = StoredEvent.objects.count()

    response = api(actor).post("/api/orders/", body, format="json")

    status, code = CREATE_EXPECTED[variant][role]
    if code is None:
        assert response.status_code == status, (response.status_code, response.json())
        order = response.json()
        assert order["customer"] == (users["customer"].pk if variant == "for-customer" else actor.pk)
        assert order["status"] == "draft"
        assert stream_events(order["id"]) == ["OrderCreated", "OrderLineAdded", "ShippingAddressSet"]
        assert ("notes" in order) == (role in STAFF)
    else:
        assert_error(response, status, code)
        if code == "validation_error":
            assert "customer" in response.json()["error"]["details"]
        assert StoredEvent.objects.count() == events_before


# --- reading an order's events and its past state (from the log) ----------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_events_and_past_state_by_role_and_hidden_notes(
    role: str, new_order: Callable[..., dict], api: Callable[[Any], APIClient], users: dict[str, Any]
) -> None:
    order = new_order()
    noted = api(users["support"]).post(
        f"/api/orders/{order['id']}/notes/", {"text": SECRET_NOTE}, format="json"
    )
    assert noted.status_code == 200, noted.json()
    version = noted.json()["version"]
    client = api(user_for(users, role))

    events = client.get(f"/api/orders/{order['id']}/events/")
    past = client.get(f"/api/orders/{order['id']}/?as_of_version={version}")

    status, code = expected_for(role, EDITORS | STAFF)  # whoever may see the order
    if code is not None:
        assert_error(events, status, code)
        assert_error(past, status, code)
        assert SECRET_NOTE not in events.content.decode() + past.content.decode()
        return
    assert events.status_code == past.status_code == 200, (events.json(), past.json())
    listed = events.json()["results"]
    assert [e["type"] for e in listed] == [
        "OrderCreated",
        "OrderLineAdded",
        "ShippingAddressSet",
        "OrderNoteAdded",
    ]
    assert [e["version"] for e in listed] == [1, 2, 3, 4], "oldest first"
    note = listed[-1]["payload"]
    assert past.json()["version"] == version
    if role in STAFF:
        assert note["text"] == SECRET_NOTE
        assert [n["text"] for n in past.json()["notes"]] == [SECRET_NOTE]
    else:
        assert note["text"] == "(hidden)"
        assert "notes" not in past.json()
        assert SECRET_NOTE not in events.content.decode() + past.content.decode()


# --- the read model: detail, list, filters and search ---------------------------------------------


def listed_ids(response: Any) -> set[str]:
    assert response.status_code == 200, (response.status_code, response.json())
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.django_db(transaction=True)
def test_read_model_shows_each_role_only_what_it_may_see(
    new_order: Callable[..., dict], api: Callable[[Any], APIClient], users: dict[str, Any]
) -> None:
    mine = new_order()
    assert (
        api(users["support"])
        .post(f"/api/orders/{mine['id']}/notes/", {"text": SECRET_NOTE}, format="json")
        .status_code
        == 200
    )
    created = api(users["other_customer"]).post(
        "/api/orders/", {"lines": [{"sku": "MUG", "quantity": 1}]}, format="json"
    )
    assert created.status_code == 201, created.json()
    theirs = created.json()
    runner.catch_up_all()
    owner_email, other_email = users["customer"].email, users["other_customer"].email
    sees = {"owner": {mine["id"]}, "other_customer": {theirs["id"]}}

    for role in ROLES:
        client = api(user_for(users, role))
        if role == "anonymous":
            for path in ("/api/orders/", f"/api/orders/{mine['id']}/", f"/api/orders/{theirs['id']}/"):
                assert_error(client.get(path), 401, "not_authenticated")
            continue
        visible = sees.get(role, {mine["id"], theirs["id"]})
        for order in (mine, theirs):
            detail = client.get(f"/api/orders/{order['id']}/")
            if order["id"] in visible:
                assert detail.status_code == 200, (role, detail.json())
                assert ("notes" in detail.json()) == (role in STAFF), role
            else:
                assert_error(detail, 404, "not_found")  # never 403: the order does not exist for them

        listing = client.get("/api/orders/")
        assert listed_ids(listing) == visible, role
        for row in listing.json()["results"]:
            assert ("notes" in row) == (role in STAFF), role
        if role in STAFF:
            assert SECRET_NOTE in listing.content.decode()
        else:
            assert SECRET_NOTE not in listing.content.decode()
        # Searching and filtering never reach past what the role may see.
        for order, email in ((mine, owner_email), (theirs, other_email)):
            expected = {order["id"]} & visible
            assert listed_ids(client.get("/api/orders/", {"search": order["number"]})) == expected, role
            assert listed_ids(client.get("/api/orders/", {"search": email})) == expected, role
            assert listed_ids(client.get("/api/orders/", {"customer": order["customer"]})) == expected, role
        assert listed_ids(client.get("/api/orders/", {"status": "draft", "search": "ORD-"})) == visible, role


# --- reports and projection operations ----------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    allowed: frozenset[str]
    ok: int = 200


OPERATIONS = {
    "daily-sales": Operation("get", "/api/reports/daily-sales/", MONEY),
    "projection-status": Operation("get", "/api/projections/", frozenset({"manager"})),
    "projection-rebuild": Operation(
        "post", "/api/projections/order_summary/rebuild/", frozenset({"manager"}), 202
    ),
    "projection-retry": Operation("post", "/api/projections/daily_sales/retry/", frozenset({"manager"})),
}


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records rebuilds and nudges instead of sending them to a broker."""
    sent: list[str] = []

    class Task:
        @staticmethod
        def delay(name: str) -> None:
            sent.append(f"rebuild:{name}")

    monkeypatch.setattr(projection_views, "rebuild_projection", Task)
    monkeypatch.setattr(projection_views, "nudge", lambda *args, **kwargs: sent.append("nudge"))
    yield sent


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_reports_and_projection_operations_follow_the_role_matrix(
    name: str, role: str, api: Callable[[Any], APIClient], users: dict[str, Any], scheduled: list[str]
) -> None:
    spec = OPERATIONS[name]
    ProjectionCheckpoint.objects.update_or_create(
        name="daily_sales", defaults={"state": ProjectionCheckpoint.State.FAILED, "last_error": "boom"}
    )

    response = getattr(api(user_for(users, role)), spec.method)(spec.path)

    allowed = role in spec.allowed
    failed = ProjectionCheckpoint.objects.get(name="daily_sales").state == ProjectionCheckpoint.State.FAILED
    if not allowed:
        assert_error(
            response,
            401 if role == "anonymous" else 403,
            "not_authenticated" if role == "anonymous" else "permission_denied",
        )
        assert scheduled == []
        assert failed, "a refused retry resumed the projection"
        return
    assert response.status_code == spec.ok, (response.status_code, response.json())
    if name == "projection-rebuild":
        assert scheduled == ["rebuild:order_summary"]
    if name == "projection-retry":
        assert not failed
        assert response.json()["state"] == "running"
    if name == "projection-status":
        assert {row["name"] for row in response.json()} >= {"order_summary", "daily_sales", "customer_stats"}
    if name == "daily-sales":
        assert len(response.json()["days"]) == 30
