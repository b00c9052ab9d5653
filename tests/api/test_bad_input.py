"""Malformed input answers 4xx with the error envelope, names the bad field, and changes nothing (SPEC §6).

Each row: who sends what to which endpoint, on an order in which state; the expected status, error
code, and the fields ``details`` must name (paths into nested details). Never a 500; no event, no stock
change and no idempotency record for any of them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from orders.models import IdempotencyRecord, Product, StoredEvent
from tests.addresses import ADDRESS

pytestmark = pytest.mark.django_db

JSON = "application/json"
FORGED_CURSOR = base64.b64encode(b"p=not-a-time").decode()  # well-formed cursor, nonsense position


@dataclass(frozen=True)
class Raw:
    """A body sent byte for byte."""

    content: bytes
    content_type: str = JSON


@dataclass(frozen=True)
class Bad:
    role: str  # owner (the order's customer), manager, finance, fulfillment
    method: str
    path: str  # {order} is the order's id
    body: Any = None  # JSON-encoded unless Raw; None sends no body
    status: int = 400
    code: str = "validation_error"
    fields: tuple[tuple[str, ...], ...] = ()  # each a path into error.details that must exist
    state: str = "draft"  # the order's state: draft, placed, paid
    headers: dict[str, str] = field(default_factory=dict)


ORDER = "/api/orders/{order}/"
LINES = "/api/orders/{order}/lines/"
PAY = "/api/orders/{order}/payments/"
REFUND = "/api/orders/{order}/refunds/"
NOTES = "/api/orders/{order}/notes/"
ADDRESS_PATH = "/api/orders/{order}/shipping-address/"
SALES = "/api/reports/daily-sales/"
LIST = "/api/orders/"

CASES: dict[str, Bad] = {
    # --- the body is not a JSON object ---------------------------------------------------------------
    "invalid-json": Bad("owner", "post", LINES, Raw(b'{"sku": "MUG",'), fields=(("non_field_errors",),)),
    "body-list": Bad(
        "owner", "post", LINES, [{"sku": "MUG", "quantity": 1}], fields=(("non_field_errors",),)
    ),
    "body-string": Bad("owner", "post", LINES, "MUG", fields=(("non_field_errors",),)),
    "body-number": Bad("owner", "post", LINES, 42, fields=(("non_field_errors",),)),
    "body-null": Bad("owner", "post", LINES, Raw(b"null"), fields=(("sku",), ("quantity",))),
    "body-not-utf8": Bad(
        "owner", "post", LINES, Raw(b'{"sku": "\xff\xfe"}'), fields=(("non_field_errors",),)
    ),
    "body-nan-literal": Bad("owner", "post", LINES, Raw(b'{"sku": "MUG", "quantity": NaN}')),
    "body-int-literal-5000-digits": Bad("owner", "post", LINES, Raw(b'{"quantity": ' + b"9" * 5000 + b"}")),
    "body-nested-100000-deep": Bad(
        "owner", "post", LINES, Raw(b"[" * 100_000), fields=(("non_field_errors",),)
    ),
    "body-list-on-empty-command": Bad(
        "owner", "post", "/api/orders/{order}/place/", [], fields=(("non_field_errors",),)
    ),
    # --- unknown fields, each named ----------------------------------------------------------------
    "unknown-fields": Bad(
        "owner",
        "post",
        LINES,
        {"sku": "MUG", "quantity": 1, "colour": "red", "gift_wrap": True},
        fields=(("colour",), ("gift_wrap",)),
    ),
    "unknown-field-beside-invalid-ones": Bad(
        "owner",
        "post",
        LINES,
        {"sku": "", "quantity": 0, "colour": "red"},
        fields=(("colour",), ("sku",), ("quantity",)),
    ),
    "unknown-field-beside-an-invalid-nested-one": Bad(
        "owner",
        "post",
        LIST,
        {"lines": [{"sku": "MUG", "quantity": 0}], "status": "paid"},
        fields=(("status",), ("lines", "0", "quantity")),
    ),
    "unknown-nested-field-beside-an-invalid-one": Bad(
        "owner",
        "put",
        ADDRESS_PATH,
        {**ADDRESS, "country": "", "planet": "Mars"},
        fields=(("planet",), ("country",)),
    ),
    "unknown-field-on-place": Bad(
        "owner", "post", "/api/orders/{order}/place/", {"force": True}, fields=(("force",),)
    ),
    "unknown-field-in-create": Bad("owner", "post", LIST, {"status": "paid"}, fields=(("status",),)),
    "unknown-field-in-create-line": Bad(
        "owner",
        "post",
        LIST,
        {"lines": [{"sku": "MUG", "quantity": 1, "unit_price": "0.01"}]},
        fields=(("lines", "0", "unit_price"),),
    ),
    "unknown-field-in-address": Bad(
        "owner", "put", ADDRESS_PATH, {**ADDRESS, "planet": "Mars"}, fields=(("planet",),)
    ),
    "unknown-field-in-payment": Bad(
        "finance",
        "post",
        PAY,
        {"amount": "1.00", "reference": "R", "currency": "EUR"},
        state="placed",
        fields=(("currency",),),
    ),
    # --- missing required fields -------------------------------------------------------------------
    "line-missing-all": Bad("owner", "post", LINES, {}, fields=(("sku",), ("quantity",))),
    "line-missing-quantity": Bad("owner", "post", LINES, {"sku": "MUG"}, fields=(("quantity",),)),
    "change-line-missing-quantity": Bad("owner", "patch", LINES + "MUG/", {}, fields=(("quantity",),)),
    "payment-missing-reference": Bad(
        "finance", "post", PAY, {"amount": "1.00"}, state="placed", fields=(("reference",),)
    ),
    "refund-missing-amount": Bad(
        "finance", "post", REFUND, {"reason": "dented"}, state="paid", fields=(("amount",),)
    ),
    "shipment-missing-all": Bad(
        "fulfillment",
        "post",
        "/api/orders/{order}/shipments/",
        {},
        state="paid",
        fields=(("lines",), ("carrier",), ("tracking_number",)),
    ),
    "cancel-missing-reason": Bad("owner", "post", "/api/orders/{order}/cancel/", {}, fields=(("reason",),)),
    "note-missing-text": Bad("manager", "post", NOTES, {}, fields=(("text",),)),
    # --- wrong types -------------------------------------------------------------------------------
    "quantity-word": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": "two"}, fields=(("quantity",),)),
    "quantity-fraction": Bad(
        "owner", "post", LINES, {"sku": "MUG", "quantity": 1.5}, fields=(("quantity",),)
    ),
    "quantity-bool": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": True}, fields=(("quantity",),)),
    "quantity-null": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": None}, fields=(("quantity",),)),
    "quantity-list": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": [1]}, fields=(("quantity",),)),
    "quantity-huge": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": 10**30}, fields=(("quantity",),)),
    "sku-object": Bad("owner", "post", LINES, {"sku": {"id": 1}, "quantity": 1}, fields=(("sku",),)),
    "create-lines-string": Bad("owner", "post", LIST, {"lines": "MUG"}, fields=(("lines",),)),
    "create-customer-word": Bad("manager", "post", LIST, {"customer": "abc"}, fields=(("customer",),)),
    "create-customer-zero": Bad("manager", "post", LIST, {"customer": 0}, fields=(("customer",),)),
    "create-customer-huge": Bad("manager", "post", LIST, {"customer": 10**30}, fields=(("customer",),)),
    "amount-3-decimals": Bad(
        "finance", "post", PAY, {"amount": "1.999", "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-number-3-decimals": Bad(
        "finance", "post", PAY, {"amount": 1.999, "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-negative": Bad(
        "finance", "post", PAY, {"amount": "-5.00", "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-zero": Bad(
        "finance", "post", PAY, {"amount": "0", "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-zero-cents": Bad(
        "finance", "post", PAY, {"amount": "0.00", "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-beyond-max-digits": Bad(
        "finance",
        "post",
        PAY,
        {"amount": "12345678901.00", "reference": "R"},
        state="placed",
        fields=(("amount",),),
    ),
    "amount-nan": Bad(
        "finance", "post", PAY, {"amount": "NaN", "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-infinity": Bad(
        "finance",
        "post",
        PAY,
        {"amount": "Infinity", "reference": "R"},
        state="placed",
        fields=(("amount",),),
    ),
    "amount-bool": Bad(
        "finance", "post", PAY, {"amount": True, "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "amount-empty": Bad(
        "finance", "post", PAY, {"amount": "", "reference": "R"}, state="placed", fields=(("amount",),)
    ),
    "refund-negative": Bad(
        "finance", "post", REFUND, {"amount": "-1.00", "reason": "x"}, state="paid", fields=(("amount",),)
    ),
    "refund-3-decimals": Bad(
        "finance", "post", REFUND, {"amount": "0.001", "reason": "x"}, state="paid", fields=(("amount",),)
    ),
    # --- out of range --------------------------------------------------------------------------------
    "quantity-0": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": 0}, fields=(("quantity",),)),
    "quantity-1001": Bad("owner", "post", LINES, {"sku": "MUG", "quantity": 1001}, fields=(("quantity",),)),
    "change-quantity-0": Bad("owner", "patch", LINES + "MUG/", {"quantity": 0}, fields=(("quantity",),)),
    "change-quantity-1001": Bad(
        "owner", "patch", LINES + "MUG/", {"quantity": 1001}, fields=(("quantity",),)
    ),
    "create-line-quantity-0": Bad(
        "owner",
        "post",
        LIST,
        {"lines": [{"sku": "MUG", "quantity": 0}]},
        fields=(("lines", "0", "quantity"),),
    ),
    "create-101-lines": Bad(
        "owner", "post", LIST, {"lines": [{"sku": "MUG", "quantity": 1}] * 101}, fields=(("lines",),)
    ),
    "shipment-no-lines": Bad(
        "fulfillment",
        "post",
        "/api/orders/{order}/shipments/",
        {"lines": [], "carrier": "DHL", "tracking_number": "1"},
        state="paid",
        fields=(("lines",),),
    ),
    # --- strings: length, blank, characters PostgreSQL cannot store ---------------------------------
    "note-2001-chars": Bad("manager", "post", NOTES, {"text": "x" * 2001}, fields=(("text",),)),
    "note-empty": Bad("manager", "post", NOTES, {"text": ""}, fields=(("text",),)),
    "note-blank": Bad("manager", "post", NOTES, {"text": "   "}, fields=(("text",),)),
    "note-nul-character": Bad("manager", "post", NOTES, {"text": "a\x00b"}, fields=(("text",),)),
    "note-lone-surrogate": Bad("manager", "post", NOTES, Raw(b'{"text": "a\\ud800b"}'), fields=(("text",),)),
    "reference-101-chars": Bad(
        "finance",
        "post",
        PAY,
        {"amount": "1.00", "reference": "R" * 101},
        state="placed",
        fields=(("reference",),),
    ),
    "cancel-reason-501-chars": Bad(
        "owner", "post", "/api/orders/{order}/cancel/", {"reason": "r" * 501}, fields=(("reason",),)
    ),
    "sku-65-chars": Bad("owner", "post", LINES, {"sku": "S" * 65, "quantity": 1}, fields=(("sku",),)),
    # --- addresses ---------------------------------------------------------------------------------
    "address-missing-fields": Bad(
        "owner",
        "put",
        ADDRESS_PATH,
        {"name": "Ada"},
        fields=(("line1",), ("city",), ("postal_code",), ("country",)),
    ),
    "address-country-alpha3": Bad(
        "owner", "put", ADDRESS_PATH, {**ADDRESS, "country": "GBR"}, fields=(("country",),)
    ),
    "address-country-non-ascii": Bad(
        "owner", "put", ADDRESS_PATH, {**ADDRESS, "country": "ÄÖ"}, fields=(("country",),)
    ),
    "address-country-digit": Bad(
        "owner", "put", ADDRESS_PATH, {**ADDRESS, "country": "G1"}, fields=(("country",),)
    ),
    "address-name-object": Bad(
        "owner", "put", ADDRESS_PATH, {**ADDRESS, "name": {"first": "Ada"}}, fields=(("name",),)
    ),
    "address-postal-code-21-chars": Bad(
        "owner", "put", ADDRESS_PATH, {**ADDRESS, "postal_code": "9" * 21}, fields=(("postal_code",),)
    ),
    "create-with-bad-address": Bad(
        "owner",
        "post",
        LIST,
        {"shipping_address": {**ADDRESS, "country": "GBR"}},
        fields=(("shipping_address", "country"),),
    ),
    # --- path parameters -----------------------------------------------------------------------------
    "order-id-not-uuid": Bad("manager", "get", "/api/orders/not-a-uuid/", status=404, code="not_found"),
    "order-id-not-uuid-command": Bad(
        "manager", "post", "/api/orders/123/place/", {}, status=404, code="not_found"
    ),
    "order-id-not-uuid-events": Bad("manager", "get", "/api/orders/42/events/", status=404, code="not_found"),
    "order-unknown": Bad(
        "manager", "post", f"/api/orders/{uuid4()}/place/", {}, status=404, code="not_found"
    ),
    "order-unknown-events": Bad(
        "manager", "get", f"/api/orders/{uuid4()}/events/", status=404, code="not_found"
    ),
    "line-unknown-sku-patch": Bad(
        "owner", "patch", LINES + "NOPE/", {"quantity": 2}, status=404, code="not_found"
    ),
    "line-unknown-sku-delete": Bad("owner", "delete", LINES + "NOPE/", status=404, code="not_found"),
    "shipment-999": Bad(
        "fulfillment",
        "post",
        "/api/orders/{order}/shipments/999/deliver/",
        {},
        state="paid",
        status=404,
        code="not_found",
    ),
    "shipment-not-integer": Bad(
        "fulfillment",
        "post",
        "/api/orders/{order}/shipments/abc/deliver/",
        {},
        state="paid",
        status=404,
        code="not_found",
    ),
    "shipment-negative": Bad(
        "fulfillment",
        "post",
        "/api/orders/{order}/shipments/-1/deliver/",
        {},
        state="paid",
        status=404,
        code="not_found",
    ),
    "projection-unknown": Bad(
        "manager", "post", "/api/projections/nope/rebuild/", status=404, code="not_found"
    ),
    # --- query strings of the list -----------------------------------------------------------------
    "list-status-bogus": Bad("manager", "get", LIST + "?status=bogus", fields=(("status",),)),
    "list-payment-status-bogus": Bad(
        "manager", "get", LIST + "?payment_status=bogus", fields=(("payment_status",),)
    ),
    "list-fulfillment-status-bogus": Bad(
        "manager", "get", LIST + "?fulfillment_status=x", fields=(("fulfillment_status",),)
    ),
    "list-created-after-word": Bad(
        "manager", "get", LIST + "?created_after=yesterday", fields=(("created_after",),)
    ),
    "list-created-before-feb-30": Bad(
        "manager", "get", LIST + "?created_before=2026-02-30", fields=(("created_before",),)
    ),
    "list-limit-0": Bad("manager", "get", LIST + "?limit=0", fields=(("limit",),)),
    "list-limit-201": Bad("manager", "get", LIST + "?limit=201", fields=(("limit",),)),
    "list-limit-word": Bad("manager", "get", LIST + "?limit=abc", fields=(("limit",),)),
    "list-limit-negative": Bad("manager", "get", LIST + "?limit=-1", fields=(("limit",),)),
    "list-limit-superscript-digit": Bad(
        "manager", "get", LIST + "?limit=%C2%B2", fields=(("limit",),)
    ),  # "²"
    "list-cursor-garbage": Bad("manager", "get", LIST + "?cursor=garbage", fields=(("cursor",),)),
    "list-cursor-forged-position": Bad(
        "manager", "get", LIST + f"?cursor={FORGED_CURSOR}", fields=(("cursor",),)
    ),
    "list-customer-negative": Bad("manager", "get", LIST + "?customer=-1", fields=(("customer",),)),
    "list-customer-word": Bad("manager", "get", LIST + "?customer=abc", fields=(("customer",),)),
    "list-search-101-chars": Bad("manager", "get", LIST + "?search=" + "a" * 101, fields=(("search",),)),
    "list-search-nul": Bad("manager", "get", LIST + "?search=%00", fields=(("search",),)),
    # --- query strings of the detail -----------------------------------------------------------------
    "detail-as-of-word": Bad("manager", "get", ORDER + "?as_of=notadate", fields=(("as_of",),)),
    "detail-as-of-out-of-range": Bad(
        "manager", "get", ORDER + "?as_of=9999-12-31T23:59:59-05:00", fields=(("as_of",),)
    ),
    "detail-as-of-version-0": Bad("manager", "get", ORDER + "?as_of_version=0", fields=(("as_of_version",),)),
    "detail-as-of-version-word": Bad(
        "manager", "get", ORDER + "?as_of_version=abc", fields=(("as_of_version",),)
    ),
    "detail-as-of-version-beyond-the-stream": Bad(
        "manager", "get", ORDER + "?as_of_version=1000", status=404, code="not_found"
    ),
    "detail-as-of-version-beyond-integer": Bad(
        "manager", "get", ORDER + "?as_of_version=2147483648", fields=(("as_of_version",),)
    ),
    "detail-as-of-version-beyond-64-bits": Bad(
        "manager", "get", ORDER + "?as_of_version=9223372036854775808", fields=(("as_of_version",),)
    ),
    "detail-as-of-and-version": Bad(
        "manager", "get", ORDER + "?as_of=2026-01-01T00:00:00Z&as_of_version=1", fields=(("as_of",),)
    ),
    # --- query strings of the sales report -----------------------------------------------------------
    "sales-month-13": Bad("finance", "get", SALES + "?from=2026-13-01", fields=(("from",),)),
    "sales-feb-30": Bad("finance", "get", SALES + "?to=2026-02-30", fields=(("to",),)),
    "sales-from-after-to": Bad(
        "finance", "get", SALES + "?from=2026-03-02&to=2026-03-01", fields=(("from",),)
    ),
    "sales-more-than-366-days": Bad(
        "finance", "get", SALES + "?from=2024-01-01&to=2025-01-01", fields=(("from",),)
    ),
    "sales-to-at-the-start-of-time": Bad("finance", "get", SALES + "?to=0001-01-10", fields=(("to",),)),
    "sales-unknown-parameter": Bad("finance", "get", SALES + "?since=2026-01-01", fields=(("since",),)),
    # --- headers -------------------------------------------------------------------------------------
    "idempotency-key-256-chars": Bad(
        "manager",
        "post",
        NOTES,
        {"text": "hi"},
        headers={"Idempotency-Key": "k" * 256},
        fields=(("Idempotency-Key",),),
    ),
    "idempotency-key-empty": Bad(
        "manager",
        "post",
        NOTES,
        {"text": "hi"},
        headers={"Idempotency-Key": ""},
        fields=(("Idempotency-Key",),),
    ),
    "idempotency-key-control-char": Bad(
        "manager",
        "post",
        NOTES,
        {"text": "hi"},
        headers={"Idempotency-Key": "a\tb"},
        fields=(("Idempotency-Key",),),
    ),
    "consistency-token-word-list": Bad(
        "manager", "get", LIST, headers={"X-Consistency-Token": "abc"}, fields=(("X-Consistency-Token",),)
    ),
    "consistency-token-word-detail": Bad(
        "manager", "get", ORDER, headers={"X-Consistency-Token": "abc"}, fields=(("X-Consistency-Token",),)
    ),
    "consistency-token-three-parts": Bad(
        "manager", "get", LIST, headers={"X-Consistency-Token": "1.2.3"}, fields=(("X-Consistency-Token",),)
    ),
    "consistency-token-future": Bad(
        "manager",
        "get",
        ORDER,
        headers={"X-Consistency-Token": "999999999.999999999"},
        fields=(("X-Consistency-Token",),),
    ),
    "consistency-token-beyond-64-bits": Bad(
        "manager",
        "get",
        LIST,
        headers={"X-Consistency-Token": "18446744073709551616.1"},
        fields=(("X-Consistency-Token",),),
    ),
    "consistency-token-negative": Bad(
        "manager", "get", LIST, headers={"X-Consistency-Token": "-1.5"}, fields=(("X-Consistency-Token",),)
    ),
    # --- transport: size, media type, method, URL -----------------------------------------------------
    "body-over-1-mb": Bad(
        "manager", "post", NOTES, {"text": "x" * (1024 * 1024 + 1)}, status=413, code="request_too_large"
    ),
    "content-type-text-plain": Bad(
        "manager", "post", NOTES, Raw(b"hello", "text/plain"), status=415, code="unsupported_media_type"
    ),
    "content-type-form": Bad(
        "owner",
        "post",
        LINES,
        Raw(b"sku=MUG&quantity=1", "application/x-www-form-urlencoded"),
        status=415,
        code="unsupported_media_type",
    ),
    "get-on-place": Bad("owner", "get", "/api/orders/{order}/place/", status=405, code="method_not_allowed"),
    "put-on-order": Bad("manager", "put", ORDER, {}, status=405, code="method_not_allowed"),
    "delete-on-order": Bad("manager", "delete", ORDER, status=405, code="method_not_allowed"),
    "post-on-events": Bad(
        "manager", "post", "/api/orders/{order}/events/", {}, status=405, code="method_not_allowed"
    ),
    "unknown-url": Bad("manager", "get", "/api/nope/", status=404, code="not_found"),
    "unknown-url-anonymous": Bad("anonymous", "get", "/api/nope/", status=404, code="not_found"),
    "no-trailing-slash": Bad("manager", "get", "/api/orders", status=404, code="not_found"),
    "unknown-order-action": Bad(
        "manager", "post", "/api/orders/{order}/frobnicate/", {}, status=404, code="not_found"
    ),
}


@pytest.fixture(autouse=True)
def own_throttle_buckets(settings: Any) -> None:
    """Throttling stays on, in buckets of this test's own (user ids restart with every test database)."""
    settings.THROTTLE_KEY_PREFIX = f"throttle-test-{uuid4().hex}:"


def header_meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def send(client: APIClient, case: Bad, path: str) -> Any:
    extra = header_meta(case.headers)
    if case.body is None:
        return client.generic(case.method.upper(), path, **extra)
    if isinstance(case.body, Raw):
        content, content_type = case.body.content, case.body.content_type
    else:
        content, content_type = json.dumps(case.body).encode(), JSON
    return client.generic(case.method.upper(), path, content, content_type=content_type, **extra)


def dig(details: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        assert isinstance(details, dict) and key in details, f"details do not name {'.'.join(path)}"
        details = details[key]
    return details


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_with_the_error_envelope_and_changes_nothing(
    name: str,
    new_order: Callable[..., dict],
    client_for: Callable[[Any], APIClient],
    users: dict[str, Any],
) -> None:
    case = CASES[name]
    order = new_order(place=case.state != "draft", pay=case.state == "paid")
    user = None if case.role == "anonymous" else users["customer" if case.role == "owner" else case.role]
    client = client_for(user)
    client.raise_request_exception = False  # a server error must come back as a 500 to assert on
    events, records = StoredEvent.objects.count(), IdempotencyRecord.objects.count()
    stock = dict(Product.objects.values_list("sku", "stock_on_hand"))

    response = send(client, case, case.path.format(order=order["id"]))

    assert response.status_code == case.status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == case.code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    for path in case.fields:
        dig(body["error"]["details"], path)
    assert StoredEvent.objects.count() == events, "bad input wrote an event"
    assert IdempotencyRecord.objects.count() == records
    assert dict(Product.objects.values_list("sku", "stock_on_hand")) == stock


def test_staff_may_not_name_a_non_customer_as_the_orders_customer(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], mug: Product
) -> None:
    events = StoredEvent.objects.count()
    response = client_for(users["manager"]).post(
        "/api/orders/", {"customer": users["support"].pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "customer" in response.json()["error"]["details"]
    assert StoredEvent.objects.count() == events
