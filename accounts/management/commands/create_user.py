import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import Role
from accounts.services import create_user


class Command(BaseCommand):
    help = "Create a user with one role. The password comes from --password or USER_PASSWORD."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the new user's login name")
        parser.add_argument(
            "--role", required=True, choices=[role.value for role in Role], help="the user's one role"
        )
        parser.add_argument("--email", default="", help="the user's email address (default: none)")
        parser.add_argument("--password", help="prefer the USER_PASSWORD environment variable")

    def handle(self, *args: object, **options: str) -> None:
        password = options["password"] or os.environ.get("USER_PASSWORD")
        if not password:
            raise CommandError("give a password with --password or the USER_PASSWORD environment variable")
        try:
            user = create_user(
                username=options["username"],
                role=Role(options["role"]),
                password=password,
                email=options["email"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"created {user} with role {options['role']}"))
