"""Settings shared by every profile. Everything comes from the environment (12-factor)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

from config import api_guide
from config.logs import logging_config
from config.redis_tls import broker_use_ssl

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = False
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rules.apps.AutodiscoverRulesConfig",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "orders",
    "projections",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RequestIdMiddleware",  # first, so every later log line carries the request id
    "config.middleware.RequestMetricsMiddleware",
    "config.middleware.ApiErrorMiddleware",  # the error body under /api/ for what no view handled
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session (it may read a chosen language there), before CommonMiddleware (Django's order).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.RateLimitHeadersMiddleware",
    "accounts.login_throttle.AdminLoginThrottleMiddleware",  # after the one above, which writes its headers
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
# No redirect to the slashed URL: a redirected POST would lose its body (and DEBUG makes it a 500).
APPEND_SLASH = False
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # project-wide overrides: the admin dashboard and order pages
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The bus owns every write transaction; requests are not wrapped in one (ATOMIC_REQUESTS off).
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The write path's statements are prepared once per connection (config.prepared). Behind a pooler in
# transaction mode that cannot keep prepared statements (PgBouncer before 1.21), switch them off.
if env.bool("DB_PREPARED_STATEMENTS", default=True):
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
# A transaction left open and idle (a crashed client, a forgotten psql session) that has written holds
# the projections' horizon for the whole server: no event committed after it starts is projected until
# it ends (README, "How it works"). PostgreSQL ends such sessions after this many seconds; 0 = never.
# Sent as a connection option; set it on the role as well (docs/deployment.md), which also covers
# people's sessions. A pooler that refuses startup options: 0 here, and the role setting only.
DB_IDLE_IN_TRANSACTION_TIMEOUT: float = env.float("DB_IDLE_IN_TRANSACTION_TIMEOUT", default=60.0)
if DB_IDLE_IN_TRANSACTION_TIMEOUT > 0:
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _timeout = f"-c idle_in_transaction_session_timeout={int(DB_IDLE_IN_TRANSACTION_TIMEOUT * 1000)}"
    _options["options"] = f"{_options.get('options', '')} {_timeout}".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env.str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "orders",
    }
}

AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
# The admin answers in the browser's language (Accept-Language, via LocaleMiddleware) when it is one of
# these; otherwise in English. Django's own admin ships all of them; the project's texts are marked for
# translation and fall back to English until locale/<code>/LC_MESSAGES/django.po is translated.
# The API's machine-readable error codes never change with the language, only the human "detail" texts.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Order domain -------------------------------------------------------------------------------
SHOP_CURRENCY: str = env.str("SHOP_CURRENCY", default="USD")
ORDER_PAYMENT_TIMEOUT = timedelta(seconds=env.float("ORDER_PAYMENT_TIMEOUT", default=30 * 60))
# How often the bus re-loads and re-decides after losing an optimistic-concurrency race.
COMMAND_MAX_ATTEMPTS: int = env.int("COMMAND_MAX_ATTEMPTS", default=25)

# --- Celery ---------------------------------------------------------------------------------------
# kombu spells a unix-socket Redis "redis+socket://"; redis-py spells it "unix://".
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL.replace("unix://", "redis+socket://", 1))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="order-platform")
# At-least-once: a task is acknowledged after it ran, and re-queued if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Longer than the longest task, so Redis does not redeliver a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "expire-unpaid-orders": {
        "task": "projections.expiry.expire_unpaid_orders",
        "schedule": env.float("EXPIRE_ORDERS_INTERVAL", default=60.0),
    },
}

# --- Operations: logs, /healthz, /readyz, /metrics ---------------------------------------------------
# One JSON object per log line (LOG_FORMAT=plain for people); local.py defaults to plain.
LOG_FORMAT: str = env.str("LOG_FORMAT", default="json")
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

# /readyz: name -> check (config.readiness); a later check (backup age) is one more entry here.
READINESS_CHECKS: dict[str, str] = {
    "database": "config.readiness.check_database",
    "redis": "config.readiness.check_redis",
    "worker": "config.readiness.check_worker",
    "projections": "projections.readiness.check_projections",
    "backups": "recovery.readiness.check_backups",  # the newest backup against BACKUP_RPO_TARGET
}
READINESS_CHECK_TIMEOUT: float = env.float("READINESS_CHECK_TIMEOUT", default=2.0)
# Seconds a worker's heartbeat key lives (config.worker_heartbeat; renewed every third of it): a
# killed worker leaves /readyz within this.
WORKER_HEARTBEAT_TTL: float = env.float("WORKER_HEARTBEAT_TTL", default=10.0)
# Web-only nodes whose workers run elsewhere may turn the worker check off.
READINESS_REQUIRE_WORKER: bool = env.bool("READINESS_REQUIRE_WORKER", default=True)
READINESS_MAX_PROJECTION_LAG: float = env.float("READINESS_MAX_PROJECTION_LAG", default=60.0)
# Bearer token for scrapes of /metrics from other hosts; unset, only loopback is served.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")

AUTH_USER_MODEL = "accounts.User"

# --- Projections -----------------------------------------------------------------------------------
PROJECTION_BATCH_SIZE: int = env.int("PROJECTION_BATCH_SIZE", default=500)
# The on-commit Celery message only makes the read side faster; beat alone keeps it correct.
PROJECTION_NUDGE_ON_COMMIT: bool = env.bool("PROJECTION_NUDGE_ON_COMMIT", default=True)
PROJECTION_CATCH_UP_INTERVAL: float = env.float("PROJECTION_CATCH_UP_INTERVAL", default=2.0)
PROJECTION_RECHECK_DELAY: float = env.float("PROJECTION_RECHECK_DELAY", default=0.2)
# A transaction open this long (seconds) while it holds the read side's horizon is named by /readyz,
# the admin and /metrics; a prepared transaction this old counts as orphaned and stops the projections.
PROJECTION_HORIZON_HELD_THRESHOLD: float = env.float("PROJECTION_HORIZON_HELD_THRESHOLD", default=10.0)
CELERY_BEAT_SCHEDULE["catch-up-projections"] = {
    "task": "projections.tasks.run_projections",
    "schedule": PROJECTION_CATCH_UP_INTERVAL,
}

# --- REST API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "config.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exception_handler.handle_exception",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttling.ReadThrottle",
        "accounts.throttling.WriteThrottle",
        "accounts.throttling.AnonymousThrottle",
    ],
}
# Token buckets in Redis (accounts.throttling): scope -> (burst, refill in tokens per second).
THROTTLE_POLICIES: dict[str, tuple[int, float]] = {
    "read": (env.int("THROTTLE_READ_BURST", default=200), env.float("THROTTLE_READ_RATE", default=50.0)),
    "write": (env.int("THROTTLE_WRITE_BURST", default=60), env.float("THROTTLE_WRITE_RATE", default=20.0)),
    "anon": (env.int("THROTTLE_ANON_BURST", default=30), env.float("THROTTLE_ANON_RATE", default=0.5)),
    "token": (env.int("THROTTLE_TOKEN_BURST", default=10), env.float("THROTTLE_TOKEN_RATE", default=10 / 60)),
}
# Seconds a web process may keep a token's user and roles (accounts/token_cache.py); at most 1, 0 = off.
# The process that revokes a token or changes a role forgets at once; other processes within this bound.
TOKEN_CACHE_SECONDS: float = env.float("TOKEN_CACHE_SECONDS", default=1.0)
# Off only for benchmarks. With Redis down, requests pass (logged, counted) unless fail-open is off.
THROTTLE_ENABLED: bool = env.bool("THROTTLE_ENABLED", default=True)
THROTTLE_FAIL_OPEN: bool = env.bool("THROTTLE_FAIL_OPEN", default=True)
THROTTLE_REDIS_URL: str = env.str("THROTTLE_REDIS_URL", default=REDIS_URL)
# Short, so a hung Redis costs a request a quarter second rather than the request's whole budget.
THROTTLE_REDIS_TIMEOUT: float = env.float("THROTTLE_REDIS_TIMEOUT", default=0.25)
THROTTLE_REDIS_MAX_CONNECTIONS: int = env.int("THROTTLE_REDIS_MAX_CONNECTIONS", default=50)
THROTTLE_KEY_PREFIX: str = env.str("THROTTLE_KEY_PREFIX", default="throttle:")
# Bodies over 1 MB are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)

SPECTACULAR_SETTINGS = {
    "TITLE": "Order platform API",
    "DESCRIPTION": api_guide.GUIDE,
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs UI's assets are served from this installation, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.add_error_responses",
    ],
}

# How long a completed request's Idempotency-Key is remembered.
IDEMPOTENCY_KEY_TTL = timedelta(seconds=env.float("IDEMPOTENCY_KEY_TTL", default=24 * 3600))
# How long a read carrying X-Consistency-Token waits for the projections.
CONSISTENCY_WAIT_SECONDS: float = env.float("CONSISTENCY_WAIT_SECONDS", default=2.0)
CELERY_BEAT_SCHEDULE["expire-idempotency-keys"] = {
    "task": "orders.tasks.expire_idempotency_keys",
    "schedule": 3600.0,
}

# --- Security hardening (every profile; production.py adds HTTPS-only settings) ---------------------------
# Response headers. These are Django's defaults, stated so that a change is a visible decision.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (config.csp), in Django 6.0's SECURE_CSP shape. Scripts only from this origin:
# the admin has no inline script and the API docs load theirs as a file (SpectacularSwaggerSplitView).
# Inline styles are allowed because Swagger UI sets style attributes; images include data: URIs (its icons).
SECURE_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Request size: bodies are capped above (MAX_REQUEST_BYTES); also the number of form fields (the admin's
# bulk actions post one per selected row) and of uploaded files (the platform takes none).
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("MAX_REQUEST_FIELDS", default=1000)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("MAX_REQUEST_FILES", default=10)
# The client address for the throttles: REMOTE_ADDR unless NUM_PROXIES trusted proxies (load balancers)
# stand in front, whose X-Forwarded-For entries are then believed. DRF's default (None) believes any
# X-Forwarded-For, so a password guesser could name a fresh address for every try.
REST_FRAMEWORK["NUM_PROXIES"] = env.int("NUM_PROXIES", default=0)
# TLS to Redis: redis-py (cache, throttle) reads rediss:// itself; kombu needs its options spelled out.
CELERY_BROKER_USE_SSL = broker_use_ssl(CELERY_BROKER_URL)

# --- Disaster recovery and personal data at rest (recovery/, SPEC §8) -------------------------------
INSTALLED_APPS.append("recovery")
INSTALLED_APPS.append("subscriptions")  # outbound webhooks and the event feed, above the read side
# Each key is the base64 of 32 random bytes. Empty = not configured: backups are not scheduled and
# personal data cannot be written. production.py requires both; local.py generates them under var/.
BACKUP_ENCRYPTION_KEY: str = env.str("BACKUP_ENCRYPTION_KEY", default="")
FIELD_ENCRYPTION_KEY: str = env.str("FIELD_ENCRYPTION_KEY", default="")
# Former master keys (comma-separated), still accepted for unwrapping while rotate_master_key runs.
FIELD_ENCRYPTION_OLD_KEYS: list[str] = env.list("FIELD_ENCRYPTION_OLD_KEYS", default=[])
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
BACKUP_INTERVAL: float = env.float("BACKUP_INTERVAL", default=15 * 60)
# Seconds between incremental backups (e.g. 60); 0 = full backups only.
BACKUP_INCREMENTAL_INTERVAL: float = env.float("BACKUP_INCREMENTAL_INTERVAL", default=0)
# Full backups kept, each with the incrementals that chain from it (96 = a day at the default interval).
BACKUP_RETENTION_COUNT: int = env.int("BACKUP_RETENTION_COUNT", default=96)
# /readyz fails when the newest backup is older than this (seconds).
BACKUP_RPO_TARGET: float = env.float("BACKUP_RPO_TARGET", default=30 * 60)
CELERY_BEAT_SCHEDULE["backup-full"] = {
    "task": "recovery.tasks.scheduled_backup",
    "schedule": BACKUP_INTERVAL,
    "kwargs": {"incremental": False},
}
if BACKUP_INCREMENTAL_INTERVAL > 0:
    CELERY_BEAT_SCHEDULE["backup-incremental"] = {
        "task": "recovery.tasks.scheduled_backup",
        "schedule": BACKUP_INCREMENTAL_INTERVAL,
        "kwargs": {"incremental": True},
    }

# --- Multi-site (multisite/, docs/disaster-recovery.md §3) ---------------------------------------------
# Unset (the default): one site, everything as before. Set: every site lists the same SITES in the same
# order and names itself in SITE_NAME; the site's position in SITES (1-based) is its SITE_ID, which
# interleaves every replicated id (positions, user ids, order numbers) so two sites never make the same.
SITES: list[str] = env.list("SITES", default=[])
SITE_NAME: str = env.str("SITE_NAME", default="")
SITE_ID: int = SITES.index(SITE_NAME) + 1 if SITE_NAME in SITES else 0
# Where each site's API answers (name=https://..., comma-separated): a wrong_site error names the URL.
SITE_URLS: dict[str, str] = env.dict("SITE_URLS", default={})
# The peer site's primary, for the subscription (multisite_setup); libpq conninfo or URL, no default.
MULTISITE_PEER_DSN: str = env.str("MULTISITE_PEER_DSN", default="")
# /readyz fails when the peer's changes arrive later than this (seconds).
MULTISITE_MAX_LAG: float = env.float("MULTISITE_MAX_LAG", default=30.0)
if SITES:
    INSTALLED_APPS.append("multisite")
    READINESS_CHECKS["replication"] = "multisite.readiness.check_replication"

# --- Outbound subscriptions (subscriptions/): webhooks and the pull feed ------------------------------
SUBSCRIPTION_FANOUT_BATCH_SIZE: int = env.int("SUBSCRIPTION_FANOUT_BATCH_SIZE", default=1000)
SUBSCRIPTION_SEND_BATCH_SIZE: int = env.int("SUBSCRIPTION_SEND_BATCH_SIZE", default=64)
SUBSCRIPTION_SENDER_THREADS: int = env.int("SUBSCRIPTION_SENDER_THREADS", default=16)
# A claimed delivery not recorded within this many seconds is sent again, with the same webhook-id.
SUBSCRIPTION_LEASE_SECONDS: float = env.float("SUBSCRIPTION_LEASE_SECONDS", default=30.0)
SUBSCRIPTION_CONNECT_TIMEOUT: float = env.float("SUBSCRIPTION_CONNECT_TIMEOUT", default=3.0)
SUBSCRIPTION_READ_TIMEOUT: float = env.float("SUBSCRIPTION_READ_TIMEOUT", default=10.0)
# Consecutive failed attempts after which an endpoint is paused (the circuit breaker).
SUBSCRIPTION_BREAKER_THRESHOLD: int = env.int("SUBSCRIPTION_BREAKER_THRESHOLD", default=50)
# Both secrets sign for this long after a rotation.
SUBSCRIPTION_SECRET_OVERLAP_HOURS: float = env.float("SUBSCRIPTION_SECRET_OVERLAP_HOURS", default=24.0)
# Networks a receiver may resolve to although they are not public (development and tests only).
SUBSCRIPTION_ALLOWED_NETWORKS: list[str] = env.list("SUBSCRIPTION_ALLOWED_NETWORKS", default=[])
SUBSCRIPTION_REQUIRE_HTTPS: bool = env.bool("SUBSCRIPTION_REQUIRE_HTTPS", default=True)
SUBSCRIPTION_LOG_RETENTION_DAYS: float = env.float("SUBSCRIPTION_LOG_RETENTION_DAYS", default=30.0)
# The pull feed's long poll: the longest ?wait= (seconds), under a load balancer's usual idle timeout.
SUBSCRIPTION_FEED_MAX_WAIT: float = env.float("SUBSCRIPTION_FEED_MAX_WAIT", default=25.0)
# Who sends: the Celery worker (beat every SUBSCRIPTION_INTERVAL and a nudge on commit; each run sends for
# a few seconds, beside the projections' tasks), or, with SUBSCRIPTION_CELERY_RUN off, the dedicated
# process `manage.py run_webhooks` (the Procfile's `webhooks`), which keeps slow receivers off the worker.
SUBSCRIPTION_CELERY_RUN: bool = env.bool("SUBSCRIPTION_CELERY_RUN", default=True)
SUBSCRIPTION_NUDGE_ON_COMMIT: bool = env.bool("SUBSCRIPTION_NUDGE_ON_COMMIT", default=SUBSCRIPTION_CELERY_RUN)
SUBSCRIPTION_INTERVAL: float = env.float("SUBSCRIPTION_INTERVAL", default=1.0)
if SUBSCRIPTION_CELERY_RUN:
    CELERY_BEAT_SCHEDULE["subscriptions-fan-out-and-send"] = {
        "task": "subscriptions.tasks.run_subscriptions",
        "schedule": SUBSCRIPTION_INTERVAL,
    }
CELERY_BEAT_SCHEDULE["subscriptions-purge-log"] = {
    "task": "subscriptions.tasks.purge_delivery_log",
    "schedule": 3600.0,
}
