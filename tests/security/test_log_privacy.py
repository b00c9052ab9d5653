"""The logs of a whole order's life hold no personal data, password or token.

Every log record of every logger (propagating or not, at DEBUG) is captured and formatted the way
production writes it (JSON, with the request id), then searched for each secret and personal value.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import create_user
from config.logs import logging_config
from orders.models import Product
from tests.addresses import ADDRESS as SHARED_ADDRESS
from tests.conftest import project_everything

pytestmark = pytest.mark.django_db(transaction=True)  # the projections read committed events only

PASSWORD = "Zq-unique-passphrase-8812"
MISTYPED = "Zq-unique-passphrase-8813"
EMAIL = "zebulon.quixote@example.org"
# Fields of this customer's own, so a match in the logs can only be theirs.
ADDRESS = {
    **SHARED_ADDRESS,
    "name": "Zebulon Quixote",
    "line1": "77 Xylophone Lane",
    "line2": "Flat 9B",
    "city": "Quimbleton",
    "region": "Wessex",
    "postal_code": "QX9 7ZZ",
}
BAD_ADDRESS = {**ADDRESS, "country": "?"}
NOTE = "Leave it by the blue door"


@pytest.fixture
def log_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Every record any logger handles, in production's JSON format, into a buffer."""
    config = logging_config("json", "DEBUG")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(import_string(config["filters"]["request_id"]["()"])())
    handler.setFormatter(import_string(config["formatters"]["json"]["()"])())
    call_handlers = logging.Logger.callHandlers

    def capture(self: logging.Logger, record: logging.LogRecord) -> None:
        handler.handle(record)  # before propagation rules: loggers that keep records to themselves too
        call_handlers(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", capture)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(level)


def token_client(username: str, password: str) -> tuple[APIClient, str]:
    credentials = {"username": username, "password": password}
    response = APIClient().post("/api/auth/token/", credentials, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, token


def staff(role: Role) -> tuple[APIClient, str]:
    name = f"{role.value}-logs"
    user = create_user(username=name, role=role, password=PASSWORD, email=f"{name}@shop.test")
    return token_client(user.username, PASSWORD)


def test_an_order_lifecycle_logs_no_personal_data_password_or_token(log_output: io.StringIO) -> None:
    Product.objects.create(sku="LAMP", name="Desk lamp", unit_price=4500, stock_on_hand=5, active=True)
    create_user(
        username="zquixote", role=Role.CUSTOMER, password=PASSWORD, email=EMAIL, first_name="Zebulon",
        last_name="Quixote",
    )  # fmt: skip
    assert APIClient().post(
        "/api/auth/token/", {"username": "zquixote", "password": MISTYPED}, format="json"
    ).status_code == 401  # fmt: skip
    customer, customer_token = token_client("zquixote", PASSWORD)
    (finance, finance_token), (fulfillment, _), (support, _) = (
        staff(Role.FINANCE), staff(Role.FULFILLMENT), staff(Role.SUPPORT),
    )  # fmt: skip

    order = {"lines": [{"sku": "LAMP", "quantity": 2}], "shipping_address": ADDRESS}
    created = customer.post("/api/orders/", order, format="json")
    assert created.status_code == 201, created.json()
    url = f"/api/orders/{created.json()['id']}"
    steps = [
        (customer.post(f"{url}/place/", {}, format="json"), 200),
        (finance.post(f"{url}/payments/", {"amount": "90.00", "reference": "PSP-77"}, format="json"), 200),
        (
            fulfillment.post(
                f"{url}/shipments/",
                {"lines": [{"sku": "LAMP", "quantity": 2}], "carrier": "DHL", "tracking_number": "JD0142"},
                format="json",
            ),
            200,
        ),
        (fulfillment.post(f"{url}/shipments/1/deliver/", {}, format="json"), 200),
        (support.post(f"{url}/notes/", {"text": NOTE}, format="json"), 200),
        # Refused requests log too (django.request warnings): the address after shipping, a bad body.
        (customer.put(f"{url}/shipping-address/", ADDRESS, format="json"), 409),
        (customer.post("/api/orders/", {"shipping_address": BAD_ADDRESS}, format="json"), 400),
    ]
    for response, status in steps:
        assert response.status_code == status, response.json()
    project_everything()
    assert customer.get(f"/api/orders/?search={EMAIL}").status_code == 200
    final = support.get(f"{url}/")
    assert final.status_code == 200
    assert final.json()["status"] == "completed"

    output = log_output.getvalue()
    records = [json.loads(line) for line in output.splitlines()]
    assert sum(r["logger"] == "config.requests" for r in records) >= 14  # the capture saw every request
    assert any(r["logger"] == "django.request" for r in records)  # and the refusals' warnings
    secrets = [EMAIL, PASSWORD, MISTYPED, customer_token, finance_token, NOTE, "Zebulon", "Quixote"]
    secrets += [value for key, value in ADDRESS.items() if key != "country"]
    leaked = [secret for secret in secrets if secret.lower() in output.lower()]
    assert leaked == [], f"found in the logs: {leaked}"
