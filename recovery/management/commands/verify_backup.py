from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recovery.archive import ArchiveError
from recovery.restore import read_manifest


class Command(BaseCommand):
    help = "Decrypt an archive and verify every chunk, checksum and row count, without restoring it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths", nargs="+", type=Path, metavar="PATH", help="archive(s) to decrypt and check"
        )

    def handle(self, *args: object, **options: Any) -> None:
        for path in options["paths"]:
            try:
                manifest = read_manifest(path)
            except (ArchiveError, ImproperlyConfigured) as exc:
                raise CommandError(f"{path}: REFUSED: {exc}") from exc
            except OSError as exc:
                raise CommandError(f"{path}: cannot read it: {exc.strerror}") from exc
            events = manifest["events"]
            tables = ", ".join(f"{name} {info['rows']:,}" for name, info in manifest["tables"].items())
            self.stdout.write(
                f"{path}: OK\n"
                f"  {manifest['kind']} backup {manifest['archive_id']} taken {manifest['created_at']} "
                f"(application {manifest['app_version']})\n"
                f"  snapshot {manifest.get('snapshot', 'not recorded')}\n"
                f"  events {events['count']:,}: first {events['first']}, last {events['last']}\n"
                f"  rows: {tables}\n"
                f"  content sha256 {manifest['sha256']}"
            )
