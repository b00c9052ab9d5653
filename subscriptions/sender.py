"""Send due deliveries outside any transaction: claim with SKIP LOCKED and a lease, POST, record.

A claim is a short transaction of its own: it leases due deliveries (``lease_expires_at``, a token) and
commits before any request goes out. The POST runs on a thread with no transaction open. The outcome is
recorded in another short transaction. A sender killed between claim and record leaves a lease that
expires; the delivery is then claimed again and sent with the same webhook-id (the event's id), so a
receiver that deduplicates by it sees the event once. Duplicates are only possible within a lease.

Per endpoint, a transaction-scoped advisory lock serializes claims, so the count of deliveries in flight
is exact and ``max_in_flight`` holds across workers: a slow receiver holds at most that many of a
worker's threads, and the others keep flowing. Ordered endpoints claim a delivery only when every
earlier one of its stream has been delivered: one in flight per stream, and a dead one blocks its
stream (and only it) until redelivered.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from orders.store import RecordedEvent
from subscriptions import notify, schedule, signing, transport
from subscriptions.envelope import body, event_id, load_events
from subscriptions.models import Delivery, DeliveryAttempt, Endpoint
from subscriptions.ssrf import Destination, UnsafeDestination, resolve

logger = logging.getLogger(__name__)

USER_AGENT = "order-platform-webhooks/1"
TRANSIENT_ERRORS = (OperationalError, InterfaceError)  # the database, not the event
_LOCK_NAMESPACE = 0x77686B  # "whk": advisory locks of endpoints' claims

# Active endpoints with a delivery due and not leased (one probe of the due index each).
_WITH_WORK_SQL = """
SELECT e.id, e.ordered, e.max_in_flight FROM subscriptions_endpoint AS e
WHERE e.state = 'active' AND EXISTS (
    SELECT 1 FROM subscriptions_delivery AS d
    WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.next_attempt_at <= now()
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= now()))
"""
_IN_FLIGHT_SQL = """
SELECT count(*) FROM subscriptions_delivery
WHERE endpoint_id = %s::uuid AND lease_expires_at > now() AND state = 'pending'
"""
_CLAIM_SQL = """
UPDATE subscriptions_delivery AS d
SET lease_expires_at = now() + make_interval(secs => %(lease)s), lease_token = %(token)s::uuid,
    attempts = d.attempts + 1, first_attempt_at = coalesce(d.first_attempt_at, now()), updated_at = now()
WHERE d.id IN (
    SELECT c.id FROM subscriptions_delivery AS c
    WHERE c.endpoint_id = %(endpoint)s::uuid AND c.state = 'pending' AND c.next_attempt_at <= now()
      AND (c.lease_expires_at IS NULL OR c.lease_expires_at <= now())
      AND (NOT %(ordered)s OR NOT EXISTS (
          SELECT 1 FROM subscriptions_delivery AS p
          WHERE p.endpoint_id = c.endpoint_id AND p.stream_id = c.stream_id
            AND p.stream_version < c.stream_version AND p.state <> 'delivered'))
    ORDER BY c.next_attempt_at, c.position
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.position, d.attempts
"""
_DELIVERED_SQL = """
UPDATE subscriptions_delivery AS d
SET state = 'delivered', delivered_at = %s, lease_expires_at = NULL, lease_token = NULL,
    last_status = s.status, last_error = '', updated_at = %s
FROM unnest(%s::bigint[], %s::smallint[]) AS s(id, status)
WHERE d.id = s.id AND d.state = 'pending'
"""


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    endpoint_id: uuid.UUID
    position: int
    attempts: int
    token: uuid.UUID


@dataclass
class Outcome:
    claim: Claim
    url: str
    headers: dict[str, str]
    response: transport.Response
    attempted_at: datetime = field(default_factory=timezone.now)


def claim(*, limit: int, lease_seconds: float | None = None) -> list[Claim]:
    """Lease up to ``limit`` due deliveries over the active endpoints, each within its cap."""
    lease = settings.SUBSCRIPTION_LEASE_SECONDS if lease_seconds is None else lease_seconds
    token = uuid.uuid4()
    claimed: list[Claim] = []
    with connection.cursor() as cursor:
        cursor.execute(_WITH_WORK_SQL)
        endpoints = cursor.fetchall()
    # Oldest-first would let one endpoint's backlog take every slot; a shuffled round shares them.
    schedule.rng.shuffle(endpoints)
    with transaction.atomic(), connection.cursor() as cursor:
        for endpoint_id, ordered, cap in endpoints:
            room = limit - len(claimed)
            if room <= 0:
                break
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_NAMESPACE, str(endpoint_id)]
            )
            if not cursor.fetchone()[0]:
                continue  # another worker is claiming for it right now
            cursor.execute(_IN_FLIGHT_SQL, [str(endpoint_id)])
            room = min(room, cap - int(cursor.fetchone()[0]))
            if room <= 0:
                continue
            cursor.execute(
                _CLAIM_SQL,
                {
                    "lease": lease,
                    "token": str(token),
                    "endpoint": str(endpoint_id),
                    "ordered": ordered,
                    "limit": room,
                },
            )
            claimed += [
                Claim(pk, endpoint_id, pos, attempts, token) for pk, pos, attempts in cursor.fetchall()
            ]
    return claimed


def _events(claims: list[Claim]) -> dict[int, RecordedEvent | Exception]:
    """The claims' events; one that cannot be read (a payload no upcaster knows) fails on its own,
    recorded as a failed attempt, instead of stopping every delivery of the batch."""
    positions = [claim.position for claim in claims]
    try:
        return dict(load_events(positions))
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("a batch of webhook events could not be read; reading them one by one")
    found: dict[int, RecordedEvent | Exception] = {}
    for position in positions:
        try:
            found.update(load_events([position]))
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            found[position] = CannotSend(f"the event could not be read ({type(exc).__name__})")
    return found


class CannotSend(Exception):
    """Why a delivery is recorded as failed without a request."""


def prepare(claims: list[Claim]) -> list[tuple[Claim, str, bytes, dict[str, str], Destination | Exception]]:
    """Each claim's URL, body, headers and destination (or the reason it is refused)."""
    events = _events(claims)
    endpoints = Endpoint.objects.in_bulk({claim.endpoint_id for claim in claims})
    destinations: dict[uuid.UUID, Destination | Exception] = {}
    prepared: list[tuple[Claim, str, bytes, dict[str, str], Destination | Exception]] = []
    now = timezone.now()
    for item in claims:
        endpoint = endpoints[item.endpoint_id]
        if item.endpoint_id not in destinations:  # resolved once per endpoint and batch, then connected to
            try:
                destinations[item.endpoint_id] = resolve(endpoint.url)
            except UnsafeDestination as exc:
                destinations[item.endpoint_id] = exc
        recorded = events[item.position]
        if isinstance(recorded, Exception):
            prepared.append((item, endpoint.url, b"", {}, recorded))
            continue
        payload = body(recorded, version=endpoint.payload_version)
        msg_id = event_id(recorded.stream_id, recorded.version)
        timestamp = int(time.time())
        keys = [endpoint.secret]
        if endpoint.previous_secret and (
            endpoint.previous_secret_expires_at is None or endpoint.previous_secret_expires_at > now
        ):
            keys.append(endpoint.previous_secret)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.signature(
                secrets_=keys, msg_id=msg_id, timestamp=timestamp, body=payload
            ),
            "webhook-position": str(recorded.position),
            "webhook-attempt": str(item.attempts),
        }
        prepared.append((item, endpoint.url, payload, headers, destinations[item.endpoint_id]))
    return prepared


def send_one(
    item: Claim, url: str, payload: bytes, headers: dict[str, str], destination: Destination | Exception
) -> Outcome:
    """The POST, on a sender thread, outside any transaction."""
    started = timezone.now()
    if isinstance(destination, Exception):
        response = transport.Response(None, None, "", str(destination)[:300], 0)
    else:
        response = transport.post(destination, body=payload, headers=headers)
    return Outcome(item, url, headers, response, started)


def record(outcome: Outcome) -> None:
    record_many([outcome])


def record_many(outcomes: list[Outcome]) -> None:
    """The attempts in the log and their consequences, in one short transaction: a few statements for
    the whole batch of successes, one step each for the failures."""
    if not outcomes:
        return
    now = timezone.now()
    succeeded: list[Outcome] = []
    failed: list[Outcome] = []
    for o in outcomes:
        ok = o.response.status is not None and 200 <= o.response.status < 300
        (succeeded if ok else failed).append(o)
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(
            [
                DeliveryAttempt(
                    delivery_id=o.claim.delivery_id,
                    attempted_at=o.attempted_at,
                    duration_ms=o.response.duration_ms,
                    request_url=o.url,
                    request_headers=o.headers,
                    status_code=o.response.status,
                    response_excerpt=o.response.excerpt,
                    error=o.response.error,
                )
                for o in outcomes
            ]
        )
        if succeeded:
            # A success counts even if the lease ran out meanwhile: nothing is sent again once recorded.
            with connection.cursor() as cursor:
                cursor.execute(
                    _DELIVERED_SQL,
                    [
                        now,
                        now,
                        [o.claim.delivery_id for o in succeeded],
                        [o.response.status for o in succeeded],
                    ],
                )
            Endpoint.objects.filter(pk__in={o.claim.endpoint_id for o in succeeded}).exclude(
                consecutive_failures=0
            ).update(consecutive_failures=0)
        for outcome in failed:  # not ``outcome not in succeeded``: dataclass equality, O(n²) per batch
            _failed(outcome.claim, outcome.response, now)


def _failed(item: Claim, response: transport.Response, now: datetime) -> None:
    mine = Delivery.objects.filter(pk=item.delivery_id, state=Delivery.State.PENDING, lease_token=item.token)
    error = response.error or f"HTTP {response.status}"
    if response.status == 410:
        # Gone: the receiver asks for no more. The delivery waits, should an operator enable it again.
        mine.update(
            lease_expires_at=None, lease_token=None, last_status=410, last_error=error, updated_at=now
        )
        if (
            Endpoint.objects.filter(pk=item.endpoint_id)
            .exclude(state=Endpoint.State.DISABLED)
            .update(
                state=Endpoint.State.DISABLED, state_reason="the receiver answered 410 Gone", updated_at=now
            )
        ):
            notify.endpoint_stopped(item.endpoint_id, "disabled: the receiver answered 410 Gone")
        return
    delay = schedule.next_delay(item.attempts, retry_after=response.retry_after, now=now)
    if delay is None:
        mine.update(
            state=Delivery.State.DEAD,
            lease_expires_at=None,
            lease_token=None,
            last_status=response.status,
            last_error=error,
            updated_at=now,
        )
    else:
        mine.update(
            next_attempt_at=schedule.at(now, delay),
            lease_expires_at=None,
            lease_token=None,
            last_status=response.status,
            last_error=error,
            updated_at=now,
        )
    _count_failure(item.endpoint_id, now)


def _count_failure(endpoint_id: uuid.UUID, now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscriptions_endpoint SET consecutive_failures = consecutive_failures + 1 "
            "WHERE id = %s::uuid RETURNING consecutive_failures, state",
            [str(endpoint_id)],
        )
        row = cursor.fetchone()
    if row is None or row[0] < settings.SUBSCRIPTION_BREAKER_THRESHOLD or row[1] != Endpoint.State.ACTIVE:
        return
    reason = f"paused by the circuit breaker after {row[0]} failed attempts in a row"
    Endpoint.objects.filter(pk=endpoint_id, state=Endpoint.State.ACTIVE).update(
        state=Endpoint.State.PAUSED, state_reason=reason, updated_at=now
    )
    notify.endpoint_stopped(endpoint_id, reason)


class Sender:
    """A pipeline: claim into free threads, record what finishes, until idle or time is up."""

    idle_sleep = 0.05

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads or settings.SUBSCRIPTION_SENDER_THREADS
        transport.fit_pools(self.threads)
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="webhook-sender")

    def run(self, *, max_seconds: float, stop_when_idle: bool = True) -> int:
        deadline = time.monotonic() + max_seconds
        running: set[Future[Outcome]] = set()
        sent = 0
        # Claiming costs a few statements per endpoint: claim when a quarter of the threads are free.
        refill = max(1, self.threads // 4)
        try:
            while True:
                free = self.threads - len(running)
                wanted = free >= refill or not running
                claims = claim(limit=free) if wanted and free > 0 and time.monotonic() < deadline else []
                for item, url, payload, headers, destination in prepare(claims) if claims else []:
                    running.add(self.pool.submit(send_one, item, url, payload, headers, destination))
                if not running:
                    if stop_when_idle or time.monotonic() >= deadline:
                        return sent
                    time.sleep(self.idle_sleep)
                    continue
                done, running = wait(running, timeout=self.idle_sleep, return_when=FIRST_COMPLETED)
                record_many([future.result() for future in done])
                sent += len(done)
        finally:
            # Time is up: wait for the requests in flight, and record them.
            record_many([future.result() for future in running])
            self.pool.shutdown(wait=True)
