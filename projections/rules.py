"""Admin permissions on the read side (SPEC §5, §7), built from the predicates of ``orders.rules``."""

from __future__ import annotations

import rules

from accounts.predicates import is_finance, is_manager, is_staff_member

rules.add_perm("projections", is_staff_member)
# Every staff role sees every order; the admin's lists are filtered with projections.queries as well.
rules.add_perm("projections.view_ordersummary", is_staff_member)
rules.add_perm("projections.view_dailysales", is_finance | is_manager)
rules.add_perm("projections.view_customerstats", is_finance | is_manager)
rules.add_perm("projections.view_projectioncheckpoint", is_manager)
