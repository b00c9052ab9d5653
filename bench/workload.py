"""What the bench writes: realistic order events, and orders driven through the bus command by command.

Imported by the phases (inside Django); the orchestrator does not import it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from django.db import transaction

from orders import commands as c
from orders import events as e
from orders.api import idempotency
from orders.handlers import DispatchResult, dispatch_idempotent

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


def metadata(actor: str = "user:1", command: str = "bench") -> dict[str, str]:
    """The envelope the bus writes with every event."""
    command_id = str(uuid4())
    return {
        "actor": actor,
        "command": command,
        "command_id": command_id,
        "correlation_id": command_id,
        "causation_id": command_id,
    }


def order_events(number: int, *, customer_id: int = 1) -> list[e.Event]:
    """The ten events of one order from creation to completion, with realistic payloads."""
    lines = {"SKU-0001": 2, "SKU-0002": 1}
    total = 2 * 1999 + 4500
    return [
        e.OrderCreated(
            number=f"ORD-{number:06d}",
            customer_id=customer_id,
            customer_name="Ada Lovelace",
            customer_email="ada@example.com",
            currency="USD",
        ),
        e.OrderLineAdded(sku="SKU-0001", name="Enamel mug", unit_price=1999, quantity=2),
        e.OrderLineAdded(sku="SKU-0002", name="Tea towel", unit_price=4500, quantity=1),
        e.ShippingAddressSet(address=dict(ADDRESS)),
        e.OrderPlaced(lines=lines, subtotal=total, total=total, currency="USD"),
        e.PaymentRecorded(amount=total, reference=f"PAY-{number}"),
        e.ShipmentDispatched(shipment_id=1, lines=lines, carrier="DHL", tracking_number=f"TRK-{number}"),
        e.ShipmentDelivered(shipment_id=1),
        e.OrderCompleted(),
        e.OrderNoteAdded(note_id=1, text="Customer asked for gift wrapping."),
    ]


def long_stream(length: int) -> list[e.Event]:
    """One stream of ``length`` events: an order followed by notes (for batched appends)."""
    events = order_events(1)[:-1]
    events += [e.OrderNoteAdded(note_id=i, text=f"Note {i} on this order.") for i in range(length)]
    return events[:length]


# --- commands through the bus, with an Idempotency-Key as the API sends them ----------------------------


@dataclass(frozen=True)
class BusRequest:
    """The parts of a DRF request that ``orders.api.idempotency`` reads."""

    user: Any
    method: str
    path: str
    data: dict[str, Any]
    headers: dict[str, str]


def dispatch_with_key(
    command: c.Command, *, actor: Any, on_commit: Callable[[DispatchResult], None] | None = None
) -> DispatchResult:
    """Dispatch like the API does for a write with an Idempotency-Key: advisory lock, look-up and the
    key's record, all in the command's transaction (the response body is reduced to id and version)."""
    key = uuid4().hex
    request = BusRequest(
        user=actor,
        method="POST",
        path=f"/api/orders/{command.order_id}/{command.name}/",
        data=dataclasses.asdict(command),
        headers={idempotency.HEADER: key},
    )
    results: list[DispatchResult] = []

    def answer(result: DispatchResult) -> idempotency.StoredResponse:
        results.append(result)
        if on_commit is not None:
            transaction.on_commit(lambda: on_commit(result))  # runs right after COMMIT
        return idempotency.StoredResponse(
            200, {"id": str(command.order_id), "version": result.order.version}, {}
        )

    keyed = idempotency.KeyedRequest(request, key, answer=answer)  # type: ignore[arg-type]  # a duck-typed request
    dispatch_idempotent(command, actor=actor, idempotency=keyed)
    return results[-1]


@dataclass
class OrderJourney:
    """One order after another through six commands: create (with a line and an address), add a line,
    place, pay, ship everything, deliver (which also completes the order): 6 commands, 7 events."""

    customer: Any
    staff: Any
    skus: list[str]
    rng: random.Random
    step: int = 0
    order_id: UUID = field(default_factory=uuid4)
    last: DispatchResult | None = None

    def next_command(self) -> tuple[c.Command, Any]:
        order = self.last.order if self.last is not None else None
        step, order_id = self.step, self.order_id
        if step == 0:
            sku = self.rng.choice(self.skus)
            return c.CreateOrder(
                order_id=order_id,
                customer_id=self.customer.pk,
                lines={sku: 1},
                shipping_address=dict(ADDRESS),
            ), self.customer
        if step == 1:
            return c.AddLine(
                order_id=order_id, sku=self.rng.choice(self.skus), quantity=self.rng.randint(1, 3)
            ), self.customer
        if step == 2:
            return c.PlaceOrder(order_id=order_id), self.customer
        assert order is not None  # noqa: S101  # nosec B101  # steps run in order
        if step == 3:
            return c.RecordPayment(
                order_id=order_id, amount=order.total, reference=f"PAY-{order_id}"
            ), self.staff
        if step == 4:
            lines = {sku: line.quantity for sku, line in order.lines.items()}
            return c.ShipItems(
                order_id=order_id, lines=lines, carrier="DHL", tracking_number=f"TRK-{order_id}"
            ), self.staff
        return c.MarkDelivered(order_id=order_id, shipment_id=next(iter(order.shipments))), self.staff

    def advance(self, result: DispatchResult) -> None:
        self.last = result
        self.step += 1
        if self.step == 6:
            self.step, self.order_id, self.last = 0, uuid4(), None

    def run_one(self, on_commit: Callable[[DispatchResult], None] | None = None) -> int:
        """Dispatch the next command; return how many events it wrote."""
        command, actor = self.next_command()
        result = dispatch_with_key(command, actor=actor, on_commit=on_commit)
        self.advance(result)
        return len(result.events)
