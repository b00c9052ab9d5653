"""The command bus: ``dispatch(command, actor=...)``, and per command type a handler: its permission and
what the decision needs fetched (``handles``).

``dispatch`` owns the transaction. In it: load the command's stream (an order's, or a customer's own),
check the actor's permission on it, let the handler fetch what the decision needs, decide, reserve or
release stock, run the effects other apps registered for the new events, and append.
``dispatch_idempotent`` adds an explicit first and last step to that transaction: ``Idempotency``'s
``claim`` and ``remember`` (the API's Idempotency-Key). If another writer took the stream's
next version first, everything is rolled back and tried again from a fresh load, a bounded number of
times with jittered back-off; then ``ConcurrencyConflict``. A caller that showed a person one version
of the order (an admin form) passes it as ``expected_version``: if the order has moved on, the command
is refused with ``StaleVersion`` instead of being decided again on a state nobody saw.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

import rules
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.roles import Role, actor_id
from config.errors import (
    ApplicationError,
    ConcurrencyConflict,
    NotFound,
    PermissionDenied,
    StaleVersion,
    ValidationError,
)
from config.metrics import COMMANDS
from orders import commands as c
from orders import inventory, sites, store
from orders.aggregate import CustomerInfo, DecisionContext, Order, replay
from orders.customer import Customer
from orders.events import Event
from orders.signals import events_committed

Actor = Any  # a user (accounts.User) or accounts.roles.SYSTEM
C = TypeVar("C", bound=c.Command)
Aggregate = Order | Customer
Prepare = Callable[[Any, Any, Actor], DecisionContext]
Replay = Callable[[UUID, list[tuple[Event, int, datetime]]], Aggregate]
Effect = Callable[[Any], None]


class UnknownCommand(TypeError):
    """No handler is registered for this command type."""


@dataclass(frozen=True)
class Handler:
    permission: str
    prepare: Prepare
    replay: Replay = replay  # the aggregate that decides: an Order, or a Customer on its own stream


@dataclass(frozen=True)
class DispatchResult:
    order: Aggregate  # the aggregate as the command left it
    events: list[store.RecordedEvent]  # what this command appended
    history: list[store.RecordedEvent]  # the whole stream, these events included
    command_id: UUID

    @property
    def position(self) -> int | None:
        """Global position of the last event written, for read-your-writes; None if nothing changed."""
        return self.events[-1].position if self.events else None


HANDLERS: dict[type[c.Command], Handler] = {}


def handles(
    command_type: type[C], *, permission: str, replay: Replay = replay
) -> Callable[[Prepare], Prepare]:
    def register(prepare: Prepare) -> Prepare:
        HANDLERS[command_type] = Handler(permission=permission, prepare=prepare, replay=replay)
        return prepare

    return register


# Work that apps above the write side attach to an event type, run in the command's transaction just
# before the event is appended; registered at start-up, so orders/ never imports them (recovery shreds
# the customer's data key for CustomerDataErased).
EFFECTS: dict[type[Event], list[Effect]] = {}


def effect_of(event_type: type[Event]) -> Callable[[Effect], Effect]:
    def register(effect: Effect) -> Effect:
        EFFECTS.setdefault(event_type, []).append(effect)
        return effect

    return register


class Idempotency(Protocol):
    """An explicit step of the bus for requests that must take effect once (the API's Idempotency-Key).

    ``claim`` runs first in each attempt's transaction: it takes the request's key and answers what was
    remembered if the request already took effect (nothing else then runs), else None. ``remember`` runs
    last, after the append, and stores the answer in the same transaction: an answer is remembered
    exactly when its command took effect, and a lost race is retried with the key taken again.
    """

    def claim(self) -> Any | None: ...

    def remember(self, result: DispatchResult) -> Any: ...


@dataclass(frozen=True)
class Answer:
    """What ``dispatch_idempotent`` answers: the remembered answer, and whether this was a replay."""

    value: Any
    replayed: bool


def dispatch(
    command: c.Command,
    *,
    actor: Actor,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    expected_version: int | None = None,
) -> DispatchResult:
    """Run ``command`` as ``actor`` in one transaction, retried after a lost race.

    With ``expected_version`` the command applies only to that version of the order; a lost race then
    ends in ``StaleVersion`` on the retry's fresh load, so a form sent twice acts once.
    """
    with _outcome_counted(command) as outcome:
        run = _Run(command, actor, correlation_id, causation_id, expected_version)
        result = _retrying(run.attempt, attempts=settings.COMMAND_MAX_ATTEMPTS)
        outcome.append("ok")
        return result


def dispatch_idempotent(
    command: c.Command,
    *,
    actor: Actor,
    idempotency: Idempotency,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
) -> Answer:
    """``dispatch`` with ``idempotency`` as the first and last step of each attempt's transaction."""
    with _outcome_counted(command) as outcome:
        run = _Run(command, actor, correlation_id, causation_id, expected_version=None)
        answer = _retrying(partial(run.attempt_once, idempotency), attempts=settings.COMMAND_MAX_ATTEMPTS)
        outcome.append("replayed" if answer.replayed else "ok")
        return answer


class _Run:
    """One command's run: its handler and metadata, the same for every attempt."""

    def __init__(
        self,
        command: c.Command,
        actor: Actor,
        correlation_id: UUID | None,
        causation_id: UUID | None,
        expected_version: int | None,
    ) -> None:
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise UnknownCommand(f"no handler is registered for {type(command).__name__}")
        self.command, self.handler, self.actor, self.expected_version = (
            command,
            handler,
            actor,
            expected_version,
        )
        self.command_id = uuid4()
        self.metadata = {
            "actor": actor_id(actor),
            "command": command.name,
            "command_id": str(self.command_id),
            "correlation_id": str(correlation_id or self.command_id),
            "causation_id": str(causation_id or self.command_id),
        }
        if sites.enabled():
            self.metadata["site"] = sites.local_site()  # where it was decided, for audit and reconciliation

    def attempt(self) -> DispatchResult:
        with transaction.atomic():
            return self.decide_and_append()

    def attempt_once(self, idempotency: Idempotency) -> Answer:
        """An attempt between the idempotency step's claim and remember, in one transaction."""
        with transaction.atomic():
            remembered = idempotency.claim()
            if remembered is not None:
                return Answer(remembered, replayed=True)
            return Answer(idempotency.remember(self.decide_and_append()), replayed=False)

    def decide_and_append(self) -> DispatchResult:
        """The command's work inside the caller's transaction; the nudge is sent once it commits."""
        result = _dispatch_once(
            self.command,
            self.handler,
            actor=self.actor,
            metadata=self.metadata,
            command_id=self.command_id,
            expected_version=self.expected_version,
        )
        if result.events:
            transaction.on_commit(partial(events_committed.send, sender=Order, events=result.events))
        return result


T = TypeVar("T")


def _retrying(commit_once: Callable[[], T], *, attempts: int) -> T:
    """Run ``commit_once`` again after a lost race (or a deadlock), from a fresh load each time."""
    for attempt in range(1, attempts + 1):
        try:
            return commit_once()
        except StaleVersion:
            raise  # the order moved on from what the caller saw: deciding again is not ours to do
        except (ConcurrencyConflict, OperationalError) as exc:
            if isinstance(exc, OperationalError) and not _is_deadlock(exc):
                raise
            if attempt == attempts:
                raise ConcurrencyConflict(
                    "the order kept changing; try again", details={"attempts": attempts}
                ) from exc
            # Jittered exponential back-off spreads the re-tries of writers that collided.
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))  # noqa: S311  # nosec B311  # jitter
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _outcome_counted(command: c.Command) -> Iterator[list[str]]:
    """Count the command by its final outcome: what the block appends ("ok", "replayed"), the
    ApplicationError's code, or "error"."""
    outcome: list[str] = []
    try:
        yield outcome
    except ApplicationError as exc:
        outcome.append(exc.code)
        raise
    finally:
        COMMANDS.labels(command=command.name, outcome=outcome[-1] if outcome else "error").inc()


def _dispatch_once(
    command: c.Command,
    handler: Handler,
    *,
    actor: Actor,
    metadata: dict[str, str],
    command_id: UUID,
    expected_version: int | None,
) -> DispatchResult:
    history = store.load(command.stream_id)
    order = handler.replay(command.stream_id, [(r.event, r.version, r.recorded_at) for r in history])
    _authorize(command, handler, actor=actor, order=order)
    if expected_version is not None and order.version != expected_version:  # after _authorize: no leak
        raise StaleVersion(
            "the order changed since it was shown",
            details={"expected_version": expected_version, "version": order.version},
        )
    sites.require_local_home(_customer_of(command, order))
    context = handler.prepare(command, order, actor)
    new_events = order.decide(command, context)
    inventory.apply_stock_effects(new_events)
    _run_effects(new_events)
    recorded = store.append(command.stream_id, order.version, new_events, metadata=metadata)
    for r in recorded:
        order.apply(r.event, version=r.version, at=r.recorded_at)
    return DispatchResult(order=order, events=recorded, history=history + recorded, command_id=command_id)


def _customer_of(command: c.Command, aggregate: Aggregate) -> int | None:
    """Whose stream this is, for its home site: the order's customer, or the command's."""
    if isinstance(aggregate, Order) and aggregate.customer_id is not None:
        return aggregate.customer_id
    customer_id = getattr(command, "customer_id", None)
    return customer_id if isinstance(customer_id, int) else None


def _run_effects(new_events: list[Event]) -> None:
    for event in new_events:
        for effect in EFFECTS.get(type(event), ()):
            effect(event)


def _authorize(command: c.Command, handler: Handler, *, actor: Actor, order: Aggregate) -> None:
    if isinstance(command, c.CreateOrder):
        if not rules.has_perm(handler.permission, actor):
            raise PermissionDenied(gettext("you may not create orders"))
        if command.customer_id != actor.pk and not rules.has_perm("orders.create_order_for_customer", actor):
            raise PermissionDenied(gettext("you may only create orders for yourself"))
        return
    if not isinstance(order, Order):  # a customer's own stream: the permission alone decides
        if not rules.has_perm(handler.permission, actor, order):
            raise PermissionDenied(gettext("you may not %(action)s") % {"action": command.action})
        return
    # An order the actor may not see does not exist for them: 404, never 403.
    if not order.exists or not rules.has_perm("orders.view_order", actor, order):
        raise NotFound(gettext("order not found"))
    if not rules.has_perm(handler.permission, actor, order):
        raise PermissionDenied(gettext("you may not %(action)s") % {"action": command.action})


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(getattr(exc.__cause__, "diag", None), "sqlstate", None) == "40P01"


# The bus's clock: every decision's ``now`` is read from it, as DRF's throttles read their ``timer``, so
# tests move time (an order left unpaid past ORDER_PAYMENT_TIMEOUT) instead of waiting for it.
clock: Callable[[], datetime] = timezone.now


def _context(**kwargs: Any) -> DecisionContext:
    return DecisionContext(
        now=clock(),
        currency=settings.SHOP_CURRENCY,
        payment_timeout=settings.ORDER_PAYMENT_TIMEOUT,
        **kwargs,
    )


def _no_lookups(command: c.Command, order: Order, actor: Actor) -> DecisionContext:
    return _context()


def _customer(customer_id: int) -> CustomerInfo | None:
    row = store.active_customer(customer_id, role=Role.CUSTOMER.value)
    if row is None:
        return None
    user = get_user_model()(first_name=row.first_name, last_name=row.last_name, username=row.username)
    return CustomerInfo(id=customer_id, name=user.get_full_name() or user.get_username(), email=row.email)


# --- one handler per command: fetch what the decision needs ------------------------------------


@handles(c.CreateOrder, permission="orders.create_order")
def create_order_context(command: c.CreateOrder, order: Order, actor: Actor) -> DecisionContext:
    customer = _customer(command.customer_id)
    if customer is None:
        raise ValidationError(
            gettext("unknown customer"), details={"customer": [gettext("no active customer with this id")]}
        )
    return _context(
        customer=customer,
        products=store.product_info(command.lines),
        order_number=f"ORD-{store.next_order_number():06d}",
    )


@handles(c.AddLine, permission="orders.edit_order")
def add_line_context(command: c.AddLine, order: Order, actor: Actor) -> DecisionContext:
    return _context(products=store.product_info([command.sku]))


handles(c.ChangeLineQuantity, permission="orders.edit_order")(_no_lookups)
handles(c.RemoveLine, permission="orders.edit_order")(_no_lookups)
handles(c.SetShippingAddress, permission="orders.edit_order")(_no_lookups)
handles(c.PlaceOrder, permission="orders.edit_order")(_no_lookups)
handles(c.RecordPayment, permission="orders.record_payment")(_no_lookups)
handles(c.IssueRefund, permission="orders.refund_order")(_no_lookups)
handles(c.ShipItems, permission="orders.ship_order")(_no_lookups)
handles(c.MarkDelivered, permission="orders.ship_order")(_no_lookups)
handles(c.CancelOrder, permission="orders.cancel_order")(_no_lookups)
handles(c.AddNote, permission="orders.add_note")(_no_lookups)
handles(c.ExpireOrder, permission="orders.expire_order")(_no_lookups)
