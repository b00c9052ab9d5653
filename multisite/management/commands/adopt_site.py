import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from multisite.adoption import AdoptionRefused, adopt, release


class Command(BaseCommand):
    help = (
        "Multi-site, at the surviving site, after the lost one was FENCED: make this site the home of "
        "SITE's streams. --release hands them back once SITE has re-joined and replicates again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("site", help="the lost site (one of SITES)")
        parser.add_argument("--release", action="store_true", help="hand SITE's streams back to it")
        parser.add_argument(
            "--force", action="store_true", help="adopt although SITE still streams from us (split brain!)"
        )

    def handle(self, *args: object, **options: Any) -> None:
        if not settings.SITES:
            raise CommandError("SITES and SITE_NAME are not set: this is a single-site installation")
        try:
            if options["release"]:
                self.stdout.write(json.dumps({"released": release(options["site"])}))
            else:
                self.stdout.write(json.dumps(adopt(options["site"], force=bool(options["force"])).as_dict()))
        except AdoptionRefused as exc:
            raise CommandError(str(exc)) from exc
