from django.urls import path

from projections.api import orders, views

urlpatterns = [
    path("orders/", orders.OrderCollectionView.as_view(), name="order-list"),
    path("orders/<uuid:order_id>/", orders.OrderDetailView.as_view(), name="order-detail"),
    path("reports/daily-sales/", views.DailySalesView.as_view(), name="daily-sales"),
    path("projections/", views.ProjectionListView.as_view(), name="projection-list"),
    path("projections/<str:name>/rebuild/", views.ProjectionRebuildView.as_view(), name="projection-rebuild"),
    path("projections/<str:name>/retry/", views.ProjectionRetryView.as_view(), name="projection-retry"),
]
