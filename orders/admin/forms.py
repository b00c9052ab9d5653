"""The small forms behind the admin's order actions: each turns its input into one command.

Forms are built from the write-side ``Order`` (the event stream replayed), not from the read model,
so the defaults (what is left to pay, to ship, to refund) are current even while projections lag. The
forms check the shape of the input; the command bus decides whether the command is allowed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders import commands as c
from orders.aggregate import MAX_LINE_QUANTITY, MAX_NOTE_LENGTH, MAX_TEXT_LENGTH, Order
from orders.api.fields import format_money

SHORT_TEXT = 100  # references, carriers and tracking numbers (orders.aggregate)


class MoneyField(forms.DecimalField):
    """A positive amount with at most two decimals, cleaned to integer minor units."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text", gettext("In %(currency)s, e.g. 19.99.") % {"currency": settings.SHOP_CURRENCY}
        )
        super().__init__(min_value=Decimal("0.01"), max_digits=12, decimal_places=2, **kwargs)

    def clean(self, value: Any) -> int:
        return int(super().clean(value) * 100)


class CommandForm(forms.Form):
    """Carries the order version the user saw. The command bus applies the command to that version only
    (``dispatch(expected_version=...)``, checked inside the command's transaction), so a form submitted
    twice, or after someone else changed the order, is refused instead of acting on a state the user
    did not see."""

    seen_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        self.fields["seen_version"].initial = order.version

    @property
    def shown_version(self) -> int:
        return int(self.cleaned_data["seen_version"])

    def command(self) -> c.Command:
        raise NotImplementedError


class CancelForm(CommandForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=MAX_TEXT_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )

    def command(self) -> c.Command:
        return c.CancelOrder(order_id=self.order.id, reason=self.cleaned_data["reason"])


class RecordPaymentForm(CommandForm):
    amount = MoneyField(label=_("Amount"))
    reference = forms.CharField(
        label=_("Reference"), max_length=SHORT_TEXT, help_text=_("The payment provider's reference.")
    )

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, order=order, **kwargs)
        self.fields["amount"].initial = format_money(order.outstanding)

    def command(self) -> c.Command:
        data = self.cleaned_data
        return c.RecordPayment(order_id=self.order.id, amount=data["amount"], reference=data["reference"])


class ShipForm(CommandForm):
    """One quantity per line that is not fully shipped (default: all that is left), carrier, tracking."""

    carrier = forms.CharField(label=_("Carrier"), max_length=SHORT_TEXT)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=SHORT_TEXT)

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, order=order, **kwargs)
        for sku, line in order.lines.items():
            left = line.quantity - line.shipped_quantity
            if left > 0:
                self.fields[self.line_field(sku)] = forms.IntegerField(
                    label=f"{sku} · {line.name}",
                    min_value=0,
                    max_value=min(left, MAX_LINE_QUANTITY),
                    initial=left,
                    help_text=gettext("%(count)s left to ship") % {"count": left},
                )
        self.order_fields(["seen_version", *self.line_fields(), "carrier", "tracking_number"])

    @staticmethod
    def line_field(sku: str) -> str:
        return f"line__{sku}"

    def line_fields(self) -> list[str]:
        return [name for name in self.fields if name.startswith("line__")]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not any(cleaned.get(name) for name in self.line_fields()):
            raise forms.ValidationError(gettext("Ship at least one item."))
        return cleaned

    def command(self) -> c.Command:
        data = self.cleaned_data
        lines = {name.removeprefix("line__"): data[name] for name in self.line_fields() if data.get(name)}
        return c.ShipItems(
            order_id=self.order.id,
            lines=lines,
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
        )


class DeliverForm(CommandForm):
    shipment = forms.TypedChoiceField(label=_("Shipment"), coerce=int)

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, order=order, **kwargs)
        field = cast(forms.TypedChoiceField, self.fields["shipment"])  # as declared above
        field.choices = [
            (s.id, f"#{s.id} · {s.carrier} {s.tracking_number}")
            for s in order.shipments.values()
            if s.delivered_at is None
        ]

    def command(self) -> c.Command:
        return c.MarkDelivered(order_id=self.order.id, shipment_id=self.cleaned_data["shipment"])


class RefundForm(CommandForm):
    amount = MoneyField(label=_("Amount"))
    reason = forms.CharField(
        label=_("Reason"), max_length=MAX_TEXT_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, order=order, **kwargs)
        self.fields["amount"].initial = format_money(order.amount_paid - order.amount_refunded)

    def command(self) -> c.Command:
        data = self.cleaned_data
        return c.IssueRefund(order_id=self.order.id, amount=data["amount"], reason=data["reason"])


class NoteForm(CommandForm):
    text = forms.CharField(
        label=_("Text"), max_length=MAX_NOTE_LENGTH, widget=forms.Textarea(attrs={"rows": 4})
    )

    def command(self) -> c.Command:
        return c.AddNote(order_id=self.order.id, text=self.cleaned_data["text"])
