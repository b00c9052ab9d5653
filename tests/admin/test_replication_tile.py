"""The admin index shows multi-site replication to managers: lag, and what is wrong (here: no
subscription to the other site yet, on the test database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client, override_settings

from multisite.dashboard import replication_figure
from projections import dashboard
from tests.admin.test_dashboard import tile

pytestmark = pytest.mark.django_db


def test_managers_see_replication_and_its_problems(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "REPLICATION_FIGURE", [replication_figure])
    with override_settings(SITES=["a", "b"], SITE_NAME="a", SITE_ID=1):
        html = client_as(users["manager"]).get("/admin/").content.decode()
    shown = tile(html, "replication")
    assert "Replication with site b" in shown
    assert "no subscription to site b" in shown
    assert "site b is not receiving our changes" in shown


def test_single_site_shows_no_replication_tile(
    users: dict[str, Any], client_as: Callable[[Any], Client]
) -> None:
    assert dashboard.REPLICATION_FIGURE == []  # the multisite app is not installed
    assert 'id="dashboard-replication"' not in client_as(users["manager"]).get("/admin/").content.decode()
