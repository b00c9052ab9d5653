"""The customer's own stream: what happened to the customer rather than to one order.

Its one event is ``CustomerDataErased``; deciding an erasure twice gives no event the second time.
Plain Python like the order aggregate: ``replay`` folds the stream, ``decide`` answers a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from orders import commands as c
from orders import events as e


@dataclass
class Customer:
    id: UUID  # the customer's stream
    version: int = 0
    data_erased: bool = False

    def decide(self, command: c.Command, context: Any) -> list[e.Event]:
        if isinstance(command, c.EraseCustomerData):
            return [] if self.data_erased else [e.CustomerDataErased(customer_id=command.customer_id)]
        raise TypeError(f"a customer's stream does not take {command.name}")

    def apply(self, event: e.Event, *, version: int, at: datetime) -> None:
        self.version = version
        if isinstance(event, e.CustomerDataErased):
            self.data_erased = True


def replay(stream_id: UUID, history: list[tuple[e.Event, int, datetime]]) -> Customer:
    customer = Customer(id=stream_id)
    for event, version, at in history:
        customer.apply(event, version=version, at=at)
    return customer
