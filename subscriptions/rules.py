"""Who may manage subscriptions and read the whole event log (SPEC §5 roles)."""

from __future__ import annotations

import rules

from accounts.predicates import is_manager, is_staff_member, is_system

rules.add_perm("subscriptions.manage_endpoints", is_manager)
rules.add_perm("subscriptions.redeliver", is_manager | is_system)
# Every staff role sees every order and its events; the feed is that, for the whole log.
rules.add_perm("subscriptions.read_event_feed", is_staff_member | is_system)
# The admin: managers only (the module and each model).
rules.add_perm("subscriptions", is_manager)
for _model in ("endpoint", "delivery", "deliveryattempt", "redeliveryrequest"):
    rules.add_perm(f"subscriptions.view_{_model}", is_manager)
rules.add_perm("subscriptions.add_endpoint", is_manager)
rules.add_perm("subscriptions.change_endpoint", is_manager)
