"""TLS to Redis (``rediss://``) for the Celery broker, verified like the other Redis clients.

redis-py reads a ``rediss://`` URL itself, with certificate and hostname verification on by default and
the ``ssl_*`` query parameters (``?ssl_ca_certs=/etc/ssl/redis-ca.pem``) honoured, so the Django cache
and the throttle client need nothing more than the URL. kombu does not: given a ``rediss://`` broker URL
without ``broker_use_ssl`` it warns and connects with ``CERT_NONE``, i.e. without checking who answers.
``broker_use_ssl`` derives kombu's options from the same URL, so one ``REDIS_URL`` means one behaviour.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_PASSED_THROUGH = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")


def broker_use_ssl(url: str) -> dict[str, Any] | None:
    """kombu's ``ssl`` options for a ``rediss://`` URL (``None`` for ``redis://`` and sockets).

    Verification is required unless the URL itself says ``ssl_cert_reqs=none`` (or ``optional``).
    """
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return None
    query = dict(parse_qsl(parts.query))
    wanted = query.get("ssl_cert_reqs", "required").lower().removeprefix("cert_")
    if wanted not in _CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}, not {wanted!r}")
    options: dict[str, Any] = {"ssl_cert_reqs": _CERT_REQS[wanted]}
    for name in _PASSED_THROUGH:
        if name in query:
            options[name] = query[name] if name != "ssl_check_hostname" else query[name].lower() == "true"
    return options
