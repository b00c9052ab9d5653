"""``python -m config.check_deploy``: Django's deployment checks on the production profile, as CI runs them.

The checks run in a child process with a clean environment: the production settings module, throwaway
secrets and unreachable TLS URLs for PostgreSQL and Redis (the checks connect to neither). Nothing from
the caller's environment leaks in, so a developer's DEBUG=true or local secret cannot make it pass.
Any warning fails (``--fail-level WARNING``). Extra arguments go to ``manage.py check``.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess  # nosec B404  # runs manage.py with a fixed argument list, no shell
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def throwaway_key() -> str:
    """A random 256-bit key, base64 (the shape of the encryption keys of config/settings/production.py)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def production_env(**overrides: str) -> dict[str, str]:
    """A minimal environment under which the production settings load, with throwaway secrets."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "BACKUP_ENCRYPTION_KEY": throwaway_key(),
        "FIELD_ENCRYPTION_KEY": throwaway_key(),
        "DATABASE_URL": "postgres://orders:unused@db.invalid:5432/orders?sslmode=verify-full",
        "REDIS_URL": "rediss://redis.invalid:6379/0",
        "ALLOWED_HOSTS": "shop.example.com",
    }
    env.update(overrides)
    return env


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", *args]
    return subprocess.run(  # nosec B603  # fixed argument list, no shell
        command, cwd=ROOT, env=env if env is not None else production_env(), capture_output=True, text=True
    )


def main() -> int:
    result = run_check(*sys.argv[1:])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
