"""Log configuration: one console handler, JSON (production) or plain text (development), and a filter
that stamps every record with the current request id.

Log lines carry method, route, status, duration, request id and user id; never a path with its query
string, a body, a header or a token, because those can hold personal data or credentials.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from config.request_context import current_request_id

LOG_FORMATS = ("json", "plain")
_JSON_FIELDS = ["asctime", "levelname", "name", "message", "request_id"]
_JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request, e.g. in a Celery task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class UtcJsonFormatter(JsonFormatter):
    """``time`` is ISO 8601 in UTC with milliseconds (``2026-12-04T15:59:21.605Z``), whatever the
    host's zone, so lines from several machines sort and compare as they are."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_formatter() -> JsonFormatter:
    """One JSON object per line; ``extra={...}`` fields of a log call become keys of their own."""
    return UtcJsonFormatter(_JSON_FIELDS, rename_fields=_JSON_RENAMES)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` setting. An unknown format stops start-up rather than logging in a surprise shape."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.logs.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "config.logs.json_formatter"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
