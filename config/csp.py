"""A ``Content-Security-Policy`` header on every response, built from the ``SECURE_CSP`` setting.

Django 5.2 has no CSP of its own. The setting has the shape of Django 6.0's ``SECURE_CSP`` (a dict of
directive -> list of sources), so on an upgrade this middleware gives way to
``django.middleware.csp.ContentSecurityPolicyMiddleware`` with the same setting. Nonces are not needed:
the admin (5.2) has no inline script, and the API docs use drf-spectacular's split Swagger view, whose
start-up script is a separate same-origin file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def build_policy(directives: Mapping[str, Sequence[str] | bool]) -> str:
    """``{"default-src": ["'self'"], "upgrade-insecure-requests": True}`` -> the header's value."""
    parts = []
    for name, sources in directives.items():
        if sources is True:
            parts.append(name)  # a directive without sources
        elif sources:
            parts.append(" ".join([name, *sources]))
    return "; ".join(parts)


class ContentSecurityPolicyMiddleware:
    """Sets the policy unless the view already set its own (a view may need a different one)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = build_policy(getattr(settings, "SECURE_CSP", {}))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and HEADER not in response:
            response[HEADER] = self.policy
        return response
