"""The order aggregate: state folded from events, and ``decide`` turning a command into new events.

Plain Python, no Django. ``apply`` never raises (it folds what already happened); ``decide`` enforces
every rule of the order domain and raises ``ValidationError`` for malformed input, ``InvalidTransition``
for a command the order's state does not allow and ``NotFound`` for something that does not exist.
Money is integer minor units throughout.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from config.errors import IncompleteOrder, InvalidTransition, NotFound, ValidationError
from orders import commands as c
from orders import events as e
from orders.statuses import FulfillmentStatus, OrderStatus, PaymentStatus

MAX_LINE_QUANTITY = 1000
MAX_NOTE_LENGTH = 2000
MAX_TEXT_LENGTH = 500
ADDRESS_FIELDS: dict[str, tuple[bool, int]] = {
    # field: (required, max length)
    "name": (True, 200),
    "line1": (True, 200),
    "line2": (False, 200),
    "city": (True, 100),
    "region": (False, 100),
    "postal_code": (True, 20),
    "country": (True, 2),
}


# Which method folds each event type into an order, and which decides each command: filled by the
# decorators below as the class body runs, checked for completeness once it has (end of module).
_APPLIERS: dict[type[e.Event], Callable[[Order, Any, datetime], None]] = {}
_DECIDERS: dict[type[c.Command], Callable[[Order, Any, DecisionContext], list[e.Event]]] = {}
# Events of other streams (the customer's), which an order never sees.
NOT_ORDER_EVENTS: frozenset[type[e.Event]] = frozenset({e.CustomerDataErased})

F = TypeVar("F", bound=Callable[..., Any])


def _applies(event_type: type[e.Event]) -> Callable[[F], F]:
    def register(method: F) -> F:
        _APPLIERS[event_type] = method
        return method

    return register


def _decides(command_type: type[c.Command]) -> Callable[[F], F]:
    def register(method: F) -> F:
        _DECIDERS[command_type] = method
        return method

    return register


@dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    unit_price: int
    active: bool


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    name: str
    email: str


@dataclass(frozen=True)
class DecisionContext:
    """What a decision may need from outside the order, fetched by the handler beforehand."""

    now: datetime
    currency: str = "USD"
    payment_timeout: timedelta = timedelta(minutes=30)
    products: Mapping[str, ProductInfo] = field(default_factory=dict)
    customer: CustomerInfo | None = None
    order_number: str = ""


@dataclass
class Line:
    sku: str
    name: str
    unit_price: int
    quantity: int
    shipped_quantity: int = 0

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


@dataclass
class Shipment:
    id: int
    lines: dict[str, int]
    carrier: str
    tracking_number: str
    dispatched_at: datetime
    delivered_at: datetime | None = None


@dataclass
class Note:
    id: int
    text: str
    created_at: datetime


@dataclass
class Order:
    id: UUID
    version: int = 0
    number: str = ""
    customer_id: int | None = None
    customer_name: str = ""
    customer_email: str = ""
    currency: str = ""
    status: OrderStatus = OrderStatus.NEW  # until OrderCreated: the stream does not exist yet
    lines: dict[str, Line] = field(default_factory=dict)
    shipping_address: dict[str, str] | None = None
    reserved_stock: dict[str, int] = field(default_factory=dict)
    payments: dict[str, int] = field(default_factory=dict)
    amount_paid: int = 0
    amount_refunded: int = 0
    shipments: dict[int, Shipment] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    created_at: datetime | None = None
    placed_at: datetime | None = None
    updated_at: datetime | None = None

    # --- derived state -----------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def subtotal(self) -> int:
        return sum(line.total for line in self.lines.values())

    @property
    def total(self) -> int:
        return self.subtotal

    @property
    def outstanding(self) -> int:
        return max(self.total - self.amount_paid, 0)

    @property
    def payment_status(self) -> PaymentStatus:
        return payment_status(total=self.total, paid=self.amount_paid, refunded=self.amount_refunded)

    @property
    def fulfillment_status(self) -> FulfillmentStatus:
        return fulfillment_status(
            quantities=[(line.quantity, line.shipped_quantity) for line in self.lines.values()],
            deliveries=[s.delivered_at is not None for s in self.shipments.values()],
        )

    @property
    def anything_shipped(self) -> bool:
        return bool(self.shipments)

    # --- folding events ----------------------------------------------------------------------

    def apply(self, event: e.Event, *, version: int, at: datetime) -> None:
        """Fold one stored event into the state. Never raises for a known event type."""
        applier = _APPLIERS.get(type(event))
        if applier is not None:
            applier(self, event, at)
        self.version = version
        self.updated_at = at

    @_applies(e.OrderCreated)
    def _apply_order_created(self, event: e.OrderCreated, at: datetime) -> None:
        self.number = event.number
        self.customer_id = event.customer_id
        self.customer_name = event.customer_name
        self.customer_email = event.customer_email
        self.currency = event.currency
        self.status = OrderStatus.DRAFT
        self.created_at = at

    @_applies(e.OrderLineAdded)
    def _apply_order_line_added(self, event: e.OrderLineAdded, at: datetime) -> None:
        line = self.lines.get(event.sku)
        if line is None:
            self.lines[event.sku] = Line(event.sku, event.name, event.unit_price, event.quantity)
        else:
            # The line keeps the name and price it had when it was first added.
            line.quantity += event.quantity

    @_applies(e.OrderLineQuantityChanged)
    def _apply_order_line_quantity_changed(self, event: e.OrderLineQuantityChanged, at: datetime) -> None:
        if event.sku in self.lines:
            self.lines[event.sku].quantity = event.quantity

    @_applies(e.OrderLineRemoved)
    def _apply_order_line_removed(self, event: e.OrderLineRemoved, at: datetime) -> None:
        self.lines.pop(event.sku, None)

    @_applies(e.ShippingAddressSet)
    def _apply_shipping_address_set(self, event: e.ShippingAddressSet, at: datetime) -> None:
        self.shipping_address = dict(event.address)

    @_applies(e.OrderPlaced)
    def _apply_order_placed(self, event: e.OrderPlaced, at: datetime) -> None:
        self.status = OrderStatus.PLACED
        self.placed_at = at
        self.reserved_stock = dict(event.lines)

    @_applies(e.PaymentRecorded)
    def _apply_payment_recorded(self, event: e.PaymentRecorded, at: datetime) -> None:
        self.payments[event.reference] = event.amount
        self.amount_paid += event.amount

    @_applies(e.ShipmentDispatched)
    def _apply_shipment_dispatched(self, event: e.ShipmentDispatched, at: datetime) -> None:
        self.shipments[event.shipment_id] = Shipment(
            event.shipment_id, dict(event.lines), event.carrier, event.tracking_number, at
        )
        for sku, quantity in event.lines.items():
            if sku in self.lines:
                self.lines[sku].shipped_quantity += quantity

    @_applies(e.ShipmentDelivered)
    def _apply_shipment_delivered(self, event: e.ShipmentDelivered, at: datetime) -> None:
        if event.shipment_id in self.shipments:
            self.shipments[event.shipment_id].delivered_at = at

    @_applies(e.OrderCompleted)
    def _apply_order_completed(self, event: e.OrderCompleted, at: datetime) -> None:
        self.status = OrderStatus.COMPLETED

    @_applies(e.OrderCancelled)
    def _apply_order_cancelled(self, event: e.OrderCancelled, at: datetime) -> None:
        self.status = OrderStatus.CANCELLED
        self.reserved_stock = {}

    @_applies(e.RefundIssued)
    def _apply_refund_issued(self, event: e.RefundIssued, at: datetime) -> None:
        self.amount_refunded += event.amount

    @_applies(e.OrderNoteAdded)
    def _apply_order_note_added(self, event: e.OrderNoteAdded, at: datetime) -> None:
        self.notes.append(Note(event.note_id, event.text, at))

    @_applies(e.OrderExpired)
    def _apply_order_expired(self, event: e.OrderExpired, at: datetime) -> None:
        self.status = OrderStatus.EXPIRED
        self.reserved_stock = {}

    # --- deciding ----------------------------------------------------------------------------

    def decide(self, command: c.Command, context: DecisionContext) -> list[e.Event]:
        """The events ``command`` causes, or an error if a rule forbids it. Changes nothing."""
        decider = _DECIDERS.get(type(command))
        if decider is None:
            raise TypeError(f"an order does not decide {command.name}")
        if not isinstance(command, c.CreateOrder) and not self.exists:
            raise NotFound("order not found")
        return decider(self, command, context)

    @_decides(c.CreateOrder)
    def _decide_create_order(self, command: c.CreateOrder, context: DecisionContext) -> list[e.Event]:
        if self.exists:
            raise InvalidTransition("order already exists")
        customer = context.customer
        if customer is None or customer.id != command.customer_id:
            raise ValidationError("unknown customer", details={"customer": ["no such customer"]})
        created = e.OrderCreated(
            number=context.order_number,
            customer_id=customer.id,
            customer_name=customer.name,
            customer_email=customer.email,
            currency=context.currency,
        )
        # Decide the initial content on a draft that already holds the creation.
        draft = Order(id=self.id)
        draft.apply(created, version=1, at=context.now)
        new_events: list[e.Event] = [created]
        for sku, quantity in command.lines.items():
            step = draft._decide_add_line(c.AddLine(order_id=self.id, sku=sku, quantity=quantity), context)
            _fold(draft, step, context.now)
            new_events += step
        if command.shipping_address is not None:
            step = draft._decide_set_shipping_address(
                c.SetShippingAddress(order_id=self.id, address=command.shipping_address), context
            )
            new_events += step
        return new_events

    @_decides(c.AddLine)
    def _decide_add_line(self, command: c.AddLine, context: DecisionContext) -> list[e.Event]:
        _check_quantity(command.quantity)
        self._require_status(OrderStatus.DRAFT, action="add a line")
        product = context.products.get(command.sku)
        if product is None:
            raise ValidationError("unknown product", details={"sku": [f"no product {command.sku!r}"]})
        if not product.active:
            raise ValidationError(
                "product is not for sale", details={"sku": [f"{command.sku!r} is inactive"]}
            )
        existing = self.lines.get(command.sku)
        if existing is not None and existing.quantity + command.quantity > MAX_LINE_QUANTITY:
            raise ValidationError(
                "line quantity too large",
                details={"quantity": [f"the line would hold more than {MAX_LINE_QUANTITY}"]},
            )
        # A repeated sku adds to the line at the name and price the line already has.
        name, unit_price = (
            (existing.name, existing.unit_price) if existing else (product.name, product.unit_price)
        )
        return [
            e.OrderLineAdded(sku=product.sku, name=name, unit_price=unit_price, quantity=command.quantity)
        ]

    @_decides(c.ChangeLineQuantity)
    def _decide_change_line_quantity(
        self, command: c.ChangeLineQuantity, context: DecisionContext
    ) -> list[e.Event]:
        _check_quantity(command.quantity)
        self._require_status(OrderStatus.DRAFT, action="change a line")
        self._require_existing_line(command.sku)
        return [e.OrderLineQuantityChanged(sku=command.sku, quantity=command.quantity)]

    @_decides(c.RemoveLine)
    def _decide_remove_line(self, command: c.RemoveLine, context: DecisionContext) -> list[e.Event]:
        self._require_status(OrderStatus.DRAFT, action="remove a line")
        self._require_existing_line(command.sku)
        return [e.OrderLineRemoved(sku=command.sku)]

    @_decides(c.SetShippingAddress)
    def _decide_set_shipping_address(
        self, command: c.SetShippingAddress, context: DecisionContext
    ) -> list[e.Event]:
        address = _clean_address(command.address)
        self._require_status(OrderStatus.DRAFT, OrderStatus.PLACED, action="set the shipping address")
        if self.anything_shipped:
            raise InvalidTransition("items have already shipped")
        return [e.ShippingAddressSet(address=address)]

    @_decides(c.PlaceOrder)
    def _decide_place_order(self, command: c.PlaceOrder, context: DecisionContext) -> list[e.Event]:
        self._require_status(OrderStatus.DRAFT, action="place the order")
        if not self.lines:
            raise IncompleteOrder(
                "an order needs at least one line to be placed", details={"lines": ["add a line first"]}
            )
        if self.shipping_address is None:
            raise IncompleteOrder(
                "an order needs a shipping address to be placed",
                details={"shipping_address": ["set the shipping address first"]},
            )
        return [
            e.OrderPlaced(
                lines={sku: line.quantity for sku, line in sorted(self.lines.items())},
                subtotal=self.subtotal,
                total=self.total,
                currency=self.currency,
            )
        ]

    @_decides(c.RecordPayment)
    def _decide_record_payment(self, command: c.RecordPayment, context: DecisionContext) -> list[e.Event]:
        _check_positive_amount(command.amount)
        reference = _check_text(command.reference, field_name="reference", max_length=100)
        if reference in self.payments:
            if self.payments[reference] == command.amount:
                return []  # the same payment again: already recorded
            raise InvalidTransition(
                "payment reference already used with another amount", details={"reference": [reference]}
            )
        self._require_status(OrderStatus.PLACED, action="record a payment")
        if command.amount > self.outstanding:
            raise InvalidTransition(
                "payment exceeds the outstanding amount",
                details={"amount": [f"outstanding is {self.outstanding}"]},
            )
        return [e.PaymentRecorded(amount=command.amount, reference=reference)]

    @_decides(c.ShipItems)
    def _decide_ship_items(self, command: c.ShipItems, context: DecisionContext) -> list[e.Event]:
        if not command.lines:
            raise ValidationError("nothing to ship", details={"lines": ["at least one line is required"]})
        carrier = _check_text(command.carrier, field_name="carrier", max_length=100)
        tracking = _check_text(command.tracking_number, field_name="tracking_number", max_length=100)
        for quantity in command.lines.values():
            _check_quantity(quantity)
        self._require_status(OrderStatus.PLACED, action="ship items")
        if self.payment_status != PaymentStatus.PAID:
            raise InvalidTransition("an order ships only once it is paid")
        for sku, quantity in command.lines.items():
            line = self._require_line(sku)
            if quantity > line.quantity - line.shipped_quantity:
                raise InvalidTransition(
                    "more than is left to ship",
                    details={"lines": [f"{sku}: {line.quantity - line.shipped_quantity} left to ship"]},
                )
        return [
            e.ShipmentDispatched(
                shipment_id=len(self.shipments) + 1,
                lines=dict(sorted(command.lines.items())),
                carrier=carrier,
                tracking_number=tracking,
            )
        ]

    @_decides(c.MarkDelivered)
    def _decide_mark_delivered(self, command: c.MarkDelivered, context: DecisionContext) -> list[e.Event]:
        shipment = self.shipments.get(command.shipment_id)
        if shipment is None:
            raise NotFound("shipment not found")
        if shipment.delivered_at is not None:
            raise InvalidTransition("shipment already delivered")
        delivered: list[e.Event] = [e.ShipmentDelivered(shipment_id=shipment.id)]
        after = _folded_copy(self, delivered, context.now)
        if (
            after.fulfillment_status == FulfillmentStatus.DELIVERED
            and after.payment_status == PaymentStatus.PAID
        ):
            delivered.append(e.OrderCompleted())
        return delivered

    @_decides(c.CancelOrder)
    def _decide_cancel_order(self, command: c.CancelOrder, context: DecisionContext) -> list[e.Event]:
        reason = _check_text(command.reason, field_name="reason", max_length=MAX_TEXT_LENGTH)
        self._require_status(OrderStatus.DRAFT, OrderStatus.PLACED, action="cancel the order")
        if self.anything_shipped:
            raise InvalidTransition("items have already shipped")
        cancelled: list[e.Event] = [e.OrderCancelled(reason=reason, released_stock=dict(self.reserved_stock))]
        refundable = self.amount_paid - self.amount_refunded
        if refundable > 0:
            cancelled.append(e.RefundIssued(amount=refundable, reason=reason))
        return cancelled

    @_decides(c.IssueRefund)
    def _decide_issue_refund(self, command: c.IssueRefund, context: DecisionContext) -> list[e.Event]:
        _check_positive_amount(command.amount)
        reason = _check_text(command.reason, field_name="reason", max_length=MAX_TEXT_LENGTH)
        refundable = self.amount_paid - self.amount_refunded
        if command.amount > refundable:
            raise InvalidTransition(
                "refund exceeds what was paid and not yet refunded",
                details={"amount": [f"refundable is {refundable}"]},
            )
        return [e.RefundIssued(amount=command.amount, reason=reason)]

    @_decides(c.AddNote)
    def _decide_add_note(self, command: c.AddNote, context: DecisionContext) -> list[e.Event]:
        text = _check_text(command.text, field_name="text", max_length=MAX_NOTE_LENGTH)
        return [e.OrderNoteAdded(note_id=len(self.notes) + 1, text=text)]

    @_decides(c.ExpireOrder)
    def _decide_expire_order(self, command: c.ExpireOrder, context: DecisionContext) -> list[e.Event]:
        self._require_status(OrderStatus.PLACED, action="expire the order")
        if self.payment_status != PaymentStatus.UNPAID:
            raise InvalidTransition("only unpaid orders expire")
        if self.placed_at is None or context.now - self.placed_at <= context.payment_timeout:
            raise InvalidTransition("the payment time has not run out yet")
        return [e.OrderExpired(released_stock=dict(self.reserved_stock))]

    # --- guards ------------------------------------------------------------------------------

    def _require_status(self, *allowed: OrderStatus, action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(
                f"cannot {action} of an order that is {self.status}",
                details={"status": [self.status], "allowed": list(allowed)},
            )

    def _require_line(self, sku: str) -> Line:
        """A line named in a command's body: naming one the order lacks is malformed input."""
        line = self.lines.get(sku)
        if line is None:
            raise ValidationError("no such line", details={"sku": [f"the order has no line {sku!r}"]})
        return line

    def _require_existing_line(self, sku: str) -> None:
        """The line a command addresses (a resource of its own in the API): missing means not found."""
        if sku not in self.lines:
            raise NotFound("line not found", details={"sku": [f"the order has no line {sku!r}"]})


def payment_status(*, total: int, paid: int, refunded: int) -> PaymentStatus:
    """The payment status of an order; shared with the read side so both derive it alike."""
    if refunded > 0:
        return PaymentStatus.REFUNDED if refunded >= paid else PaymentStatus.PARTIALLY_REFUNDED
    if paid == 0:
        return PaymentStatus.UNPAID
    return PaymentStatus.PAID if paid >= total else PaymentStatus.PARTIALLY_PAID


def fulfillment_status(*, quantities: list[tuple[int, int]], deliveries: list[bool]) -> FulfillmentStatus:
    """From (ordered, shipped) per line and whether each shipment was delivered."""
    if sum(shipped for _, shipped in quantities) == 0:
        return FulfillmentStatus.UNFULFILLED
    if any(shipped < ordered for ordered, shipped in quantities):
        return FulfillmentStatus.PARTIALLY_SHIPPED
    return FulfillmentStatus.DELIVERED if all(deliveries) else FulfillmentStatus.SHIPPED


def replay(order_id: UUID, history: list[tuple[e.Event, int, datetime]]) -> Order:
    """Fold ``(event, version, time)`` triples into a fresh order."""
    order = Order(id=order_id)
    for event, version, at in history:
        order.apply(event, version=version, at=at)
    return order


def _fold(order: Order, new_events: list[e.Event], at: datetime) -> None:
    for event in new_events:
        order.apply(event, version=order.version + 1, at=at)


def _folded_copy(order: Order, new_events: list[e.Event], at: datetime) -> Order:
    copied = copy.deepcopy(order)
    _fold(copied, new_events, at)
    return copied


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise ValidationError(
            "invalid quantity",
            details={"quantity": [f"must be a whole number from 1 to {MAX_LINE_QUANTITY}"]},
        )


def _check_positive_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError("invalid amount", details={"amount": ["must be greater than zero"]})


def _check_text(value: str, *, field_name: str, max_length: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= max_length:
        raise ValidationError(
            f"invalid {field_name}", details={field_name: [f"must be 1 to {max_length} characters"]}
        )
    return text


def _clean_address(address: Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(address, Mapping):
        raise ValidationError("invalid address", details={"address": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    for name in address.keys() - ADDRESS_FIELDS.keys():
        errors[name] = ["unknown field"]
    cleaned: dict[str, str] = {}
    for name, (required, max_length) in ADDRESS_FIELDS.items():
        raw = address.get(name)
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, ""):
            if required:
                errors[name] = ["this field is required"]
            continue
        if not isinstance(value, str) or len(value) > max_length:
            errors[name] = [f"must be text of at most {max_length} characters"]
            continue
        cleaned[name] = value
    country = cleaned.get("country")
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = ["must be a two-letter ISO 3166 country code"]
    if errors:
        raise ValidationError("invalid address", details={"address": errors})
    if country is not None:
        cleaned["country"] = country.upper()
    return cleaned


def unfolded_event_types() -> set[type[e.Event]]:
    """Order events that no applier folds: each would be silently ignored in every replay."""
    return set(e.EVENT_TYPES.values()) - set(_APPLIERS) - NOT_ORDER_EVENTS


if unfolded_event_types():  # at import, i.e. start-up: loudly, before any order is replayed
    raise TypeError(f"Order has no applier for {sorted(t.type_name for t in unfolded_event_types())}")
