import json
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from config.progress import Progress, progress
from orders.models import StoredEvent
from projections.projectors import PROJECTORS
from projections.rebuild import RebuildFailed, rebuild


class Command(BaseCommand):
    help = "Rebuild read models from the first event, beside the live ones, then swap them in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(PROJECTORS)}")
        parser.add_argument("--all", action="store_true", help="rebuild every projection")
        parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="events read and applied per step (default: 5000)"
        )

    def handle(self, *args: object, **options: Any) -> None:
        names = list(PROJECTORS) if options["all"] else options["names"]
        if not names:
            raise CommandError("name a projection or give --all")
        unknown = set(names) - PROJECTORS.keys()
        if unknown:
            raise CommandError(
                f"unknown projection(s): {', '.join(sorted(unknown))}; known: {', '.join(PROJECTORS)}"
            )
        total = StoredEvent.objects.count()
        results = []
        for name in names:
            with progress(total=total, label=name, stream=cast(IO[str], self.stderr._out)) as bar:

                def advance(count: int, bar: Progress = bar) -> None:
                    bar.update(count)

                try:
                    result = rebuild(name, batch_size=options["batch_size"], on_progress=advance)
                except RebuildFailed as exc:
                    raise CommandError(str(exc)) from exc
                except ApplicationError as refused:  # already rebuilding, or stopped by an operator
                    raise CommandError(f"not rebuilding {name}: {refused.message}") from refused
            results.append(
                {
                    "projection": name,
                    "events": result.events,
                    "seconds": round(result.seconds, 3),
                    "events_per_second": round(result.events_per_second),
                }
            )
            if not options["json"]:
                speed = f"{result.events_per_second:,.0f} events/s"
                self.stdout.write(f"{name}: {result.events} events in {result.seconds:.2f}s ({speed})")
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
