"""Commands: what a user asks the order platform to do. Plain data, validated by the aggregate.

Each command runs on one stream: an order's (``OrderCommand``), or a customer's own stream for what
concerns the customer rather than one order (``EraseCustomerData``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from orders.events import customer_stream_id


@dataclass(frozen=True, kw_only=True)
class Command:
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
    customer_id: int
    # Optional initial content, decided in the same transaction as the creation.
    lines: dict[str, int] = field(default_factory=dict)
    shipping_address: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class AddLine(OrderCommand):
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ChangeLineQuantity(OrderCommand):
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class RemoveLine(OrderCommand):
    sku: str


@dataclass(frozen=True, kw_only=True)
class SetShippingAddress(OrderCommand):
    address: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(OrderCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class RecordPayment(OrderCommand):
    amount: int
    reference: str


@dataclass(frozen=True, kw_only=True)
class ShipItems(OrderCommand):
    lines: dict[str, int]
    carrier: str
    tracking_number: str


@dataclass(frozen=True, kw_only=True)
class MarkDelivered(OrderCommand):
    shipment_id: int


@dataclass(frozen=True, kw_only=True)
class CancelOrder(OrderCommand):
    reason: str


@dataclass(frozen=True, kw_only=True)
class IssueRefund(OrderCommand):
    amount: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class AddNote(OrderCommand):
    text: str


@dataclass(frozen=True, kw_only=True)
class ExpireOrder(OrderCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class EraseCustomerData(Command):
    """Crypto-shred the customer's personal data (recovery/ does the shredding in the bus's transaction)."""

    customer_id: int

    @property
    def stream_id(self) -> UUID:
        return customer_stream_id(self.customer_id)
