"""The current request's id: set by ``RequestIdMiddleware``, read by logging and by the API views.

A contextvar (not a thread-local) so the id follows the request into async code and into threads started
with ``contextvars.copy_context()``.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

REQUEST_ID_HEADER = "X-Request-ID"
# A client-sent id is kept only if it is a short, plain token: it goes into logs and response headers.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Fixed namespace for turning a client's non-UUID request id into a stable correlation id.
_CORRELATION_NAMESPACE = uuid.UUID("6f4f1f3e-2b7c-5d0a-9c1e-8a1d3b7e4c20")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def request_id_var() -> ContextVar[str | None]:
    return _request_id


def accept_or_generate(sent: str | None) -> str:
    """The client's ``X-Request-ID`` if it is a sane token, else a fresh uuid4."""
    if sent and _SANE_ID.fullmatch(sent):
        return sent
    return str(uuid.uuid4())


def correlation_id(request: HttpRequest) -> uuid.UUID:
    """The correlation id for the commands of this request: the request id if it is a UUID, else a uuid5
    of it (the same client id always maps to the same UUID). A request that did not pass through
    ``RequestIdMiddleware`` gets a fresh uuid4."""
    request_id = getattr(request, "request_id", None)
    if not request_id:
        return uuid.uuid4()
    try:
        return uuid.UUID(request_id)
    except ValueError:
        return uuid.uuid5(_CORRELATION_NAMESPACE, request_id)
