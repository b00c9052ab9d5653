"""What a user may see of the read model (rules checks objects; lists are filtered here)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.roles import STAFF_ROLES, Role, roles_of
from projections.models import OrderSummary


def visible_orders(user: Any) -> QuerySet[OrderSummary]:
    roles = roles_of(user)
    if roles & STAFF_ROLES:
        return OrderSummary.objects.all()
    if Role.CUSTOMER in roles:
        return OrderSummary.objects.filter(customer_id=user.pk)
    return OrderSummary.objects.none()
