"""Events: what happened to an order. Frozen, JSON-native payloads, a registry by type name, upcasters.

Payload values are only str, int, bool, None, lists and dicts, so ``to_payload``/``from_payload`` are a
plain round trip through JSON. Fields named in ``personal_fields`` hold personal data (customer name,
email, addresses); they are the ones encrypted per customer at rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID, uuid5

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class UnknownEventType(LookupError):
    """A stored event names a type this code does not know."""


EVENT_TYPES: dict[str, type[Event]] = {}
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


@dataclass(frozen=True)
class Event:
    """An event class names its stored type explicitly (``class OrderPlaced(Event, type_name=...)``):
    the name is written into the log, so renaming the class must never orphan stored events."""

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1
    personal_fields: ClassVar[frozenset[str]] = frozenset()
    # Fields holding money in integer minor units: shown as two-decimal strings outside the log.
    money_fields: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, *, type_name: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if type_name in EVENT_TYPES:
            raise TypeError(f"event type {type_name!r} is already {EVENT_TYPES[type_name].__qualname__}")
        cls.type_name = type_name
        EVENT_TYPES[type_name] = cls

    @property
    def type(self) -> str:
        return self.type_name

    def to_payload(self) -> Payload:
        return dataclasses.asdict(self)


def upcaster(event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning a stored payload of ``from_version`` into ``from_version + 1``."""

    def register(function: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = function
        return function

    return register


def from_payload(event_type: str, schema_version: int, payload: Payload) -> Event:
    """Read a stored event as the current schema version, upcasting step by step."""
    try:
        cls = EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None
    version = schema_version
    while version < cls.schema_version:
        payload = UPCASTERS[(event_type, version)](dict(payload))
        version += 1
    return cls(**payload)


# --- The order's events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCreated(Event, type_name="OrderCreated"):
    personal_fields = frozenset({"customer_name", "customer_email"})

    number: str
    customer_id: int
    customer_name: str
    customer_email: str
    currency: str


@dataclass(frozen=True)
class OrderLineAdded(Event, type_name="OrderLineAdded"):
    # v1 called the price "price"; see the upcaster below.
    schema_version = 2
    money_fields = frozenset({"unit_price"})

    sku: str
    name: str
    unit_price: int
    quantity: int


@upcaster("OrderLineAdded", from_version=1)
def _line_price_renamed(payload: Payload) -> Payload:
    payload["unit_price"] = payload.pop("price")
    return payload


@dataclass(frozen=True)
class OrderLineQuantityChanged(Event, type_name="OrderLineQuantityChanged"):
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderLineRemoved(Event, type_name="OrderLineRemoved"):
    sku: str


@dataclass(frozen=True)
class ShippingAddressSet(Event, type_name="ShippingAddressSet"):
    personal_fields = frozenset({"address"})

    address: dict[str, str]


@dataclass(frozen=True)
class OrderPlaced(Event, type_name="OrderPlaced"):
    # Quantities per sku reserved from stock, so a cancellation knows exactly what to release.
    money_fields = frozenset({"subtotal", "total"})

    lines: dict[str, int]
    subtotal: int
    total: int
    currency: str


@dataclass(frozen=True)
class PaymentRecorded(Event, type_name="PaymentRecorded"):
    money_fields = frozenset({"amount"})

    amount: int
    reference: str


@dataclass(frozen=True)
class ShipmentDispatched(Event, type_name="ShipmentDispatched"):
    shipment_id: int
    lines: dict[str, int]
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class ShipmentDelivered(Event, type_name="ShipmentDelivered"):
    shipment_id: int


@dataclass(frozen=True)
class OrderCompleted(Event, type_name="OrderCompleted"):
    pass


@dataclass(frozen=True)
class OrderCancelled(Event, type_name="OrderCancelled"):
    reason: str
    released_stock: dict[str, int]


@dataclass(frozen=True)
class RefundIssued(Event, type_name="RefundIssued"):
    money_fields = frozenset({"amount"})

    amount: int
    reason: str


@dataclass(frozen=True)
class OrderNoteAdded(Event, type_name="OrderNoteAdded"):
    note_id: int
    text: str


@dataclass(frozen=True)
class OrderExpired(Event, type_name="OrderExpired"):
    released_stock: dict[str, int]


# --- Personal data erasure (recovery/: crypto-shredding) --------------------------------------------
# Personal fields are encrypted with a key per customer; erasing the customer deletes that key, after
# which every personal value of theirs reads as ERASED. The erasure itself is recorded on a stream of
# the customer's own, so order streams stay untouched and history and totals remain.

ERASED = "[erased]"
_CUSTOMER_STREAMS = UUID("8d6f6b2e-3c1a-5e4b-9a51-0c6f1f4e7a20")


def customer_stream_id(customer_id: int) -> UUID:
    """The stream of customer-level events (``CustomerDataErased``): uuid5 of the customer id."""
    return uuid5(_CUSTOMER_STREAMS, f"customer:{customer_id}")


@dataclass(frozen=True)
class CustomerDataErased(Event, type_name="CustomerDataErased"):
    customer_id: int
