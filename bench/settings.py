"""Production settings on loopback HTTP: what a web node and its workers run, minus the HTTPS redirect.

The bench talks plain HTTP to 127.0.0.1, as a TLS-terminating load balancer would; everything else
(DEBUG off, logging, middleware, throttling, connection reuse) is the production profile's.
"""

from __future__ import annotations

from config.settings.production import *  # noqa: F403

SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
# The product's URLs and the by-the-book peer endpoint the bench compares the order detail with.
ROOT_URLCONF = "bench.urls"
