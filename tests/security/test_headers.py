"""Security headers on API and admin responses; a CSP that the admin and the API docs can live with.

The policy allows scripts from this origin only, so a page works under it exactly when every script it
has is a same-origin file: no inline ``<script>``, no ``on*=`` handler, no ``javascript:`` URL. The pages
are checked for that (the real browser check: docs/deployment.md, "Content-Security-Policy").
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import Role

pytestmark = pytest.mark.django_db

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


# A <script type="application/json"> is data, not code: the policy does not block it.
EXECUTABLE_SCRIPT_TYPES = ("text/javascript", "module", "application/javascript")


class ScriptAudit(HTMLParser):
    """Collects what a ``script-src 'self'`` policy would block, and the scripts' sources."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.blocked: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.blocked.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.blocked.append(f"<{tag} {name}=javascript:...>")
        if tag == "script":
            if values.get("src"):
                self.sources.append(values["src"] or "")
            elif (values.get("type") or "text/javascript") in EXECUTABLE_SCRIPT_TYPES:
                self._in_inline_script = True

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.blocked.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False


def audit(html: str) -> ScriptAudit:
    parser = ScriptAudit()
    parser.feed(html)
    return parser


def assert_common_headers(response: Any) -> None:
    for name, value in COMMON.items():
        assert response[name] == value, name


def assert_csp_allows_only_own_scripts(response: Any) -> None:
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    page = audit(response.content.decode())
    assert page.blocked == []
    assert all(src.startswith("/") and not src.startswith("//") for src in page.sources), page.sources


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root-audit", "root@example.com", "A-long-test-passphrase-42")


def test_api_responses_carry_the_security_headers(
    make_user: Callable[..., Any], make_product: Callable[..., Any]
) -> None:
    make_product()
    client = APIClient()
    client.force_authenticate(make_user(Role.CUSTOMER))

    missing_order = "/api/orders/00000000-0000-0000-0000-000000000000/"
    for response in (client.get("/api/products/"), client.get(missing_order)):
        assert_common_headers(response)
        assert "Content-Security-Policy" in response


def test_the_admin_login_page_carries_the_headers_and_works_under_the_csp() -> None:
    response = Client().get("/admin/login/")

    assert response.status_code == 200
    assert_common_headers(response)
    assert_csp_allows_only_own_scripts(response)


def test_every_admin_list_works_under_the_csp(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)
    pages = [reverse("admin:index")] + [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]

    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_common_headers(response)
        assert_csp_allows_only_own_scripts(response)


def test_the_api_docs_work_under_the_csp() -> None:
    client = Client()
    page = client.get("/api/docs/")

    assert page.status_code == 200
    assert_common_headers(page)
    assert_csp_allows_only_own_scripts(page)
    sources = audit(page.content.decode()).sources
    start_up = next(src for src in sources if src.startswith("/api/docs/"))
    script = client.get(start_up)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")  # nosniff would refuse anything else
    assert b"SwaggerUIBundle(" in script.content
    assets = [src.removeprefix("/static/") for src in sources if src.startswith("/static/")]
    assert len(assets) == 2 and all(finders.find(asset) for asset in assets)  # Swagger UI, from this server
