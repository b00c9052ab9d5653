"""The order's three independent states (SPEC §3), one definition for the aggregate, the read model,
the API's filters, the admin and the tasks. Plain Python: the domain imports no framework."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "new"  # before OrderCreated: the stream does not exist yet (never stored or shown)
    DRAFT = "draft"
    PLACED = "placed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class FulfillmentStatus(StrEnum):
    UNFULFILLED = "unfulfilled"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


# What an existing order can be: the values the API filters and the admin offer.
ORDER_STATUSES: tuple[OrderStatus, ...] = tuple(s for s in OrderStatus if s is not OrderStatus.NEW)
