"""The admin index's dashboard: today's orders and revenue, projection lag, last backup age."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from projections import dashboard
from projections.dashboard import BackupRecoveryPoint, duration_text
from recovery.dashboard import backup_recovery_point
from tests.conftest import project_everything


def tile(html: str, name: str) -> str:
    return html.split(f'id="dashboard-{name}"', 1)[1].split("</div>", 1)[0]


@pytest.mark.django_db(transaction=True)
def test_the_figures_come_from_the_read_side(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    make_order("paid", project=False)
    make_order("placed", project=False, quantity=3)
    make_order("draft", project=False)  # not placed: not counted
    project_everything()

    finance = client_as(users["finance"]).get("/admin/").content.decode()
    support = client_as(users["support"]).get("/admin/").content.decode()

    assert '<span class="ops-value">2</span>' in tile(finance, "orders")
    assert "62.50 USD" in tile(finance, "revenue")  # 2 x 12.50 + 3 x 12.50
    assert "0.0 s" in tile(finance, "lag")
    assert "order_summary: 0 events" in tile(finance, "lag")
    assert '<span class="ops-value">2</span>' in tile(support, "orders")
    assert 'id="dashboard-revenue"' not in support  # sales reports: finance and managers
    assert 'id="dashboard-backup"' not in support and 'id="dashboard-backup"' not in finance


@pytest.mark.django_db
def test_lag_shows_events_not_yet_projected(
    users: dict[str, Any], client_as: Callable[[Any], Client], make_order: Callable[..., Any]
) -> None:
    make_order("placed", project=False)

    html = client_as(users["support"]).get("/admin/").content.decode()

    assert "order_summary: 4 events" in tile(html, "lag")


@pytest.mark.django_db
def test_managers_see_the_backups_measured_rpo(
    users: dict[str, Any], client_as: Callable[[Any], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_as(users["manager"])
    monkeypatch.setattr(dashboard, "BACKUP_FIGURE", [lambda: None])
    assert "no backups yet" in tile(client.get("/admin/").content.decode(), "backup")

    point = BackupRecoveryPoint(rpo_seconds=125, uncovered_events=7, newest_age_seconds=3600, late=False)
    monkeypatch.setattr(dashboard, "BACKUP_FIGURE", [lambda: point])
    html = client.get("/admin/").content.decode()
    assert "2 min 5 s, 7 events in no backup" in tile(html, "backup")
    assert "newest backup 1 h ago" in tile(html, "backup")
    assert "ops-warn" not in html.split('id="dashboard-backup"')[0].rsplit("<div", 1)[1]


@pytest.mark.django_db
def test_the_backups_recovery_point_without_a_backup_is_none() -> None:
    assert backup_recovery_point() is None  # no backup recorded yet


def test_recovery_hands_its_backup_figure_to_the_dashboard_at_start_up() -> None:
    assert [backup_recovery_point] == dashboard.BACKUP_FIGURE


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5 s"),
        (95, "1 min 35 s"),
        (1800, "30 min"),
        (7300, "2 h 1 min"),
        (90000, "1 d 1 h"),
        (86400, "1 d"),
    ],
)
def test_durations_read_like_a_person_says_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
