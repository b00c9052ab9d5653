"""Who may do what (SPEC §5), as django-rules permissions checked per order.

The object is anything with ``customer_id`` and ``amount_paid``: the write-side aggregate or a
read-model row. The same permissions serve the command bus, the API and the admin.
"""

from __future__ import annotations

from typing import Any

import rules

from accounts.predicates import (
    is_customer,
    is_finance,
    is_fulfillment,
    is_manager,
    is_staff_member,
    is_support,
    is_system,
)


@rules.predicate
def owns_order(user: Any, order: Any) -> bool:
    return order is not None and user.pk is not None and order.customer_id == user.pk


@rules.predicate
def nothing_paid(user: Any, order: Any) -> bool:
    return order is not None and order.amount_paid == 0


own_order = is_customer & owns_order

# Seeing an order and its events.
rules.add_perm("orders.view_order", own_order | is_staff_member | is_system)
rules.add_perm("orders.view_notes", is_staff_member)
# Commands.
rules.add_perm("orders.create_order", is_customer | is_support | is_manager)
rules.add_perm("orders.create_order_for_customer", is_support | is_manager)
rules.add_perm("orders.edit_order", own_order | is_support | is_manager)
rules.add_perm("orders.cancel_order", (own_order & nothing_paid) | is_support | is_manager)
rules.add_perm("orders.record_payment", is_finance | is_manager)
rules.add_perm("orders.refund_order", is_finance | is_manager)
rules.add_perm("orders.ship_order", is_fulfillment | is_manager)
rules.add_perm("orders.add_note", is_staff_member)
rules.add_perm("orders.expire_order", is_system)
# Operations.
rules.add_perm("orders.view_sales_reports", is_finance | is_manager)
rules.add_perm("orders.manage_projections", is_manager)
rules.add_perm("orders.manage_backups", is_manager)
rules.add_perm("orders.erase_customer_data", is_manager | is_system)  # system: the erase_customer command
rules.add_perm("orders.manage_users", is_manager)

# --- The admin (SPEC §7): the same roles per model. A bare app label is the app's module permission
# (rules' backend answers has_module_perms with it). Only staff roles use the admin at all, so a
# customer whose is_staff flag was switched on by mistake still sees nothing.
rules.add_perm("orders", is_staff_member)
rules.add_perm("orders.view_storedevent", is_staff_member)
rules.add_perm("orders.view_product", is_staff_member)
rules.add_perm("orders.add_product", is_manager)
# Fulfillment counts stock; only managers change what a product is and costs (see orders.admin).
rules.add_perm("orders.change_product", is_manager | is_fulfillment)
rules.add_perm("orders.change_product_details", is_manager)
rules.add_perm("orders.view_idempotencyrecord", is_manager)
