"""The seed-table load's users: many customers and some staff, each with an API token of their own.

Created in bulk (a user, a token and a role each): one by one, 15,000 users take minutes. No password
(the load authenticates with tokens, as an app does after logging in once).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.roles import Role
from bench.phases import Params


def run(params: Params) -> dict[str, Any]:
    users, staff_every = int(params.get("users", 15_000)), int(params.get("staff_every", 20))
    model = get_user_model()
    unusable = make_password(None)
    with transaction.atomic():
        made = model.objects.bulk_create(
            [
                model(
                    username=f"crowd-{i}",
                    email=f"crowd-{i}@example.com",
                    first_name="Crowd",
                    last_name=str(i),
                    is_staff=i % staff_every == 0,
                    password=unusable,
                )
                for i in range(users)
            ],
            batch_size=2000,
        )
        tokens = Token.objects.bulk_create(
            [Token(key=Token.generate_key(), user=user) for user in made], batch_size=2000
        )
        groups = {
            role: Group.objects.get_or_create(name=role.value)[0] for role in (Role.CUSTOMER, Role.MANAGER)
        }
        membership = model.groups.through
        membership.objects.bulk_create(
            [
                membership(
                    user_id=user.pk, group_id=groups[Role.MANAGER if user.is_staff else Role.CUSTOMER].pk
                )
                for user in made
            ],
            batch_size=5000,
        )
    return {
        "customer_tokens": [t.key for t, u in zip(tokens, made, strict=True) if not u.is_staff],
        "staff_tokens": [t.key for t, u in zip(tokens, made, strict=True) if u.is_staff],
    }
