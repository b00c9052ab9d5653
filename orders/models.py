"""Write-side tables: the append-only event log and the product reference data."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.expressions import Func
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class TransactionIdField(models.BigIntegerField):
    """A PostgreSQL ``xid8``: the id of the transaction that wrote the row, read as an int.

    Readers order events by (transaction id, position) below the oldest running transaction, so an
    event that commits after a later-numbered one is never skipped (see projections.runner).
    """

    def db_type(self, connection: Any) -> str:
        return "xid8"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return None if value is None else int(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        return None if value is None else str(value)


class CurrentTransactionId(Func):
    function = "pg_current_xact_id"
    template = "%(function)s()"
    output_field = TransactionIdField()


class StoredEvent(models.Model):
    """One event of one stream. Rows are never updated or deleted: a trigger refuses it."""

    position = models.BigAutoField(primary_key=True)
    stream_id = models.UUIDField()
    version = models.PositiveIntegerField()
    event_type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField()
    payload = models.JSONField()
    metadata = models.JSONField()
    recorded_at = models.DateTimeField(db_default=Now())
    transaction_id = TransactionIdField(db_default=CurrentTransactionId())
    # Not columns: labels the event log admin sets on a page of rows (orders.admin, label_page).
    actor_label: str
    order_number: str | None

    class Meta:
        db_table = "event_log"
        ordering = ["position"]
        verbose_name = _("event")
        verbose_name_plural = _("event log")
        constraints = [
            models.UniqueConstraint(fields=["stream_id", "version"], name="event_log_stream_version_key"),
        ]
        indexes = [
            models.Index(fields=["transaction_id", "position"], name="event_log_commit_order_idx"),
            # Order numbers live in OrderCreated (never sealed): the event log admin finds a stream by one.
            models.Index(
                KeyTextTransform("number", "payload"),
                condition=models.Q(event_type="OrderCreated"),
                name="event_log_order_number_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.event_type} {self.stream_id} v{self.version}"


class Product(models.Model):
    """Reference data managed in the admin. Prices in minor units; stock reserved when orders are placed."""

    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    unit_price = models.BigIntegerField(help_text=_("Price in minor units (cents)."))
    active = models.BooleanField(default=True)
    # The site's own allocation under multi-site: not replicated, so a product that arrives from the other
    # site starts with the database's default here (0) until this site allocates stock to it.
    stock_on_hand = models.IntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(condition=models.Q(unit_price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=models.Q(stock_on_hand__gte=0), name="product_stock_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class IdempotencyRecord(models.Model):
    """A completed write request, kept so that the same Idempotency-Key replays its response.

    Written in the same transaction as the command's events, so a key is remembered exactly when the
    command took effect.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text=_("SHA-256 of method, path and body."))
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class SiteAdoption(models.Model):
    """Multi-site: ``site``'s streams are homed at ``adopted_by`` (an operator's ``adopt_site`` after
    ``site`` was lost and fenced). Replicated with the events, so every site resolves homes alike."""

    site = models.CharField(max_length=64, primary_key=True)
    adopted_by = models.CharField(max_length=64)
    adopted_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = _("site adoption")
        verbose_name_plural = _("site adoptions")

    def __str__(self) -> str:
        return f"{self.site} -> {self.adopted_by}"


class StockTransfer(models.Model):
    """Multi-site: units moved from one site's allocation to the other's — a replicated, append-only
    ledger row. Written at the source in the transaction that takes the units from its allocation; the
    destination adds them in the transaction that applies the row (a replica trigger, multisite_setup),
    so the units are in exactly one allocation at any commit, and are added once."""

    id = models.UUIDField(primary_key=True)
    sku = models.CharField(max_length=64)
    units = models.PositiveIntegerField()
    from_site = models.CharField(max_length=64)
    to_site = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = _("stock transfer")
        verbose_name_plural = _("stock transfers")
        constraints = [
            models.CheckConstraint(condition=models.Q(units__gt=0), name="stock_transfer_units_positive")
        ]

    def __str__(self) -> str:
        return f"{self.units} x {self.sku}: {self.from_site} -> {self.to_site}"
