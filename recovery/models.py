"""Recovery's tables: the record of every backup run, and the per-customer data keys."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class BackupRecord(models.Model):
    """One backup run: where the archive is, what it holds, how long it took. Written by every run."""

    class Kind(models.TextChoices):
        FULL = "full", _("Full")
        INCREMENTAL = "incremental", _("Incremental")

    class Status(models.TextChoices):
        OK = "ok", _("Ok")
        FAILED = "failed", _("Failed")

    archive_id = models.UUIDField(unique=True, null=True, blank=True)
    path = models.CharField(max_length=1024, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OK)
    created_at = models.DateTimeField(help_text=_("When the snapshot was taken: the data is as of then."))
    duration_seconds = models.FloatField(default=0.0)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, help_text=_("SHA-256 of the archive file."))
    content_sha256 = models.CharField(max_length=64, blank=True, help_text=_("SHA-256 of the plaintext."))
    # The snapshot (pg_current_snapshot()) the archive was read in: it holds every event that snapshot
    # sees, and the next incremental takes the events this snapshot does not see.
    snapshot = models.TextField(blank=True)
    # The events held, in commit-safe order (transaction id, position), like the projection runner reads.
    first_transaction_id = models.BigIntegerField(null=True, blank=True)
    first_position = models.BigIntegerField(null=True, blank=True)
    last_transaction_id = models.BigIntegerField(default=0)
    last_position = models.BigIntegerField(default=0)
    event_count = models.BigIntegerField(default=0)
    newest_event_at = models.DateTimeField(null=True, blank=True)
    table_counts = models.JSONField(default=dict)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text=_("Removed by retention."))

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="backuprecord_latest_idx")]
        verbose_name = _("backup record")
        verbose_name_plural = _("backup records")

    def __str__(self) -> str:
        return f"{self.kind} backup {self.created_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def last_cursor(self) -> tuple[int, int]:
        return (self.last_transaction_id, self.last_position)


class DataKey(models.Model):
    """A key for one customer's personal data in events, wrapped by the master key.

    A customer normally has one; two writers making a customer's first key at the same moment may make
    two, which is harmless (each ciphertext names its key) and keeps writers from ever waiting on each
    other. Erasing the customer deletes the key material of all of them and keeps the rows as
    tombstones: the personal data then reads as erased, and no new key is ever made for that customer.
    """

    id = models.BigAutoField(primary_key=True)
    customer_id = models.BigIntegerField(db_index=True)
    wrapped_key = models.BinaryField(null=True, blank=True)
    master_key_id = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["customer_id", "id"]
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")

    def __str__(self) -> str:
        return f"data key {self.pk} of customer {self.customer_id}{' (erased)' if self.erased_at else ''}"
