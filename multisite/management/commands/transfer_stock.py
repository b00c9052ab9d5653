import json
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from config.errors import InsufficientStock
from orders import store


class Command(BaseCommand):
    help = (
        "Multi-site: move UNITS of SKU from this site's stock allocation to another site's. Taken here "
        "at once; added there when the transfer replicates (in the same transaction as it arrives)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sku")
        parser.add_argument("units", type=int)
        parser.add_argument("--to", required=True, dest="to_site", help="the receiving site (one of SITES)")

    def handle(self, *args: object, **options: Any) -> None:
        to_site, units = options["to_site"], options["units"]
        if not settings.SITES:
            raise CommandError("SITES and SITE_NAME are not set: this is a single-site installation")
        if to_site not in settings.SITES or to_site == settings.SITE_NAME:
            raise CommandError(f"--to must name another site of SITES, not {to_site!r}")
        if units <= 0:
            raise CommandError("UNITS must be positive")
        transfer_id = uuid.uuid4()
        try:
            with transaction.atomic():
                store.transfer_stock(
                    transfer_id, options["sku"], units, from_site=settings.SITE_NAME, to_site=to_site
                )
        except InsufficientStock as exc:
            raise CommandError(f"{options['sku']}: this site's allocation has fewer than {units}") from exc
        self.stdout.write(json.dumps({"transfer": str(transfer_id), "sku": options["sku"], "units": units}))
