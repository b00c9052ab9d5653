import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from multisite.reconcile import unreplicated


class Command(BaseCommand):
    help = (
        "Multi-site re-join: list the events of a lost site's old database (started isolated) that this "
        "site never received, for reconciliation. Changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("old_dsn", help="conninfo of the lost site's old database")
        parser.add_argument("--after-position", type=int, default=0)

    def handle(self, *args: object, **options: Any) -> None:
        listed = unreplicated(options["old_dsn"], after_position=options["after_position"])
        self.stdout.write(json.dumps({"unreplicated_events": len(listed), "events": listed}))
