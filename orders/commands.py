"""Commands: what a user asks the order platform to do. Plain data, validated by the aggregate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True, kw_only=True)
class Command:
    order_id: UUID

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class CreateOrder(Command):
    customer_id: int
    # Optional initial content, decided in the same transaction as the creation.
    lines: dict[str, int] = field(default_factory=dict)
    shipping_address: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class AddLine(Command):
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ChangeLineQuantity(Command):
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class RemoveLine(Command):
    sku: str


@dataclass(frozen=True, kw_only=True)
class SetShippingAddress(Command):
    address: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RecordPayment(Command):
    amount: int
    reference: str


@dataclass(frozen=True, kw_only=True)
class ShipItems(Command):
    lines: dict[str, int]
    carrier: str
    tracking_number: str


@dataclass(frozen=True, kw_only=True)
class MarkDelivered(Command):
    shipment_id: int


@dataclass(frozen=True, kw_only=True)
class CancelOrder(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class IssueRefund(Command):
    amount: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class AddNote(Command):
    text: str


@dataclass(frozen=True, kw_only=True)
class ExpireOrder(Command):
    pass
