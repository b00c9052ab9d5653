from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import SYSTEM
from config.errors import ApplicationError
from recovery.erasure import erase_customer


class Command(BaseCommand):
    help = (
        "Erase a customer's personal data (crypto-shredding): delete their data key, anonymise their user, "
        "record CustomerDataErased. Orders and totals stay. Recorded as the system actor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer_id", type=int, help="the id of the customer (user) to erase")

    def handle(self, *args: object, **options: Any) -> None:
        customer_id = int(options["customer_id"])
        try:
            result = erase_customer(customer_id, actor=SYSTEM)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if result.already_erased:
            self.stdout.write(f"customer {customer_id} was erased already; nothing changed")
        else:
            self.stdout.write(
                f"customer {customer_id} erased (event at position {result.events[0].position})"
            )
