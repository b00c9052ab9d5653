"""Serializer fields of the API: money as strings with two decimals, times kept as text."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

CENTS = Decimal("0.01")


def format_money(minor_units: int) -> str:
    """``1999`` -> ``"19.99"``: exact, from integer minor units."""
    return str((Decimal(minor_units) * CENTS).quantize(CENTS))


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.DecimalField):
    """Money in the API: ``"19.99"`` out; in, a positive amount with at most two decimals, as minor units."""

    default_error_messages = {"not_a_string": 'money is a string with two decimals, e.g. "19.99"'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", CENTS)
        super().__init__(max_digits=12, decimal_places=2, **kwargs)

    # DecimalField's Decimal becomes integer minor units here, the type the commands take.
    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]  # int, not Decimal
        # A JSON number is refused, not rounded: 19.99 as a binary float is not exactly 19.99, and a
        # client that sends numbers would sooner or later send one with a third decimal.
        if not isinstance(data, str):
            self.fail("not_a_string")
        return int(super().to_internal_value(data) * 100)

    def to_representation(self, value: int) -> str:  # type: ignore[override]  # int, not Decimal
        return format_money(value)


class TimestampField(serializers.DateTimeField):
    """A time stored as ISO 8601 text inside a read-model JSON column, shown like every other time."""

    def to_representation(self, value: Any) -> Any:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return super().to_representation(value)
