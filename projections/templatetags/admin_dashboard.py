"""``{% admin_dashboard %}``: the figures on the admin index, for the signed-in user's role.

A template tag rather than an ``AdminSite`` subclass, so the admin's site (and its login view) stay
Django's own.
"""

from __future__ import annotations

from typing import Any

from django import template

from projections.dashboard import dashboard_for

register = template.Library()


@register.inclusion_tag("admin/dashboard.html", takes_context=True)
def admin_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    return {"dashboard": dashboard_for(context["request"].user)}
