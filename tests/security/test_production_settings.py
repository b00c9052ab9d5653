"""The production profile, loaded in child processes with a clean environment (as a server would be)."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from config.check_deploy import production_env, run_check

ROOT = Path(__file__).resolve().parents[2]

# Prints what the production settings made of the URLs, and which client classes they lead to.
DUMP_SETTINGS = """
import json
import django
django.setup()
import redis
from django.conf import settings
from accounts.throttling import token_bucket_script
from config.celery import app

cache_url = settings.CACHES["default"]["LOCATION"]
print(json.dumps({
    "db_options": settings.DATABASES["default"].get("OPTIONS", {}),
    "cache_connection": redis.ConnectionPool.from_url(cache_url).connection_class.__name__,
    "throttle_connection": token_bucket_script().registered_client.connection_pool.connection_class.__name__,
    "broker_url": app.conf.broker_url,
    "broker_ssl": app.connection_for_write().ssl,
}))
"""


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # a fixed argument list, no shell
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def without(env: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in env.items() if key != name}


def test_check_deploy_passes_with_warnings_counted_as_failures() -> None:
    result = run_check()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_really_fails_on_a_warning() -> None:
    # A short key is only a *warning* (security.W009): it must still fail the check.
    result = run_check(env=production_env(SECRET_KEY="too-short"))

    assert result.returncode != 0
    assert "security.W009" in result.stderr


@pytest.mark.parametrize("name", ["SECRET_KEY", "BACKUP_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_a_secret(name: str) -> None:
    result = run_python("import django; django.setup()", without(production_env(), name))

    assert result.returncode != 0
    assert f"Set the {name} environment variable" in result.stderr


def test_database_and_redis_urls_carry_their_tls_settings_to_every_client() -> None:
    env = production_env(
        DATABASE_URL="postgres://orders:secret@db.internal:5432/orders?sslmode=verify-full&sslrootcert=/etc/pg-ca.pem",
        REDIS_URL="rediss://redis.internal:6380/0",
    )

    result = run_python(DUMP_SETTINGS, env)

    assert result.returncode == 0, result.stderr
    dumped = json.loads(result.stdout)
    assert dumped["db_options"] == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/pg-ca.pem",
        "prepare_threshold": 5,  # the write path's prepared statements (config.prepared)
        "options": "-c idle_in_transaction_session_timeout=60000",  # DB_IDLE_IN_TRANSACTION_TIMEOUT
    }
    assert dumped["cache_connection"] == dumped["throttle_connection"] == "SSLConnection"
    assert dumped["broker_url"] == "rediss://redis.internal:6380/0"
    # kombu alone would connect with CERT_NONE (no verification) to a rediss:// URL without options.
    assert dumped["broker_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_a_plain_redis_url_gets_no_tls_options() -> None:
    result = run_python(DUMP_SETTINGS, production_env(REDIS_URL="redis://redis.internal:6379/0"))

    assert result.returncode == 0, result.stderr
    dumped = json.loads(result.stdout)
    assert dumped["cache_connection"] == dumped["throttle_connection"] == "Connection"
    assert not dumped["broker_ssl"]


# Requests through Django's test client under the production settings (no database is reachable). An
# anonymous GET /admin/ is a redirect to the login form (302) when it gets through over HTTPS.
PROBE_REDIRECTS = """
import json
import django
django.setup()
from django.test import Client
client = Client()
http = client.get("/admin/")
answers = {
    "healthz": client.get("/healthz").status_code,
    "admin_http": [http.status_code, http.get("Location")],
    "admin_forwarded_https": client.get("/admin/", headers={"x-forwarded-proto": "https"}).status_code,
    "admin_https": client.get("/admin/", secure=True).status_code,
}
print(json.dumps(answers))
"""


def test_plain_http_is_redirected_except_for_the_probes() -> None:
    result = run_python(PROBE_REDIRECTS, production_env(ALLOWED_HOSTS="testserver"))

    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert answers["healthz"] == 200  # a load balancer's plain-HTTP probe
    assert answers["admin_http"] == [301, "https://testserver/admin/"]
    assert answers["admin_forwarded_https"] == 301  # no proxy is trusted unless BEHIND_TLS_PROXY says so
    assert answers["admin_https"] == 302


def test_behind_a_tls_proxy_its_forwarded_proto_is_trusted() -> None:
    env = production_env(ALLOWED_HOSTS="testserver", BEHIND_TLS_PROXY="true")

    result = run_python(PROBE_REDIRECTS, env)

    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert answers["admin_forwarded_https"] == 302
    assert answers["admin_http"][0] == 301  # what reached the proxy over plain HTTP is still redirected
