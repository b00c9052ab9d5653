"""Token → (user, role names), remembered per process for at most ``TOKEN_CACHE_SECONDS`` (≤ 1 s).

Authenticating a token cost two queries per API request (the token with its user, then the user's groups
for the role checks). Here a miss costs one query (the token, its user and the user's role names
together) and a hit none. Revocation and role changes are never seen late in the process that makes
them (the signals below empty the cache at once); in every other process an entry lives at most
``TOKEN_CACHE_SECONDS`` after it was read, so a revoked token or a removed role stops working there
within that bound. A larger setting is clamped to one second: the bound is a promise (README).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authtoken.models import Token

from accounts.roles import Role

MAX_SECONDS = 1.0  # the bound the README promises
# key -> (read at, user, role names). Plain dict operations are atomic under the GIL: threads of one
# process share it without a lock; a race at worst reads the database twice.
_entries: dict[str, tuple[float, Any, frozenset[str]]] = {}
_MAX_ENTRIES = 50_000  # a flood of distinct tokens must not grow a worker without bound
clock = time.monotonic


def lifetime() -> float:
    return min(float(getattr(settings, "TOKEN_CACHE_SECONDS", MAX_SECONDS)), MAX_SECONDS)


def user_for(key: str) -> Any | None:
    """The token's user (its role names already on it), or None for an unknown token. Each call answers
    its own copy of the user: a request may set attributes on it without touching another's."""
    ttl = lifetime()
    now = clock()
    entry = _entries.get(key)
    if entry is None or now - entry[0] >= ttl:
        entry = _load(key, now)
        if entry is None:
            _entries.pop(key, None)
            return None
        if ttl > 0:
            if len(_entries) >= _MAX_ENTRIES:
                _entries.clear()
            _entries[key] = entry
    user = copy.copy(entry[1])
    user._role_names = entry[2]  # what accounts.roles.roles_of would load
    return user


def _load(key: str, now: float) -> tuple[float, Any, frozenset[str]] | None:
    token = (
        Token.objects.select_related("user")
        .annotate(role_names=ArrayAgg("user__groups__name", filter=Q(user__groups__isnull=False), default=[]))
        .filter(key=key)
        .first()
    )
    if token is None:
        return None
    user = token.user
    roles = frozenset(token.role_names)
    if user.is_superuser:
        roles |= {Role.MANAGER.value}
    return now, user, roles


def clear(**kwargs: Any) -> None:
    _entries.clear()


# Anything that can revoke a token or change what its user may do empties this process's cache at once.
post_delete.connect(clear, sender=Token, dispatch_uid="token_cache.token_deleted")
post_save.connect(clear, sender=Token, dispatch_uid="token_cache.token_saved")
post_save.connect(clear, sender=get_user_model(), dispatch_uid="token_cache.user_saved")
post_delete.connect(clear, sender=get_user_model(), dispatch_uid="token_cache.user_deleted")
post_save.connect(clear, sender=Group, dispatch_uid="token_cache.group_saved")  # a rename changes a role
post_delete.connect(clear, sender=Group, dispatch_uid="token_cache.group_deleted")
m2m_changed.connect(clear, sender=get_user_model().groups.through, dispatch_uid="token_cache.roles_changed")
