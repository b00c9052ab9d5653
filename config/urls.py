from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import health, metrics_view
from config.api_root import ApiRootView
from config.views import api_not_found

urlpatterns = [
    path("admin", RedirectView.as_view(url="/admin/")),
    path("admin/", admin.site.urls),
    path("api/", ApiRootView.as_view(), name="api-root"),
    path("api/auth/", include("accounts.api.urls")),
    path("api/", include("projections.api.urls")),
    path("api/", include("orders.api.urls")),
    path("api/", include("recovery.api.urls")),  # customer data erasure (recovery/)
    path("api/", include("subscriptions.api.urls")),  # webhook endpoints and the event feed
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so the CSP needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    # Operations: probes and Prometheus, outside /api/ (no DRF auth or throttling).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    # Last: any other URL under /api/ is the API's 404 body, also with DEBUG on (which would otherwise
    # answer Django's technical page listing every pattern).
    re_path(r"^api(?:/.*)?$", api_not_found),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
