"""Products and stock in the admin.

Who may do what (``orders.rules``): every staff role sees products; managers add them and change
their name, price and whether they are for sale; fulfillment and managers adjust stock. Products are
never deleted (orders' events name them): a product is taken off sale by unticking "active".

Stock is changed by a delta applied in one conditional UPDATE, never by writing back the number the
form showed: placements reserve stock concurrently, and writing an absolute number would silently undo
the reservations made while the form was open.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import F
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_base import RoleAwareAdmin
from orders.admin.display import money
from orders.api.fields import format_money
from orders.models import Product

DETAIL_FIELDS = ("name", "unit_price", "active")


class ProductForm(forms.ModelForm):
    price = forms.DecimalField(
        label=_("Unit price"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        help_text=_("e.g. 19.99"),
    )
    stock_change = forms.IntegerField(
        label=_("Adjust stock by"),
        required=False,
        help_text=_("Units to add (or, negative, to remove), e.g. 25 after a delivery; applied atomically."),
    )

    class Meta:
        model = Product
        fields = ("sku", "name", "active", "stock_on_hand")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "price" in self.fields:
            self.fields["price"].help_text = gettext("In %(currency)s, e.g. 19.99.") % {
                "currency": settings.SHOP_CURRENCY
            }
            if self.instance.unit_price is not None:
                self.initial.setdefault("price", format_money(self.instance.unit_price))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        price = cleaned.get("price")
        if price is not None:
            self.instance.unit_price = int(price * 100)
        change = cleaned.get("stock_change")
        if change and self.instance.pk is not None and self.instance.stock_on_hand + change < 0:
            self.add_error(
                "stock_change", gettext("only %(count)s in stock") % {"count": self.instance.stock_on_hand}
            )
        return cleaned


@admin.register(Product)
class ProductAdmin(RoleAwareAdmin):
    form = ProductForm
    list_display = ("sku", "name", "price_display", "active", "stock_on_hand")
    list_filter = ("active",)
    search_fields = ("sku", "name")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def may_change_details(self, request: HttpRequest, obj: Product | None) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return request.user.has_perm("orders.change_product_details", obj)

    def get_fields(self, request: HttpRequest, obj: Product | None = None) -> tuple[str, ...]:
        details = self.may_change_details(request, obj)
        fields = ["sku", "name", "price" if details else "price_display", "active", "stock_on_hand"]
        if obj is not None and self.has_change_permission(request, obj):
            fields.append("stock_change")
        return tuple(fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> list[str]:
        # A form field listed here is dropped from the form (Django removes read-only declared fields),
        # so "price" and "stock_change" are only ever submitted by those shown them.
        if obj is None:
            return ["stock_change"]
        readonly = ["sku", "stock_on_hand"]
        if not self.may_change_details(request, obj):
            readonly += ["name", "price", "price_display", "active"]
        return readonly

    def save_model(self, request: HttpRequest, obj: Product, form: ProductForm, change: bool) -> None:
        if not change:
            obj.save()
            return
        if self.may_change_details(request, obj):
            # Only the detail fields: saving the whole row would write back a stale stock figure.
            obj.save(update_fields=DETAIL_FIELDS)
        change_by = form.cleaned_data.get("stock_change")
        if change_by:
            adjusted = Product.objects.filter(pk=obj.pk, stock_on_hand__gte=-change_by).update(
                stock_on_hand=F("stock_on_hand") + change_by
            )
            if not adjusted:
                messages.error(request, gettext("Stock was not changed: it would fall below zero."))
            obj.refresh_from_db(fields=["stock_on_hand"])

    @admin.display(description=_("unit price"), ordering="unit_price")
    def price_display(self, product: Product) -> str:
        return money(product.unit_price)
