"""The OpenAPI schema's top-level description: a short guide to getting started with the API."""

from __future__ import annotations

GUIDE = """\
Commands and read models of the event-sourced order platform.

## Getting started

1. Get a token: `POST /api/auth/token/` with `{"username": "…", "password": "…"}` answers `{"token": "…"}`.
2. Send it on every request: `Authorization: Token <token>`.
3. Create an order (`POST /api/orders/`), add lines, set the shipping address, place it.

## The order lifecycle

An order has three independent states:

* `status`: `draft` → `placed` → `completed`; a `draft` or `placed` order can be `cancelled`; a `placed`
  order left unpaid past the payment timeout becomes `expired` (its stock is released).
* `payment_status`: `unpaid` → `partially_paid` → `paid`; refunds make it `partially_refunded` or
  `refunded`.
* `fulfillment_status`: `unfulfilled` → `partially_shipped` → `shipped` → `delivered`.

Lines and the address change only while the order is a `draft`. Placing reserves the stock (409
`insufficient_stock` if there is not enough; 422 `order_incomplete` without a line or an address). A
placed order is paid (`/payments/`, one or more), then shipped (`/shipments/`, only once paid) and each
shipment delivered (`/shipments/{id}/deliver/`); the order is `completed` when everything is paid and
delivered. Cancelling (before anything ships) releases the stock and refunds what was paid; a refund
(`/refunds/`) returns at most what was paid and not yet refunded. A command the order's state does not
allow answers 409 `invalid_transition` and changes nothing.

## Roles

| role | may |
|---|---|
| customer | create, edit, place and (before payment) cancel their own orders; see only their own orders |
| support | create, edit, place and cancel any order; notes |
| fulfillment | ship and mark delivered; notes |
| finance | record payments and refunds; notes; sales reports |
| manager | everything, also projections and customer data erasure |

Staff see every order. An order you may not see answers 404, never 403, and never appears in a list.

## Writes: Idempotency-Key

Send `Idempotency-Key: <up to 255 characters>` with every write. Repeating the same request with the same
key replays the stored response (header `Idempotent-Replayed: true`) and writes nothing; the same key with
another request answers 422 `idempotency_key_reused`; while the first is still running, 409
`idempotency_key_in_use`. Keys are per user and kept 24 hours.

A command answers the order as the write side sees it, with header `X-Consistency-Token`; send that header
back on a read to wait (up to 2 s) until the read model has caught up (else 503 `projection_lagging`).

## Lists

Every list is `{"next", "previous", "results"}`: follow `next` (an opaque `cursor`) for the next page;
`limit` is 1 to 200 (default 50).

## Money

Amounts are strings with two decimals (`"19.99"`) in the shop's one currency, never floats.

## Errors

Every error is `{"error": {"code", "message", "details"}}`; act on `code`. `details` names each bad field
of a 400 `validation_error`. Each operation lists the errors it can answer. A 429 `rate_limited` and a
503 carry `Retry-After`.
"""
