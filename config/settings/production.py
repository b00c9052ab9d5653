"""Production profile: refuses to start without its secrets, passes `check --deploy --fail-level WARNING`.

Start a web node with ``gunicorn -c config/gunicorn.py`` (docs/deployment.md). TLS either ends at
gunicorn (TLS_CERT_FILE/TLS_KEY_FILE: TLS 1.3 only) or at a load balancer that forwards plain HTTP and
says so in ``X-Forwarded-Proto`` (BEHIND_TLS_PROXY=true). TLS to the backing services comes from their
URLs: ``DATABASE_URL`` with ``?sslmode=verify-full&sslrootcert=...`` (django-environ puts query
parameters into the connection OPTIONS, libpq reads them) and ``REDIS_URL`` with ``rediss://``.
"""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import MIDDLEWARE, env

SECRET_KEY = env.str("SECRET_KEY")  # no default: a missing key stops the process at start-up
BACKUP_ENCRYPTION_KEY = env.str("BACKUP_ENCRYPTION_KEY")  # recovery/: likewise, no default
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY")
DEBUG = False

# --- HTTPS ----------------------------------------------------------------------------------------------
# Behind a TLS-terminating proxy Django sees plain HTTP; the proxy's X-Forwarded-Proto tells it the
# client used HTTPS. Only set BEHIND_TLS_PROXY where the proxy overwrites that header on every request
# and the node is reachable through the proxy only: otherwise a client could claim HTTPS itself.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
# On in every set-up: behind a proxy, the header above keeps it from looping. Off fails check --deploy.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The load balancer's probes may use plain HTTP to the node; they carry nothing secret.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Origins allowed to POST forms (the admin) when they differ from the Host header, e.g. behind a proxy.
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Static files (the admin's and the API docs' assets) ------------------------------------------------
# Served by the web node itself (WhiteNoise: compressed, hashed names, cached for a year), so a node
# needs no separate static server. `manage.py collectstatic --noinput` at deploy fills STATIC_ROOT.
# Right after SecurityMiddleware, whose redirect and headers then apply to static files too.
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE = [
    *MIDDLEWARE[:_after_security],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_after_security:],
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
