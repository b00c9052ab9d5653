"""The five roles of the platform (Django groups) and the system actor used by scheduled tasks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"
    FULFILLMENT = "fulfillment"
    FINANCE = "finance"
    MANAGER = "manager"


STAFF_ROLES = frozenset({Role.SUPPORT, Role.FULFILLMENT, Role.FINANCE, Role.MANAGER})


@dataclass(frozen=True)
class SystemActor:
    """The platform itself, e.g. the beat task that expires unpaid orders. Not a user."""

    pk: None = None
    username: str = "system"
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False

    @property
    def actor_id(self) -> str:
        return "system"


SYSTEM = SystemActor()


def roles_of(user: Any) -> frozenset[str]:
    """The user's role names, cached on the user object for the rest of the request."""
    if user is None or isinstance(user, SystemActor) or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached |= {Role.MANAGER.value}
        user._role_names = cached
    return cached


def actor_id(user: Any) -> str:
    """A stable, non-personal identifier of who acted, for event metadata and logs."""
    if isinstance(user, SystemActor):
        return user.actor_id
    return f"user:{user.pk}"
