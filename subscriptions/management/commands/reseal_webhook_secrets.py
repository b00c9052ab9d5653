from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from subscriptions.services import reseal_secrets


class Command(BaseCommand):
    help = (
        "Seal every webhook signing secret again under the current FIELD_ENCRYPTION_KEY. After a master-key "
        "rotation (FIELD_ENCRYPTION_KEY the new key, FIELD_ENCRYPTION_OLD_KEYS the old one), run it beside "
        "rotate_master_key, before the old key is removed. Safe to run again."
    )

    def handle(self, *args: object, **options: Any) -> None:
        try:
            count = reseal_secrets()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"sealed the secrets of {count} endpoint(s) under the current key")
