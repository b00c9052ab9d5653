from typing import Any

from django.core.management.base import BaseCommand, CommandError

from projections.rebase import RebaseRefused, needs_rebase, rebase
from projections.rebuild import RebuildFailed


class Command(BaseCommand):
    help = (
        "After the data moved to another PostgreSQL cluster (pg_dump/pg_restore, logical replication): "
        "advance this server's transaction ids past the event log's and rebuild every projection."
    )

    def handle(self, *args: object, **options: Any) -> None:
        reasons = needs_rebase()
        if not reasons:
            self.stdout.write("Nothing to re-base: every checkpoint and event is behind this server's ids.")
            return
        for reason in reasons:
            self.stdout.write(f"Found: {reason.message}")
        try:
            report = rebase(progress=lambda message: self.stdout.write(message))
        except (RebaseRefused, RebuildFailed) as exc:
            raise CommandError(str(exc)) from exc
        for name, events in report.rebuilt.items():
            self.stdout.write(f"{name}: rebuilt from {events} events")
        self.stdout.write(
            self.style.SUCCESS("Re-based: projections run again.")
            + " Now take a full backup (manage.py backup): incremental backups refuse to continue a chain"
            " whose cursor holds the old server's ids, and a full backup starts a new chain."
        )
