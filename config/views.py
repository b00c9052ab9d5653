"""Error pages: JSON with the API's error body under /api/, Django's defaults elsewhere.

``handler404``/``handler500`` only serve with DEBUG off: with DEBUG on Django answers its technical pages
instead. So the API does not rely on them: an unmatched /api/ URL reaches ``api_not_found`` through the
last URL pattern, and an unhandled exception in an API view is answered by
``config.middleware.ApiErrorMiddleware``, whatever DEBUG says.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext
from django.views import defaults

from config.exception_handler import error_body

API_PREFIX = "/api/"


def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """The last URL pattern under /api/: no route matched (an unknown path, an id of the wrong shape)."""
    meant = _route_with_slash(request)
    message = (
        gettext("no such resource; did you mean %(route)s (with the trailing slash)?") % {"route": meant}
        if meant
        else gettext("no such resource")
    )
    return JsonResponse(error_body("not_found", message), status=404)


def _route_with_slash(request: HttpRequest) -> str | None:
    if request.path.endswith("/"):
        return None
    candidate = request.path + "/"
    try:
        match = resolve(candidate, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    return None if match.func is api_not_found else candidate


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("not_found", gettext("no such resource")), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return internal_error()
    return defaults.server_error(request)


def internal_error() -> JsonResponse:
    return JsonResponse(error_body("internal_error", gettext("something went wrong on our side")), status=500)
