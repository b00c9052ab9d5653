from django.contrib import admin

from orders.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "unit_price", "active", "stock_on_hand")
    list_filter = ("active",)
    search_fields = ("sku", "name")
    list_editable = ("active", "stock_on_hand")
