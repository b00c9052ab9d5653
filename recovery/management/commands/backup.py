import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.backup import BackupError, take_backup
from recovery.tasks import apply_retention


class Command(BaseCommand):
    help = (
        "Back up the event log and the reference data (users, roles, tokens, products, data keys) from one "
        "consistent snapshot into a zstd-compressed, AES-256-GCM-encrypted archive (BACKUP_ENCRYPTION_KEY)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="only the events the previous backup's snapshot did not see (a chain)",
        )
        parser.add_argument("--output", type=Path, help="file or directory (default: BACKUP_DIR)")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a running backup")
        parser.add_argument("--no-retention", action="store_true", help="do not remove old archives after it")
        parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    def handle(self, *args: object, **options: Any) -> None:
        try:
            result = take_backup(
                incremental=bool(options["incremental"]),
                output=options["output"],
                lock_wait=float(options["wait"]),
                progress=lambda line: self.stderr.write(line),
            )
        except (BackupError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        removed = 0 if options["no_retention"] else apply_retention()
        events = result.manifest["events"]
        if options["json"]:
            report = {
                "kind": result.manifest["kind"],
                "path": str(result.path),
                "snapshot": result.manifest["snapshot"],
                "events": events,
                "size_bytes": result.size_bytes,
                "sha256": result.sha256,
                "seconds": round(result.seconds, 3),
                "retention_removed": removed,
            }
            self.stdout.write(json.dumps(report, indent=2, default=str))
            return
        self.stdout.write(
            f"{result.manifest['kind']} backup {result.path}\n"
            f"  snapshot {result.manifest['snapshot']}\n"
            f"  events: {events['count']:,} (first {events['first']}, last {events['last']}, "
            f"newest {events['newest_recorded_at']})\n"
            f"  size: {result.size_bytes:,} bytes, sha256 {result.sha256}\n"
            f"  took {result.seconds:.2f}s"
            + (f"; retention removed {removed} old archive(s)" if removed else "")
        )
