"""A token's user and roles are kept per process (accounts/token_cache.py): a revoked token or a removed
role stops working at once in the process that changes it, and within TOKEN_CACHE_SECONDS (at most 1 s)
in any other (here: another thread on its own connection, writing as another process would, so no
signal of this process fires)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import token_cache
from accounts.roles import Role

BOUND = token_cache.MAX_SECONDS
MANAGERS_ONLY = "/api/projections/"  # orders.manage_projections: managers only


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    token_cache.clear()


def elsewhere(statement: str, params: list[Any]) -> None:
    """Run one statement and commit it on a connection of its own, in another thread: what another web
    process (or an operator's psql) does, unseen by this process's signals."""

    def run() -> None:
        dsn = connection.get_connection_params()
        dsn.pop("cursor_factory", None)
        dsn.pop("context", None)
        with psycopg.connect(**dsn, autocommit=True) as other:
            other.execute(statement, params)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)


def seconds_until(client: APIClient, path: str, status: int, *, limit: float = 5.0) -> float:
    started = time.monotonic()
    while client.get(path).status_code != status:
        assert time.monotonic() - started < limit, f"still not {status} after {limit} s"
        time.sleep(0.02)
    return time.monotonic() - started


def client_with_token(user: Any) -> tuple[APIClient, Token]:
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_elsewhere_stops_working_within_the_bound(
    make_user: Callable[..., Any], settings: Any
) -> None:
    settings.TOKEN_CACHE_SECONDS = 60  # more than the bound: the bound still holds
    client, token = client_with_token(make_user(Role.MANAGER))
    assert client.get(MANAGERS_ONLY).status_code == 200  # now cached

    elsewhere("DELETE FROM authtoken_token WHERE key = %s", [token.key])

    assert seconds_until(client, MANAGERS_ONLY, 401) <= BOUND + 0.25


@pytest.mark.django_db(transaction=True)
def test_a_role_removed_elsewhere_stops_working_within_the_bound(
    make_user: Callable[..., Any], settings: Any
) -> None:
    settings.TOKEN_CACHE_SECONDS = 60
    manager = make_user(Role.MANAGER)
    client, _ = client_with_token(manager)
    assert client.get(MANAGERS_ONLY).status_code == 200

    elsewhere("DELETE FROM accounts_user_groups WHERE user_id = %s", [manager.pk])

    assert seconds_until(client, MANAGERS_ONLY, 403) <= BOUND + 0.25


@pytest.mark.django_db(transaction=True)
def test_a_user_deactivated_elsewhere_stops_working_within_the_bound(make_user: Callable[..., Any]) -> None:
    manager = make_user(Role.MANAGER)
    client, _ = client_with_token(manager)
    assert client.get(MANAGERS_ONLY).status_code == 200

    elsewhere("UPDATE accounts_user SET is_active = false WHERE id = %s", [manager.pk])

    assert seconds_until(client, MANAGERS_ONLY, 401) <= BOUND + 0.25


@pytest.mark.django_db(transaction=True)
def test_revocation_and_role_changes_in_this_process_apply_at_once(make_user: Callable[..., Any]) -> None:
    manager = make_user(Role.MANAGER)
    client, token = client_with_token(manager)
    assert client.get(MANAGERS_ONLY).status_code == 200

    manager.groups.clear()  # as the admin does
    assert client.get(MANAGERS_ONLY).status_code == 403

    token.delete()
    assert client.get(MANAGERS_ONLY).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_cached_token_is_served_from_the_cache_and_each_request_gets_its_own_user(
    make_user: Callable[..., Any], django_assert_num_queries: Any
) -> None:
    manager = make_user(Role.MANAGER)
    _, token = client_with_token(manager)
    with django_assert_num_queries(1):  # token, user and roles in one query
        first = token_cache.user_for(token.key)
    with django_assert_num_queries(0):
        second = token_cache.user_for(token.key)
    assert first is not second and first.pk == second.pk == manager.pk
    assert first._role_names == frozenset({Role.MANAGER.value})
    assert token_cache.user_for("no-such-token") is None


@pytest.mark.django_db(transaction=True)
def test_threads_sharing_the_cache_each_authenticate_their_own_token(make_user: Callable[..., Any]) -> None:
    users = [make_user(Role.CUSTOMER) for _ in range(8)]
    keys = [Token.objects.create(user=user).key for user in users]
    barrier = threading.Barrier(8)
    seen: list[Any] = [None] * 8

    def work(i: int) -> None:
        barrier.wait()
        try:
            seen[i] = [token_cache.user_for(keys[i]).pk for _ in range(50)]
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen == [[user.pk] * 50 for user in users]


@pytest.mark.django_db(transaction=True)
def test_renaming_a_role_group_in_this_process_applies_at_once(make_user: Callable[..., Any]) -> None:
    manager = make_user(Role.MANAGER)
    client, _ = client_with_token(manager)
    assert client.get(MANAGERS_ONLY).status_code == 200

    group = Group.objects.get(name=Role.MANAGER.value)
    group.name = "former-managers"  # as the admin does: its members are managers no more
    group.save()

    assert client.get(MANAGERS_ONLY).status_code == 403
