"""Signing secrets sealed at rest (subscriptions.sealing): the columns widen for the sealed form, and every
plain value is sealed. Idempotent: a sealed value (``enc:v1:``) is left as it is, so running it again, or
after a partial run, changes nothing; the rows are locked while they are read, so a second run at the
same time waits and then finds them sealed."""

from django.db import migrations

import subscriptions.fields
from subscriptions import sealing

_SELECT = "SELECT id, secret, previous_secret FROM subscriptions_endpoint ORDER BY id FOR UPDATE"
_UPDATE = "UPDATE subscriptions_endpoint SET secret = %s, previous_secret = %s WHERE id = %s"


def _rewrite(schema_editor, change) -> int:
    changed = 0
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_SELECT)
        for pk, secret, previous in cursor.fetchall():
            new = (change(secret), change(previous))
            if new != (secret, previous):
                cursor.execute(_UPDATE, [*new, pk])
                changed += 1
    return changed


def seal_plain_secrets(apps, schema_editor) -> int:
    return _rewrite(schema_editor, lambda v: v if not v or sealing.is_sealed(v) else sealing.seal(v))


def unseal_secrets(apps, schema_editor) -> int:
    return _rewrite(schema_editor, sealing.unseal)


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0002_translatable_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="endpoint",
            name="secret",
            field=subscriptions.fields.SealedSecretField(max_length=200),
        ),
        migrations.AlterField(
            model_name="endpoint",
            name="previous_secret",
            field=subscriptions.fields.SealedSecretField(blank=True, max_length=200),
        ),
        migrations.RunPython(seal_plain_secrets, unseal_secrets, elidable=False),
    ]
