"""Admin permissions on users and roles (SPEC §5: managers only)."""

from __future__ import annotations

from typing import Any

import rules

from accounts.predicates import is_manager


@rules.predicate
def may_edit_account(user: Any, account: Any) -> bool:
    """A manager does not edit a superuser's account (password, roles) unless a superuser themself."""
    return account is None or not account.is_superuser or user.is_superuser


rules.add_perm("accounts", is_manager)
rules.add_perm("accounts.view_user", is_manager)
rules.add_perm("accounts.add_user", is_manager)
rules.add_perm("accounts.change_user", is_manager & may_edit_account)
# Roles are the fixed groups of accounts.roles: listed in the admin, never edited there.
rules.add_perm("auth", is_manager)
rules.add_perm("auth.view_group", is_manager)
