"""Signing secrets at rest: the column holds a sealed value, never the secret; signatures still verify
with an independent library; a master-key rotation still opens them; the sealing migration is
idempotent, also when two runs overlap."""

from __future__ import annotations

import base64
import importlib
import io
import secrets
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from django.db import connection, connections, transaction

from accounts.roles import Role
from subscriptions import sealing, services
from subscriptions.models import Endpoint
from tests.subscriptions.conftest import append_payments
from tests.subscriptions.receiver import Receiver
from tests.subscriptions.test_sender import deliver

pytestmark = pytest.mark.django_db(transaction=True)
migration = importlib.import_module("subscriptions.migrations.0003_sealed_secrets")


def stored(endpoint: Endpoint) -> tuple[str, str]:
    """The columns as the database holds them, read past the model."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret, previous_secret FROM subscriptions_endpoint WHERE id = %s", [endpoint.pk]
        )
        secret, previous = cursor.fetchone()
    return secret, previous


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_the_database_holds_no_plain_secret(make_user: Callable[..., Any]) -> None:
    endpoint = services.create_endpoint(owner=make_user(Role.MANAGER), url="https://hooks.example.com/in")
    first = endpoint.secret
    second = services.rotate_secret(endpoint)

    secret, previous = stored(endpoint)
    assert secret.startswith("enc:v1:") and previous.startswith("enc:v1:")
    for plain in (first, second, first.removeprefix("whsec_"), second.removeprefix("whsec_")):
        assert plain not in secret and plain not in previous
    reread = Endpoint.objects.get(pk=endpoint.pk)
    assert (reread.secret, reread.previous_secret) == (second, first)


def test_a_sealed_secret_still_signs_what_the_standard_library_verifies(
    receiver: Receiver, make_endpoint: Callable[..., Endpoint], secret: str
) -> None:
    endpoint = make_endpoint(receiver.url())
    assert stored(endpoint)[0] != secret  # sealed, and yet
    append_payments(2)

    assert deliver() == 2
    assert receiver.bad_signatures == 0 and len(receiver.inbox) == 2


def test_a_master_key_rotation_still_opens_the_secrets(
    make_endpoint: Callable[..., Endpoint], secret: str, settings: Any
) -> None:
    endpoint = make_endpoint()
    old = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY, settings.FIELD_ENCRYPTION_OLD_KEYS = new_key(), [new_key(), old]
    assert Endpoint.objects.get(pk=endpoint.pk).secret == secret  # the old key, tried in turn

    settings.FIELD_ENCRYPTION_OLD_KEYS = []
    with pytest.raises(sealing.UnreadableSecret):
        Endpoint.objects.get(pk=endpoint.pk)

    settings.FIELD_ENCRYPTION_OLD_KEYS = [old]
    out = io.StringIO()
    call_command("reseal_webhook_secrets", stdout=out)
    assert "1 endpoint" in out.getvalue()
    settings.FIELD_ENCRYPTION_OLD_KEYS = []  # the old key gone: the resealed secret opens with the new one
    assert Endpoint.objects.get(pk=endpoint.pk).secret == secret


def test_the_key_is_derived_not_the_master_key_itself(
    make_endpoint: Callable[..., Endpoint], settings: Any
) -> None:
    endpoint = make_endpoint()
    raw = base64.urlsafe_b64decode(stored(endpoint)[0].removeprefix("enc:v1:"))
    master = AESGCM(base64.b64decode(settings.FIELD_ENCRYPTION_KEY))
    with pytest.raises(InvalidTag):
        master.decrypt(raw[:12], raw[12:], sealing.ASSOCIATED)


def _write_plain(endpoint: Endpoint, secret: str, previous: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscriptions_endpoint SET secret = %s, previous_secret = %s WHERE id = %s",
            [secret, previous, endpoint.pk],
        )


def test_the_migration_seals_plain_secrets_once_and_reverses(make_endpoint: Callable[..., Endpoint]) -> None:
    plain, no_previous = make_endpoint(), make_endpoint()
    _write_plain(plain, "whsec_current", "whsec_previous")  # as stored before the migration
    _write_plain(no_previous, "whsec_alone", "")

    with connection.schema_editor() as editor:
        assert migration.seal_plain_secrets(None, editor) == 2
    sealed = stored(plain)
    assert (
        sealed[0].startswith("enc:v1:") and sealed[1].startswith("enc:v1:") and stored(no_previous)[1] == ""
    )
    with connection.schema_editor() as editor:
        assert migration.seal_plain_secrets(None, editor) == 0  # again: nothing to do, nothing changes
    assert stored(plain) == sealed
    reread = Endpoint.objects.get(pk=plain.pk)
    assert (reread.secret, reread.previous_secret) == ("whsec_current", "whsec_previous")

    with connection.schema_editor() as editor:
        migration.unseal_secrets(None, editor)
    assert stored(plain) == ("whsec_current", "whsec_previous")


def test_two_migration_runs_at_once_seal_each_secret_once(make_endpoint: Callable[..., Endpoint]) -> None:
    endpoint = make_endpoint()
    _write_plain(endpoint, "whsec_current", "")
    first_holds_the_rows, release = threading.Event(), threading.Event()
    changed: dict[str, int] = {}

    def run(name: str, *, hold: bool) -> None:
        try:
            if not hold:
                first_holds_the_rows.wait(10)
            with transaction.atomic():
                with connection.schema_editor(atomic=False) as editor:
                    changed[name] = migration.seal_plain_secrets(None, editor)
                if hold:
                    first_holds_the_rows.set()
                    release.wait(10)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=("first",), kwargs={"hold": True}),
        threading.Thread(target=run, args=("second",), kwargs={"hold": False}),
    ]
    for thread in threads:
        thread.start()
    first_holds_the_rows.wait(10)
    threads[1].join(1.0)
    assert threads[1].is_alive()  # waiting for the first run's row locks
    release.set()
    for thread in threads:
        thread.join(20)
    assert changed == {"first": 1, "second": 0}
    assert Endpoint.objects.get(pk=endpoint.pk).secret == "whsec_current"
