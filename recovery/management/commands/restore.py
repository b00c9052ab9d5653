import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projections.status import InvalidToken, parse_token
from recovery.restore import RestoreError, restore


class Command(BaseCommand):
    help = (
        "Restore a full backup (and its incrementals, in order, with --chain) into an EMPTY database, "
        "then rebuild every projection. Migrates an unmigrated database first. Refuses a database that "
        "holds events, users or products; a wrong key or a damaged archive restores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the full backup")
        parser.add_argument(
            "--chain", type=Path, nargs="+", default=[], help="incrementals after it, in order"
        )
        parser.add_argument(
            "--until",
            metavar="XID.POSITION",
            help="stop the event log after the transaction of this (transaction id, position), e.g. a "
            "consistency token; that transaction is restored whole",
        )
        parser.add_argument(
            "--without-erasure-ledger",
            action="store_true",
            help="restore although BACKUP_DIR holds no erasure ledger (or one lacking erasures the archives "
            "recorded): customers erased after the archive was taken get their personal data back",
        )
        parser.add_argument("--no-rebuild", action="store_true", help="leave the read tables empty")
        parser.add_argument("--json", action="store_true", help="end with a JSON summary on stdout")

    def handle(self, *args: object, **options: Any) -> None:
        until = None
        if options["until"]:
            try:
                until = parse_token(str(options["until"]))
            except InvalidToken as exc:
                raise CommandError(f"--until: {exc}") from exc
        paths = [options["path"], *options["chain"]]
        try:
            report = restore(
                paths,
                until=until,
                rebuild_projections=not options["no_rebuild"],
                without_erasure_ledger=bool(options["without_erasure_ledger"]),
                progress=lambda line: self.stderr.write(line),
            )
        except (RestoreError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.phases.items())
        self.stdout.write(
            f"restored {len(paths)} archive(s): {report.events:,} events, "
            f"{sum(report.tables.values()):,} reference rows, "
            f"{report.erasures_reapplied} erasure(s) re-applied\n"
            f"  {phases}\n  total {report.seconds:.2f}s"
        )
