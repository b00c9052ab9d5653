"""Input serializers of the commands, and the order representation shared by commands and reads."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.serializers import StrictSerializer
from orders.aggregate import ADDRESS_FIELDS, MAX_LINE_QUANTITY, MAX_NOTE_LENGTH, MAX_TEXT_LENGTH
from orders.api.fields import MoneyField, TimestampField, format_money
from orders.models import Product


class AddressSerializer(StrictSerializer):
    name = serializers.CharField(max_length=ADDRESS_FIELDS["name"][1])
    line1 = serializers.CharField(max_length=ADDRESS_FIELDS["line1"][1])
    line2 = serializers.CharField(max_length=ADDRESS_FIELDS["line2"][1], required=False, allow_blank=True)
    city = serializers.CharField(max_length=ADDRESS_FIELDS["city"][1])
    region = serializers.CharField(max_length=ADDRESS_FIELDS["region"][1], required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=ADDRESS_FIELDS["postal_code"][1])
    country = serializers.RegexField(r"^[A-Za-z]{2}$", help_text="ISO 3166-1 alpha-2 code")


class QuantityField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_LINE_QUANTITY, **kwargs)


class LineInputSerializer(StrictSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = QuantityField()


def lines_to_quantities(lines: list[dict[str, Any]]) -> dict[str, int]:
    """Lines as the commands take them; the same sku twice adds up."""
    quantities: dict[str, int] = {}
    for line in lines:
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["quantity"]
    return quantities


class CreateOrderSerializer(StrictSerializer):
    customer = serializers.IntegerField(
        min_value=1, required=False, help_text="Staff only: the customer's id."
    )
    lines = LineInputSerializer(many=True, required=False, max_length=100)  # type: ignore[call-arg]  # ListSerializer's; not in the stubs
    shipping_address = AddressSerializer(required=False)


class AddLineSerializer(LineInputSerializer):
    pass


class ChangeLineSerializer(StrictSerializer):
    quantity = QuantityField()


class EmptySerializer(StrictSerializer):
    """Commands without arguments take an empty object (or no body)."""


class CancelSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=MAX_TEXT_LENGTH)


class PaymentSerializer(StrictSerializer):
    amount = MoneyField()
    reference = serializers.CharField(max_length=100)


class ShipmentSerializer(StrictSerializer):
    lines = LineInputSerializer(many=True, min_length=1, max_length=100)  # type: ignore[call-arg]  # ListSerializer's; not in the stubs
    carrier = serializers.CharField(max_length=100)
    tracking_number = serializers.CharField(max_length=100)


class RefundSerializer(StrictSerializer):
    amount = MoneyField()
    reason = serializers.CharField(max_length=MAX_TEXT_LENGTH)


class NoteSerializer(StrictSerializer):
    text = serializers.CharField(max_length=MAX_NOTE_LENGTH)


# --- output ----------------------------------------------------------------------------------------


class LineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = MoneyField()
    line_total = MoneyField()
    shipped_quantity = serializers.IntegerField()


class ShipmentLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()


@extend_schema_field(ShipmentLineSerializer(many=True))
class ShipmentLinesField(serializers.Field):
    """A shipment's lines in the shape a shipment is sent in, ``[{"sku", "quantity"}]``; the aggregate and
    the read model keep them as ``{sku: quantity}``."""

    def to_representation(self, value: dict[str, int]) -> list[dict[str, Any]]:
        return [{"sku": sku, "quantity": quantity} for sku, quantity in value.items()]


class ShipmentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lines = ShipmentLinesField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    dispatched_at = TimestampField()
    delivered_at = TimestampField(allow_null=True)


class PaymentOutSerializer(serializers.Serializer):
    reference = serializers.CharField()
    amount = MoneyField()
    recorded_at = serializers.DateTimeField()


class RefundOutSerializer(serializers.Serializer):
    amount = MoneyField()
    reason = serializers.CharField()
    recorded_at = serializers.DateTimeField()


class MoneyMovementsField(serializers.Field):
    """Payments or refunds, oldest first, from the one list the order keeps of both
    (``{"kind", "amount", "reference" | "reason", "at"}``, as the read model's JSON column holds it)."""

    kind: str = ""
    detail: str = ""  # the key that says what the movement was
    _time = TimestampField()

    def to_representation(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                self.detail: entry[self.detail],
                "amount": format_money(entry["amount"]),
                "recorded_at": self._time.to_representation(entry["at"]),
            }
            for entry in value
            if entry["kind"] == self.kind
        ]


@extend_schema_field(PaymentOutSerializer(many=True))
class PaymentsField(MoneyMovementsField):
    kind, detail = "payment", "reference"


@extend_schema_field(RefundOutSerializer(many=True))
class RefundsField(MoneyMovementsField):
    kind, detail = "refund", "reason"


class OrderNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    author = serializers.CharField(allow_null=True)
    created_at = TimestampField()


class OrderSerializer(serializers.Serializer):
    """The order as commands answer it and reads show it. ``notes`` only for staff."""

    id = serializers.UUIDField()
    number = serializers.CharField()
    customer = serializers.IntegerField(source="customer_id")
    status = serializers.CharField()
    payment_status = serializers.CharField()
    fulfillment_status = serializers.CharField()
    currency = serializers.CharField()
    lines = LineSerializer(many=True)
    shipping_address = serializers.DictField(child=serializers.CharField(), allow_null=True)
    subtotal = MoneyField()
    total = MoneyField()
    amount_paid = MoneyField()
    amount_refunded = MoneyField()
    payments = PaymentsField()
    refunds = RefundsField(source="payments")
    shipments = ShipmentOutSerializer(many=True)
    notes = OrderNoteSerializer(many=True, required=False, help_text="Only for staff.")
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    placed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("include_notes", False):
            data.pop("notes", None)
        return data


class EventPayloadField(serializers.DictField):
    """The event's payload as the API shows it: money as two-decimal strings, like the rest of the API."""

    def to_representation(self, value: Any) -> dict[str, Any]:
        payload = value.to_payload()
        for name in value.money_fields & payload.keys():
            payload[name] = format_money(payload[name])
        return payload


class EventSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    version = serializers.IntegerField()
    type = serializers.CharField(source="event.type")
    schema_version = serializers.IntegerField(source="event.schema_version")
    payload = EventPayloadField(source="event", help_text="Money as strings with two decimals.")
    actor = serializers.CharField(source="metadata.actor", allow_null=True, default=None)
    correlation_id = serializers.CharField(source="metadata.correlation_id", allow_null=True, default=None)
    recorded_at = serializers.DateTimeField()


class ProductSerializer(serializers.ModelSerializer):
    unit_price = MoneyField()

    class Meta:
        model = Product
        fields = ("sku", "name", "unit_price", "stock_on_hand")
