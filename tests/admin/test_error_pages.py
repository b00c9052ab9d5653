"""A 404 or 403 inside the admin is an admin page with a way back, never a bare error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_unknown_order_is_a_404_page_in_the_admins_frame(
    users: dict[str, Any], client_as: Callable[[Any], Client], settings: Any
) -> None:
    settings.DEBUG = False
    response = client_as(users["support"]).get(f"/admin/projections/ordersummary/{uuid4()}/change/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "Order platform" in html  # the admin's header
    assert 'href="/admin/">Back to the admin</a>' in html


def test_an_action_the_role_may_not_run_is_a_403_page_with_the_reason(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any], settings: Any
) -> None:
    settings.DEBUG = False
    order_id = make_order("paid")
    response = client_as(users["fulfillment"]).get(
        f"/admin/projections/ordersummary/{order_id}/actions/refund/"
    )

    html = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in html and "your role may not refund" in html
    assert 'href="/admin/">Back to the admin</a>' in html
