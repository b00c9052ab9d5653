"""Read tables, written only by projectors, and the checkpoint of each projection.

Read tables have natural keys (no sequences) so a rebuild can build a copy beside them and swap it in.
Money is integer minor units, as in the events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from projections.status import ProjectionStatus


class OrderSummary(models.Model):
    """One row per order: everything the API's order representation shows."""

    id = models.UUIDField(primary_key=True)
    number = models.CharField(max_length=32, db_index=True)
    customer_id = models.BigIntegerField()
    customer_name = models.CharField(max_length=300, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=16)
    payment_status = models.CharField(max_length=20)
    fulfillment_status = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    lines = models.JSONField(default=list)
    shipping_address = models.JSONField(null=True, blank=True)
    subtotal = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    payments = models.JSONField(default=list)
    shipments = models.JSONField(default=list)
    notes = models.JSONField(default=list)
    version = models.PositiveIntegerField()
    last_position = models.BigIntegerField()
    created_at = models.DateTimeField()
    placed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()
    # The API representation as JSON text, written with the row (projections/documents.py): a read
    # serves it after its permission check instead of building it again. NULL for a row written before
    # these columns existed: reads then build it from the row.
    document = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001  # NULL: not yet written
    document_without_notes = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer_id", "-created_at"], name="ordersummary_customer_idx"),
            models.Index(fields=["-created_at", "-id"], name="ordersummary_created_idx"),
            models.Index(fields=["status", "payment_status", "placed_at"], name="ordersummary_status_idx"),
        ]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return self.number


class DailySales(models.Model):
    """Per day (in TIME_ZONE): orders placed and their value, refunds issued, and the difference."""

    day = models.DateField(primary_key=True)
    orders_placed = models.IntegerField(default=0)
    gross = models.BigIntegerField(default=0)
    refunds = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["day"]
        verbose_name = _("daily sales")
        verbose_name_plural = _("daily sales")

    def __str__(self) -> str:
        return str(self.day)


class CustomerStats(models.Model):
    """Per customer: orders placed and lifetime value (paid minus refunded)."""

    customer_id = models.BigIntegerField(primary_key=True)
    orders_placed = models.IntegerField(default=0)
    lifetime_value = models.BigIntegerField(default=0)
    last_order_at = models.DateTimeField(null=True, blank=True)
    # Not a column: the customer's name, which the admin sets on a page of rows (label_page).
    username: str

    class Meta:
        ordering = ["customer_id"]
        verbose_name = _("customer stats")
        verbose_name_plural = _("customer stats")

    def __str__(self) -> str:
        return f"customer {self.customer_id}"


class CustomerOrder(models.Model):
    """Which customer each order belongs to: the customer-stats projector's own lookup table."""

    order_id = models.UUIDField(primary_key=True)
    customer_id = models.BigIntegerField()

    class Meta:
        verbose_name = _("customer order")
        verbose_name_plural = _("customer orders")

    def __str__(self) -> str:
        return f"{self.order_id} -> {self.customer_id}"


class ProjectionCheckpoint(models.Model):
    """How far a projection has read the log, in commit-safe order (transaction id, position)."""

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")
        FAILED = "failed", _("Failed")
        REBUILDING = "rebuilding", _("Rebuilding")

    name = models.CharField(max_length=64, primary_key=True)
    transaction_id = models.BigIntegerField(default=0)
    position = models.BigIntegerField(default=0)
    events_applied = models.BigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    last_error = models.TextField(blank=True)
    failed_position = models.BigIntegerField(null=True, blank=True)
    rebuild_position = models.BigIntegerField(null=True, blank=True)  # None while a rebuild is queued
    # When the current rebuild was asked for: a queued request nobody started counts for a while only.
    rebuild_requested_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not a column: the live status, which the admin sets on a page of rows (label_page).
    status: ProjectionStatus | None

    class Meta:
        ordering = ["name"]
        verbose_name = _("projection checkpoint")
        verbose_name_plural = _("projection checkpoints")

    def __str__(self) -> str:
        return f"{self.name} @ {self.position} ({self.state})"
