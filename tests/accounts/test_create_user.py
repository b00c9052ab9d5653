"""manage.py create_user."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.roles import roles_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("role", "staff"), [("customer", False), ("support", True), ("manager", True)])
def test_create_user_gives_exactly_one_role(role: str, staff: bool) -> None:
    out = io.StringIO()
    call_command(
        "create_user",
        "alice",
        "--role",
        role,
        "--email",
        "alice@example.com",
        "--password",
        "correct horse battery staple",
        stdout=out,
    )
    user = get_user_model().objects.get(username="alice")
    assert roles_of(user) == {role}
    assert user.is_staff is staff
    assert user.email == "alice@example.com"
    assert user.check_password("correct horse battery staple")
    assert "alice" in out.getvalue()


def test_the_password_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_PASSWORD", "another long passphrase 7")
    call_command("create_user", "bob", "--role", "finance", stdout=io.StringIO())
    assert get_user_model().objects.get(username="bob").check_password("another long passphrase 7")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["carol", "--role", "customer"], "password"),
        (["carol", "--role", "customer", "--password", "123"], "too short"),
        (["carol", "--role", "wizard", "--password", "a good long passphrase"], "invalid choice"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    monkeypatch.delenv("USER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match=message):
        call_command("create_user", *arguments, stdout=io.StringIO(), stderr=io.StringIO())
    assert not get_user_model().objects.filter(username="carol").exists()


def test_a_taken_username_is_refused() -> None:
    call_command(
        "create_user",
        "dave",
        "--role",
        "support",
        "--password",
        "a good long passphrase",
        stdout=io.StringIO(),
    )
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_user",
            "dave",
            "--role",
            "manager",
            "--password",
            "a good long passphrase",
            stdout=io.StringIO(),
        )
    assert roles_of(get_user_model().objects.get(username="dave")) == {"support"}
