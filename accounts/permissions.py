"""DRF permission classes backed by the django-rules permissions of SPEC §5."""

from __future__ import annotations

from typing import Any

import rules
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class RulePermission(BasePermission):
    """Allows the request when the user has ``permission`` (a rules permission name)."""

    permission: str = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(
            request.user and request.user.is_authenticated and rules.has_perm(self.permission, request.user)
        )


def rule_permission(name: str) -> type[RulePermission]:
    return type(f"RulePermission[{name}]", (RulePermission,), {"permission": name})
