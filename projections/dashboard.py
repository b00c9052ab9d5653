"""The figures on the admin index: today's orders and revenue, projection lag, the backups' measured RPO.

The lag tile also names the transaction that holds committed events back, once it has done so for
``PROJECTION_HORIZON_HELD_THRESHOLD`` seconds, and why the projections refuse to run, if they do.

Each figure is shown to the roles that may see what it summarises (SPEC §5): revenue to those who see
sales reports, backups to managers; order counts and projection lag (which explains a list that is a
moment behind) to all staff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from accounts.roles import STAFF_ROLES, roles_of
from projections import guard
from projections.horizon import HorizonHolder, horizon_holder
from projections.status import ProjectionStatus, projection_status
from projections.work_queues import Queue, SalesComparison, sales_comparison, work_queues

logger = logging.getLogger(__name__)

# The backups' figure comes from recovery, above the read side: it hands its function in at start-up
# (RecoveryConfig.ready), so the read side never imports it.
BACKUP_FIGURE: list[Callable[[], BackupRecoveryPoint | None]] = []
# Multi-site replication's figure, handed in the same way by the multisite app (installed only then).
REPLICATION_FIGURE: list[Callable[[], ReplicationFigure | None]] = []
# The webhooks' figure likewise comes from subscriptions (SubscriptionsConfig.ready).
WEBHOOK_FIGURE: list[Callable[[], WebhookFigure]] = []


@dataclass(frozen=True)
class Dashboard:
    day: str
    orders_today: int | None = None
    revenue_today: str | None = None  # gross of the orders placed today, formatted
    projections: tuple[ProjectionStatus, ...] = ()
    worst_lag_seconds: float | None = None
    horizon_holder: HorizonHolder | None = None  # the transaction holding committed events back
    refusals: tuple[str, ...] = ()  # why the projections refuse to run (projections.guard)
    show_backups: bool = False
    backup: BackupRecoveryPoint | None = None  # None: no backup yet
    rpo_target: str | None = None
    queues: tuple[Queue, ...] = ()  # what staff act on next, each linking to its filtered list
    orders_yesterday: int | None = None
    orders_week: int | None = None
    sales: SalesComparison | None = None  # money: for those who see sales reports
    replication: ReplicationFigure | None = None  # multi-site only, for those who manage backups
    webhooks: WebhookFigure | None = None  # for those who manage webhook endpoints


@dataclass(frozen=True)
class ReplicationFigure:
    """Replication with the other site: lag each way we can measure, and what is wrong (a conflict
    names its table and keys)."""

    peer: str
    text: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebhookFigure:
    """Outbound webhooks at a glance: how far behind, how much waits, what is stuck or stopped."""

    endpoints: int
    stopped: int  # paused or disabled
    pending: int
    dead: int
    worst_lag_seconds: float

    @property
    def warn(self) -> bool:
        return bool(self.stopped or self.dead or self.worst_lag_seconds > 60)


@dataclass(frozen=True)
class BackupRecoveryPoint:
    """The measured RPO (age of the oldest committed event in no archive), not the last backup's age."""

    rpo_seconds: float | None  # None: not measurable, ``problem`` says why
    uncovered_events: int
    newest_age_seconds: float
    late: bool  # over the RPO target, or not measurable
    problem: str | None = None

    @property
    def text(self) -> str:
        if self.rpo_seconds is None:
            return gettext("unknown")
        if not self.uncovered_events:
            return gettext("0 s, every event backed up")
        return gettext("%(duration)s, %(count)s events in no backup") % {
            "duration": duration_text(self.rpo_seconds),
            "count": f"{self.uncovered_events:,}",
        }

    @property
    def newest_text(self) -> str:
        return gettext("%(duration)s ago") % {"duration": duration_text(self.newest_age_seconds)}


def dashboard_for(user: Any) -> Dashboard | None:
    if not roles_of(user) & STAFF_ROLES:
        return None
    today = timezone.localdate()
    sales = sales_comparison(today)
    statuses = tuple(projection_status())
    may_see_sales = user.has_perm("orders.view_sales_reports")
    show_backups = user.has_perm("orders.manage_backups")
    return Dashboard(
        day=today.isoformat(),
        orders_today=sales.today_orders,
        orders_yesterday=sales.yesterday_orders,
        orders_week=sales.week_orders,
        revenue_today=sales.today_gross if may_see_sales else None,
        sales=sales if may_see_sales else None,
        queues=work_queues(),
        projections=statuses,
        worst_lag_seconds=max((s.lag_seconds for s in statuses), default=0.0),
        horizon_holder=horizon_holder(min_seconds=settings.PROJECTION_HORIZON_HELD_THRESHOLD),
        refusals=tuple(refusal.message for refusal in guard.refusals()),
        show_backups=show_backups,
        backup=_backup_figure() if show_backups else None,
        rpo_target=duration_text(settings.BACKUP_RPO_TARGET) if show_backups else None,
        replication=REPLICATION_FIGURE[0]() if show_backups and REPLICATION_FIGURE else None,
        webhooks=WEBHOOK_FIGURE[0]()
        if WEBHOOK_FIGURE and user.has_perm("subscriptions.manage_endpoints")
        else None,
    )


def _backup_figure() -> BackupRecoveryPoint | None:
    return BACKUP_FIGURE[0]() if BACKUP_FIGURE else None


def duration_text(seconds: float) -> str:
    """``95`` -> ``"1 min 35 s"``, ``7300`` -> ``"2 h 1 min"``, ``1800`` -> ``"30 min"``."""
    whole = timedelta(seconds=int(seconds))
    days, hours = whole.days, whole.seconds // 3600
    minutes, secs = whole.seconds % 3600 // 60, whole.seconds % 60
    if days:
        big, small = f"{days} d", f"{hours} h" if hours else ""
    elif hours:
        big, small = f"{hours} h", f"{minutes} min" if minutes else ""
    elif minutes:
        big, small = f"{minutes} min", f"{secs} s" if secs else ""
    else:
        return f"{secs} s"
    return f"{big} {small}".strip()
