import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from multisite.readiness import check_replication


class Command(BaseCommand):
    help = "Multi-site: replication state each way, errors, lag, and any conflicting row (JSON)."

    def handle(self, *args: object, **options: Any) -> None:
        if not settings.SITES:
            raise CommandError("SITES and SITE_NAME are not set: this is a single-site installation")
        self.stdout.write(json.dumps(check_replication(budget=5.0), default=str))
