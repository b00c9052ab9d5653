from django.urls import path

from orders.api import commands, reads

urlpatterns = [
    path("products/", reads.ProductListView.as_view(), name="product-list"),
    path("orders/<uuid:order_id>/events/", reads.OrderEventsView.as_view(), name="order-events"),
    path("orders/<uuid:order_id>/lines/", commands.AddLineView.as_view(), name="order-lines"),
    path("orders/<uuid:order_id>/lines/<str:sku>/", commands.LineView.as_view(), name="order-line"),
    path(
        "orders/<uuid:order_id>/shipping-address/",
        commands.ShippingAddressView.as_view(),
        name="order-shipping-address",
    ),
    path("orders/<uuid:order_id>/place/", commands.PlaceOrderView.as_view(), name="order-place"),
    path("orders/<uuid:order_id>/cancel/", commands.CancelOrderView.as_view(), name="order-cancel"),
    path("orders/<uuid:order_id>/payments/", commands.RecordPaymentView.as_view(), name="order-payments"),
    path("orders/<uuid:order_id>/shipments/", commands.ShipItemsView.as_view(), name="order-shipments"),
    path(
        "orders/<uuid:order_id>/shipments/<int:shipment_id>/deliver/",
        commands.MarkDeliveredView.as_view(),
        name="order-deliver",
    ),
    path("orders/<uuid:order_id>/refunds/", commands.IssueRefundView.as_view(), name="order-refunds"),
    path("orders/<uuid:order_id>/notes/", commands.AddNoteView.as_view(), name="order-notes"),
]
