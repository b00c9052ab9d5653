from django.urls import path

from projections.api import views

urlpatterns = [
    path("reports/daily-sales/", views.DailySalesView.as_view(), name="daily-sales"),
    path("projections/", views.ProjectionListView.as_view(), name="projection-list"),
    path("projections/<str:name>/rebuild/", views.ProjectionRebuildView.as_view(), name="projection-rebuild"),
    path("projections/<str:name>/retry/", views.ProjectionRetryView.as_view(), name="projection-retry"),
]
