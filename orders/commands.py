"""Commands: what a user asks the order platform to do. Plain data, validated by the aggregate.

Each command runs on one stream: an order's (``OrderCommand``), or a customer's own stream for what
concerns the customer rather than one order (``EraseCustomerData``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

from orders.events import customer_stream_id


@dataclass(frozen=True, kw_only=True)
class Command:
    # What the command does, in the user's words, for messages ("you may not place this order").
    action: ClassVar[str] = "do this"

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def stream_id(self) -> UUID:
        """The stream the command's events are appended to."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class OrderCommand(Command):
    order_id: UUID

    @property
    def stream_id(self) -> UUID:
        return self.order_id


@dataclass(frozen=True, kw_only=True)
class CreateOrder(OrderCommand):
    action: ClassVar[str] = "create this order"
    customer_id: int
    # Optional initial content, decided in the same transaction as the creation.
    lines: dict[str, int] = field(default_factory=dict)
    shipping_address: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class AddLine(OrderCommand):
    action: ClassVar[str] = "add lines to this order"
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ChangeLineQuantity(OrderCommand):
    action: ClassVar[str] = "change the lines of this order"
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class RemoveLine(OrderCommand):
    action: ClassVar[str] = "remove lines from this order"
    sku: str


@dataclass(frozen=True, kw_only=True)
class SetShippingAddress(OrderCommand):
    action: ClassVar[str] = "set the shipping address of this order"
    address: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(OrderCommand):
    action: ClassVar[str] = "place this order"


@dataclass(frozen=True, kw_only=True)
class RecordPayment(OrderCommand):
    action: ClassVar[str] = "record a payment on this order"
    amount: int
    reference: str


@dataclass(frozen=True, kw_only=True)
class ShipItems(OrderCommand):
    action: ClassVar[str] = "ship items of this order"
    lines: dict[str, int]
    carrier: str
    tracking_number: str


@dataclass(frozen=True, kw_only=True)
class MarkDelivered(OrderCommand):
    action: ClassVar[str] = "mark a shipment of this order delivered"
    shipment_id: int


@dataclass(frozen=True, kw_only=True)
class CancelOrder(OrderCommand):
    action: ClassVar[str] = "cancel this order"
    reason: str


@dataclass(frozen=True, kw_only=True)
class IssueRefund(OrderCommand):
    action: ClassVar[str] = "issue a refund on this order"
    amount: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class AddNote(OrderCommand):
    action: ClassVar[str] = "add a note to this order"
    text: str


@dataclass(frozen=True, kw_only=True)
class ExpireOrder(OrderCommand):
    action: ClassVar[str] = "expire this order"


@dataclass(frozen=True, kw_only=True)
class EraseCustomerData(Command):
    """Crypto-shred the customer's personal data (recovery/ does the shredding in the bus's transaction)."""

    action: ClassVar[str] = "erase this customer's personal data"

    customer_id: int

    @property
    def stream_id(self) -> UUID:
        return customer_stream_id(self.customer_id)
