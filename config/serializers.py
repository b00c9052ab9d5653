"""Serializer conventions of every API of the project (SPEC §6): unknown fields are rejected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """A JSON object; fields not listed here are rejected, together with the listed ones' errors, so one
    answer names every bad field (an unknown one does not hide an invalid one)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": [gettext("expected a JSON object")]})
        errors: dict[str, Any] = {
            name: [gettext("unknown field")] for name in sorted(set(data) - set(self.fields))
        }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            errors.update(detail if isinstance(detail, Mapping) else {"non_field_errors": detail})
        if errors:
            raise serializers.ValidationError(errors)
        return value
