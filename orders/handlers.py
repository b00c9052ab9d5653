"""The command bus: ``dispatch(command, actor=...)`` and one ``handle_<command>`` per command type.

``dispatch`` owns the transaction. In it: load the command's stream (an order's, or a customer's own),
check the actor's permission on it, let the handler fetch what the decision needs, decide, reserve or
release stock, run the effects other apps registered for the new events, append, and run the caller's
``on_success`` hook (the API stores its idempotency record there). If another writer took the stream's
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
from typing import Any, TypeVar
from uuid import UUID, uuid4

import rules
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, transaction
from django.utils import timezone

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
from config.prepared import prepared_cursor
from orders import commands as c
from orders import inventory, store
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


class AlreadyHandled(Exception):  # a signal to the caller, not an error
    """Raised by a dispatch ``guard``: this request already took effect (an idempotent replay), so the
    command does not run again. ``answer`` is what the guard hands back to its caller."""

    def __init__(self, answer: Any) -> None:
        super().__init__("already handled")
        self.answer = answer


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


def dispatch(
    command: c.Command,
    *,
    actor: Actor,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    expected_version: int | None = None,
    guard: Callable[[], None] | None = None,
    on_success: Callable[[DispatchResult], None] | None = None,
) -> DispatchResult:
    """Run ``command`` as ``actor`` in one transaction, retried after a lost race.

    With ``expected_version`` the command applies only to that version of the order; a lost race then
    ends in ``StaleVersion`` on the retry's fresh load, so a form sent twice acts once.

    ``guard`` runs first in each attempt's transaction (the API takes its Idempotency-Key there and may
    raise ``AlreadyHandled``); ``on_success`` runs last in it, after the events are appended.
    """
    with _outcome_counted(command):
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise UnknownCommand(f"no handler is registered for {type(command).__name__}")
        command_id = uuid4()
        metadata = {
            "actor": actor_id(actor),
            "command": command.name,
            "command_id": str(command_id),
            "correlation_id": str(correlation_id or command_id),
            "causation_id": str(causation_id or command_id),
        }

        def commit_once() -> DispatchResult:
            with transaction.atomic():
                if guard is not None:
                    guard()
                result = _dispatch_once(
                    command,
                    handler,
                    actor=actor,
                    metadata=metadata,
                    command_id=command_id,
                    expected_version=expected_version,
                )
                if on_success is not None:
                    on_success(result)
                if result.events:
                    transaction.on_commit(partial(events_committed.send, sender=Order, events=result.events))
            return result

        return _retrying(commit_once, attempts=settings.COMMAND_MAX_ATTEMPTS)


def _retrying(commit_once: Callable[[], DispatchResult], *, attempts: int) -> DispatchResult:
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
def _outcome_counted(command: c.Command) -> Iterator[None]:
    """Count the command by its final outcome: "ok", "replayed", the ApplicationError's code, or "error"."""
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except ApplicationError as exc:
        outcome = exc.code
        raise
    except AlreadyHandled:
        outcome = "replayed"
        raise
    finally:
        COMMANDS.labels(command=command.name, outcome=outcome).inc()


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
    context = handler.prepare(command, order, actor)
    new_events = order.decide(command, context)
    inventory.apply_stock_effects(new_events)
    _run_effects(new_events)
    recorded = store.append(command.stream_id, order.version, new_events, metadata=metadata)
    for r in recorded:
        order.apply(r.event, version=r.version, at=r.recorded_at)
    return DispatchResult(order=order, events=recorded, history=history + recorded, command_id=command_id)


def _run_effects(new_events: list[Event]) -> None:
    for event in new_events:
        for effect in EFFECTS.get(type(event), ()):
            effect(event)


def _authorize(command: c.Command, handler: Handler, *, actor: Actor, order: Aggregate) -> None:
    if isinstance(command, c.CreateOrder):
        if not rules.has_perm(handler.permission, actor):
            raise PermissionDenied("you may not create orders")
        if command.customer_id != actor.pk and not rules.has_perm("orders.create_order_for_customer", actor):
            raise PermissionDenied("you may only create orders for yourself")
        return
    if not isinstance(order, Order):  # a customer's own stream: the permission alone decides
        if not rules.has_perm(handler.permission, actor, order):
            raise PermissionDenied(f"you may not {command.name}")
        return
    # An order the actor may not see does not exist for them: 404, never 403.
    if not order.exists or not rules.has_perm("orders.view_order", actor, order):
        raise NotFound("order not found")
    if not rules.has_perm(handler.permission, actor, order):
        raise PermissionDenied(f"you may not {command.name} on this order")


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(getattr(exc.__cause__, "diag", None), "sqlstate", None) == "40P01"


def _context(**kwargs: Any) -> DecisionContext:
    return DecisionContext(
        now=timezone.now(),
        currency=settings.SHOP_CURRENCY,
        payment_timeout=settings.ORDER_PAYMENT_TIMEOUT,
        **kwargs,
    )


def _no_lookups(command: c.Command, order: Order, actor: Actor) -> DecisionContext:
    return _context()


# Plain SQL, prepared (config.prepared), as every order's creation runs both (profile of the bus, bench/).
_CUSTOMER_SQL = """
SELECT u.first_name, u.last_name, u.username, u.email FROM accounts_user u
WHERE u.id = %(id)s::bigint AND u.is_active
  AND EXISTS (SELECT 1 FROM accounts_user_groups m JOIN auth_group g ON g.id = m.group_id
              WHERE m.user_id = u.id AND g.name = %(role)s::text)
"""
_ORDER_NUMBER_SQL = "SELECT nextval('order_number_seq')"


def _customer(customer_id: int) -> CustomerInfo | None:
    if not 0 < customer_id < 2**63:
        return None  # beyond a bigint key: nobody (and PostgreSQL would refuse the parameter)
    with prepared_cursor() as cursor:
        cursor.execute(_CUSTOMER_SQL, {"id": customer_id, "role": Role.CUSTOMER.value}, prepare=True)
        row = cursor.fetchone()
    if row is None:
        return None
    first_name, last_name, username, email = row
    user = get_user_model()(first_name=first_name, last_name=last_name, username=username)
    return CustomerInfo(id=customer_id, name=user.get_full_name() or user.get_username(), email=email)


def _next_order_number() -> str:
    with prepared_cursor() as cursor:
        cursor.execute(_ORDER_NUMBER_SQL, prepare=True)
        (number,) = cursor.fetchone()
    return f"ORD-{number:06d}"


# --- one handler per command: fetch what the decision needs ------------------------------------


@handles(c.CreateOrder, permission="orders.create_order")
def handle_create_order(command: c.CreateOrder, order: Order, actor: Actor) -> DecisionContext:
    customer = _customer(command.customer_id)
    if customer is None:
        raise ValidationError("unknown customer", details={"customer": ["no active customer with this id"]})
    return _context(
        customer=customer,
        products=inventory.product_info(command.lines),
        order_number=_next_order_number(),
    )


@handles(c.AddLine, permission="orders.edit_order")
def handle_add_line(command: c.AddLine, order: Order, actor: Actor) -> DecisionContext:
    return _context(products=inventory.product_info([command.sku]))


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
