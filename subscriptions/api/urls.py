from django.urls import path

from subscriptions.api import endpoints, feed

urlpatterns = [
    path("events/", feed.EventFeedView.as_view(), name="event-feed"),
    path("webhooks/endpoints/", endpoints.EndpointListView.as_view(), name="webhook-endpoint-list"),
    path(
        "webhooks/endpoints/<uuid:endpoint_id>/",
        endpoints.EndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhooks/endpoints/<uuid:endpoint_id>/rotate-secret/",
        endpoints.RotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhooks/endpoints/<uuid:endpoint_id>/deliveries/",
        endpoints.DeliveryListView.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhooks/endpoints/<uuid:endpoint_id>/deliveries/<int:delivery_id>/",
        endpoints.DeliveryDetailView.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        "webhooks/endpoints/<uuid:endpoint_id>/redeliver/",
        endpoints.RedeliverView.as_view(),
        name="webhook-endpoint-redeliver",
    ),
]
