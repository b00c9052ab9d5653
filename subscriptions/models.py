"""Outbound subscriptions: endpoints, each endpoint's fan-out cursor, deliveries and their attempts.

The event log is the outbox: a delivery row names an event by its log position and is rendered from the
event when it is sent, so a customer erased meanwhile reads as erased in what goes out, and the log of
attempts keeps the request's headers and the response's first 4 KB, never a copy of the body.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from orders.models import TransactionIdField
from subscriptions.fields import SealedSecretField

PAYLOAD_VERSIONS = ((1, "1"),)


class Endpoint(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")  # by an operator or the circuit breaker; the cursor is kept
        DISABLED = "disabled", _("disabled")  # the receiver answered 410 Gone, or an operator disabled it

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    description = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=2000)
    # Event types delivered; empty = every type.
    event_types = models.JSONField(default=list, blank=True)
    payload_version = models.PositiveSmallIntegerField(choices=PAYLOAD_VERSIONS, default=1)
    # Sealed in the database under a key derived from FIELD_ENCRYPTION_KEY (subscriptions.sealing).
    secret = SealedSecretField(max_length=200)
    # The secret before the last rotation: it signs as well until previous_secret_expires_at.
    previous_secret = SealedSecretField(max_length=200, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    state_reason = models.CharField(max_length=300, blank=True)
    ordered = models.BooleanField(default=False, help_text=_("one delivery in flight per order stream"))
    max_in_flight = models.PositiveSmallIntegerField(default=8)
    consecutive_failures = models.PositiveIntegerField(default=0)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class FanoutCursor(models.Model):
    """Where the fan-out of one endpoint stands in the log's commit order (``projections.runner``).
    A row of its own, so that editing an endpoint never waits for the fan-out's lock or moves it."""

    endpoint = models.OneToOneField(
        Endpoint, primary_key=True, on_delete=models.CASCADE, related_name="cursor"
    )
    transaction_id = TransactionIdField(default=0)
    position = models.BigIntegerField(default=0)
    events_read = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = _("fan-out cursor")
        verbose_name_plural = _("fan-out cursors")

    def __str__(self) -> str:
        return f"{self.endpoint_id} at {self.transaction_id}/{self.position}"


class Delivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")  # due at next_attempt_at; in flight while lease_expires_at is ahead
        DELIVERED = "delivered", _("delivered")
        DEAD = "dead", _("dead")  # retries exhausted; an operator redelivers it

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    position = models.BigIntegerField()
    stream_id = models.UUIDField()
    stream_version = models.PositiveIntegerField()
    event_type = models.CharField(max_length=100)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["position"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "position"], name="subscriptions_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt_at", "position"],
                condition=models.Q(state="pending"),
                name="subscriptions_delivery_due",
            ),
            models.Index(
                fields=["endpoint", "lease_expires_at"],
                condition=models.Q(lease_expires_at__isnull=False),
                name="subscriptions_delivery_leased",
            ),
            models.Index(
                fields=["endpoint", "stream_id", "stream_version"], name="subscriptions_delivery_stream"
            ),
            models.Index(fields=["updated_at"], name="subscriptions_delivery_age"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.position} → {self.endpoint_id}"


class DeliveryAttempt(models.Model):
    """One POST: what was sent (headers, not the body) and what came back (status, first 4 KB)."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    request_url = models.CharField(max_length=2000)
    request_headers = models.JSONField(default=dict)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        indexes = [models.Index(fields=["attempted_at"], name="subscriptions_attempt_age")]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


class RedeliveryRequest(models.Model):
    """The audit trail of redeliveries: who asked for what, when, and how many deliveries it touched."""

    id = models.BigAutoField(primary_key=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(db_default=Now())
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="redeliveries")
    scope = models.CharField(max_length=200)
    deliveries = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("redelivery request")
        verbose_name_plural = _("redelivery requests")

    def __str__(self) -> str:
        return f"{self.scope} ({self.deliveries})"
