#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.management import execute_from_command_line

    from config.startup import configuration_errors_in_one_line, unmigrated_database_in_one_line

    # A missing or bad setting (e.g. DATABASE_URL in production) or a database not migrated yet is said in
    # one line with exit status 2, where Django would end the command in a traceback.
    with configuration_errors_in_one_line("manage.py"), unmigrated_database_in_one_line("manage.py"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
