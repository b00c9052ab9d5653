"""The sender's connection pools hold as many connections as its threads can use at once."""

from __future__ import annotations

from subscriptions import transport
from subscriptions.sender import Sender
from subscriptions.ssrf import Destination


def test_a_senders_pools_keep_a_connection_per_thread() -> None:
    sender = Sender(threads=24)
    try:
        # Nothing connects until a request is made; the pool only has to be built.
        destination = Destination(
            scheme="http", host="receiver.test", port=9, address="192.0.2.7", target="/"
        )
        pool = transport._pool(destination)
        assert pool.pool is not None and pool.pool.maxsize >= 24
    finally:
        sender.pool.shutdown(wait=False)
