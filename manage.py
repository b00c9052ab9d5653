#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # A missing or bad setting (e.g. DATABASE_URL in production) is said in one line with exit status 2,
    # where Django would end every command, --help included, in a traceback.
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        print(f"manage.py: configuration error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
