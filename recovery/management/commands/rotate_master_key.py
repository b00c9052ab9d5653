from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from recovery.personal_data import PersonalDataError
from recovery.rotation import rotate_master_key


class Command(BaseCommand):
    help = (
        "Re-wrap every customer data key with the current master key. Keys come from the environment only "
        "(never the command line, which other users can see): FIELD_ENCRYPTION_KEY is the NEW key, "
        "FIELD_ENCRYPTION_OLD_KEYS the old one(s), comma-separated. Run every process with both set, run "
        "this, then remove the old key (keep it as long as backups from before the rotation are kept)."
    )

    def handle(self, *args: object, **options: Any) -> None:
        try:
            result = rotate_master_key()
        except (PersonalDataError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"re-wrapped {result.rewrapped} data key(s) with master key {result.master_key_id}; "
            f"{result.already_current} were current already"
        )
