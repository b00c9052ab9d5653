import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from multisite import replication


class Command(BaseCommand):
    help = (
        "Multi-site: interleave this site's ids and publish its changes (run at both sites first); with "
        "--subscribe, also subscribe to the peer (MULTISITE_PEER_DSN) with origin = none. --copy-data on "
        "the site that starts empty (the second one, or one re-joining) only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subscribe", action="store_true", help="subscribe to the peer's publication")
        parser.add_argument("--copy-data", action="store_true", help="copy the peer's existing rows once")

    def handle(self, *args: object, **options: Any) -> None:
        if not settings.SITES:
            raise CommandError("SITES and SITE_NAME are not set: this is a single-site installation")
        report: dict[str, Any] = {
            "site": settings.SITE_NAME,
            "site_id": settings.SITE_ID,
            "sequences": replication.interleave_sequences(),
            "publication": replication.create_publication(),
        }
        replication.install_transfer_credit()
        if options["subscribe"]:
            if not settings.MULTISITE_PEER_DSN:
                raise CommandError("MULTISITE_PEER_DSN is not set")
            report["subscription"] = replication.create_subscription(
                settings.MULTISITE_PEER_DSN,
                copy_data=bool(options["copy_data"]),
            )
        self.stdout.write(json.dumps(report))
