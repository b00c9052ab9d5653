"""Creating users with a role."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from accounts.roles import STAFF_ROLES, Role


def create_user(
    *, username: str, role: Role, password: str, email: str = "", first_name: str = "", last_name: str = ""
) -> object:
    """Create an active user with exactly one role; staff roles may use the admin.

    Raises django.core.exceptions.ValidationError for a weak password or a taken username.
    """
    User = get_user_model()
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=role in STAFF_ROLES,
    )
    validate_password(password, user=user)
    user.set_password(password)
    user.full_clean()
    with transaction.atomic():
        user.save()
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user
