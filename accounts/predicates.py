"""Role predicates for django-rules (SPEC §5): who holds which role. Every app's permissions are built
from these."""

from __future__ import annotations

from typing import Any

import rules

from accounts.roles import STAFF_ROLES, Role, SystemActor, roles_of


def _has_role(*names: str) -> rules.Predicate:
    wanted = frozenset(names)

    @rules.predicate(name=f"has_role({', '.join(sorted(wanted))})")
    def has_role(user: Any) -> bool:
        return bool(roles_of(user) & wanted)

    return has_role


is_customer = _has_role(Role.CUSTOMER)
is_support = _has_role(Role.SUPPORT)
is_fulfillment = _has_role(Role.FULFILLMENT)
is_finance = _has_role(Role.FINANCE)
is_manager = _has_role(Role.MANAGER)
is_staff_member = _has_role(*STAFF_ROLES)


@rules.predicate
def is_system(user: Any) -> bool:
    return isinstance(user, SystemActor)
